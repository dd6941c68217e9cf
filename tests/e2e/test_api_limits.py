"""Limits and disclosures attacked through the HTTP API: challenges drawn until one suits a pre-recorded clip,
numbers reserved by the wrong role or by the dozen, a review case two reviewers disagree on, a model failure
shown to a clerk."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from realname.app.actors import OPERATOR_CLI
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.e2e import flows
from tests.e2e.conftest import MODELS_DIR, Service, open_service
from tests.e2e.media import blank_clip, jpeg_bytes

VALID_ID = "11010519491231002X"


def test_challenges_cannot_be_drawn_until_one_suits_a_recorded_clip(service: Service) -> None:
    clerk = service.staff()
    client = service.client
    attempt = flows.start_attempt(client, clerk)
    flows.prepare_attempt(client, clerk, attempt, VALID_ID)
    limit = service.container.policy().max_challenges_per_attempt
    assert limit == 3

    nonces = [flows.issue_challenge(client, clerk, attempt) for _ in range(limit)]
    more = client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk)
    assert more.status_code == 409 and more.json()["code"] == "challenge.limit_reached", more.text

    # The attacker "liked" the first draw: its nonce was burnt by the next one, before any analysis.
    photo = jpeg_bytes(np.full((160, 128, 3), 128, np.uint8))
    earlier = flows.answer_liveness(client, clerk, attempt, nonces[0], blank_clip(), photo)
    assert earlier.status_code == 409 and earlier.json()["code"] == "challenge.superseded", earlier.text
    # The newest one is still answerable (this blank clip fails liveness: a decision, not an error).
    newest = flows.answer_liveness(client, clerk, attempt, nonces[-1], blank_clip(), photo)
    assert newest.status_code == 200 and newest.json()["passed"] is False, newest.text

    # Reviewers see the count on the attempt's case; clerks never see the review queue.
    with service.container.unit_of_work() as uow:
        uow.reviews.open("case-1", "borderline", attempt, None, None, service.container.clock.now())
        uow.commit()
    reviewer = service.staff(Role.REVIEWER, name="Wang Fang")
    cases = client.get("/v1/review/cases", headers=reviewer)
    assert cases.status_code == 200
    assert [(c["attempt_id"], c["challenges_issued"]) for c in cases.json()] == [(attempt, limit)]
    assert client.get("/v1/review/cases", headers=clerk).status_code == 403


def test_a_model_failure_tells_the_clerk_its_category_and_code_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A models folder whose detector file was altered: the engine refuses it (hash mismatch) on first use.
    models = tmp_path / "models"
    models.mkdir()
    for installed in MODELS_DIR.iterdir():
        (models / installed.name).symlink_to(installed)
    (models / "fr_detect.onnx").unlink()
    (models / "fr_detect.onnx").write_bytes(b"not the pinned detector")
    for service in open_service(tmp_path / "data", models_dir=models):
        clerk = service.staff()
        attempt = flows.start_attempt(service.client, clerk)
        flows.prepare_attempt(service.client, clerk, attempt, VALID_ID)
        nonce = flows.issue_challenge(service.client, clerk, attempt)
        photo = jpeg_bytes(np.full((160, 128, 3), 128, np.uint8))
        with caplog.at_level(logging.WARNING, logger="realname.http"):
            response = flows.answer_liveness(service.client, clerk, attempt, nonce, blank_clip(), photo)

        assert response.status_code == 503, response.text
        body = response.json()
        assert body["code"] == "models.invalid"
        assert body["message"].startswith("the face models are unavailable; nothing was approved")
        assert str(tmp_path) not in response.text and "/" not in body["message"]
        assert not re.search(r"[0-9a-f]{16,}", body["message"]), body["message"]
        # The operator's log has what the clerk does not: which file, and its hash.
        details = [str(getattr(r, "detail", "")) for r in caplog.records if r.getMessage() == "dependency unavailable"]
        assert any("fr_detect.onnx" in d and re.search(r"[0-9a-f]{64}", d) for d in details), details


def manually_approved(service: Service, clerk: flows.Headers, reviewers: list[flows.Headers], serial: int) -> str:
    """An attempt approved on the attended manual path (consent declined, two reviewers agree): no models."""
    client = service.client
    attempt = flows.start_attempt(client, clerk)
    checked = flows.submit_document(client, clerk, attempt, flows.resident_id(serial))
    assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
    assert flows.record_consent(client, clerk, attempt, accepted=False).json()["state"] == "manual_review"
    (case,) = [c for c in client.get("/v1/review/cases", headers=reviewers[0]).json() if c["attempt_id"] == attempt]
    for reviewer in reviewers:
        decided = client.post(
            f"/v1/review/cases/{case['id']}/decision",
            json={"decision": "approve", "reason": "documents checked in person"},
            headers=reviewer,
        )
        assert decided.status_code == 200, decided.text
    assert client.get(f"/v1/attempts/{attempt}", headers=clerk).json()["outcome"] == "approved"
    return attempt


def test_reviewers_cannot_reserve_or_register_and_an_attempt_holds_at_most_three_numbers(service: Service) -> None:
    client = service.client
    service.container.registry().import_numbers(
        OPERATOR_CLI, [Msisdn(f"1380013{i:04d}") for i in range(10)], source="test"
    )
    clerk = service.staff()
    reviewers = [service.staff(Role.REVIEWER, name=name) for name in ("Wang Fang", "Zhao Min")]
    attempt = manually_approved(service, clerk, reviewers, 11)

    for reviewer in reviewers:
        reserved = client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130000"}, headers=reviewer)
        assert (reserved.status_code, reserved.json()["code"]) == (403, "auth.role_forbidden")
        registered = client.post(
            f"/v1/attempts/{attempt}/registration",
            json={"msisdn": "13800130000", "iccid": "89860012345678901238"},
            headers={**reviewer, "Idempotency-Key": "reviewer-key-1"},
        )
        assert (registered.status_code, registered.json()["code"]) == (403, "auth.role_forbidden")

    limit = service.container.policy().max_reservations_per_attempt
    assert limit == 3
    for i in range(limit):
        held = client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": f"1380013000{i}"}, headers=clerk)
        assert held.status_code == 200, held.text
    more = client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130009"}, headers=clerk)
    assert (more.status_code, more.json()["code"]) == (409, "reservation.limit_reached")
    renewed = client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130000"}, headers=clerk)
    assert renewed.status_code == 200, renewed.text
    free = client.get("/v1/numbers/available", params={"limit": 100}, headers=clerk).json()["numbers"]
    assert len(free) == 10 - limit


def test_a_second_reviewer_who_disagrees_ends_the_case(service: Service) -> None:
    client = service.client
    clerk = service.staff()
    first, second = (service.staff(Role.REVIEWER, name=name) for name in ("Wang Fang", "Zhao Min"))
    attempt = flows.start_attempt(client, clerk)
    flows.submit_document(client, clerk, attempt, flows.resident_id(12))
    flows.record_consent(client, clerk, attempt, accepted=False)
    (case,) = client.get("/v1/review/cases", headers=first).json()

    proposed = client.post(
        f"/v1/review/cases/{case['id']}/decision", json={"decision": "approve", "reason": "looks fine"}, headers=first
    )
    assert proposed.json()["state"] == "awaiting_second"
    refused = client.post(
        f"/v1/review/cases/{case['id']}/decision",
        json={"decision": "reject", "reason": "the photo is not this person"},
        headers=second,
    )
    assert refused.status_code == 200, refused.text
    ended = refused.json()
    assert (ended["state"], ended["decision"], ended["proposed_decision"]) == ("overruled", "reject", "approve")
    # Ended for good: off the queue, nobody can confirm the refused override, and the attempt was not approved.
    assert client.get("/v1/review/cases", headers=first).json() == []
    third = service.staff(Role.REVIEWER, name="Sun Li")
    late = client.post(
        f"/v1/review/cases/{case['id']}/decision", json={"decision": "approve", "reason": "I agree"}, headers=third
    )
    assert (late.status_code, late.json()["code"]) == (409, "review.closed")
    assert client.get(f"/v1/attempts/{attempt}", headers=clerk).json()["outcome"] is None
