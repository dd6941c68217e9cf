"""The review loop over HTTP: a clerk asks for a review of a rejection with a reason, reviewers see what they need
(never the clerk), only the decisions the case's kind allows, two reviewers approve, and the visit resumes."""

from __future__ import annotations

import numpy as np

from realname.app.actors import OPERATOR_CLI
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.e2e import flows
from tests.e2e.conftest import Service
from tests.e2e.media import blank_clip, jpeg_bytes

CUSTOMER_ID = flows.resident_id(7)
MSISDN = "13800130007"


def rejected_attempt(service: Service, clerk: flows.Headers) -> str:
    """A visit whose face check was rejected (a blank clip: no face)."""
    attempt = flows.start_attempt(service.client, clerk)
    flows.prepare_attempt(service.client, clerk, attempt, CUSTOMER_ID)
    nonce = flows.issue_challenge(service.client, clerk, attempt)
    photo = jpeg_bytes(np.full((126, 102, 3), 128, np.uint8))
    answered = flows.answer_liveness(service.client, clerk, attempt, nonce, blank_clip(), photo)
    assert answered.status_code == 200 and answered.json()["passed"] is False, answered.text
    return attempt


def test_a_requested_review_approved_by_two_reviewers_resumes_the_visit(service: Service) -> None:
    client = service.client
    service.container.registry().import_numbers(OPERATOR_CLI, [Msisdn.parse(MSISDN)], source="test")
    clerk = service.staff(Role.CLERK, name="Li Lei")
    attempt = rejected_attempt(service, clerk)
    base = f"/v1/attempts/{attempt}"
    assert client.get(f"{base}/review", headers=clerk).json()["case_id"] is None
    assert client.post(f"{base}/review-request", json={"reason": ""}, headers=clerk).status_code == 422

    requested = client.post(f"{base}/review-request", json={"reason": "ID photo is 15 years old"}, headers=clerk)
    assert requested.status_code == 200, requested.text
    status = requested.json()
    assert (status["kind"], status["state"], status["next_step"]) == ("requested", "open", None)
    again = client.post(f"{base}/review-request", json={"reason": "asking twice"}, headers=clerk).json()
    assert again["case_id"] == status["case_id"]  # one case per rejection
    assert client.get("/v1/review/cases", headers=clerk).status_code == 403

    first, second = service.staff(Role.REVIEWER, name="R1"), service.staff(Role.REVIEWER, name="R2")
    (case,) = [c for c in client.get("/v1/review/cases", headers=first).json() if c["id"] == status["case_id"]]
    assert case["allowed_decisions"] == ["approve", "reject"]
    assert case["outlet"] == "BJ-001" and case["clerk"].startswith("staff:")
    assert case["request_reason"] == "ID photo is 15 years old" and case["requested_by"] == case["clerk"]
    assert case["document"] != CUSTOMER_ID and case["document"].endswith(CUSTOMER_ID[-4:]) and "*" in case["document"]
    assert case["reasons"] and case["reason_category"] and case["decided_at"]
    assert "similarity" in case  # a key for reviewers (None here: no face was found to compare)

    path = f"/v1/review/cases/{case['id']}/decision"
    wrong = client.post(path, json={"decision": "suspend_confirmed", "reason": "x"}, headers=first)
    assert (wrong.status_code, wrong.json()["code"]) == (400, "review.decision_invalid")
    proposed = client.post(path, json={"decision": "approve", "reason": "same person, older photo"}, headers=first)
    assert proposed.json()["state"] == "awaiting_second"
    waiting = client.get(f"{base}/review", headers=clerk).json()
    assert (waiting["state"], waiting["next_step"]) == ("awaiting_second", None)
    own = client.post(path, json={"decision": "approve", "reason": "me again"}, headers=first)
    assert own.json()["code"] == "review.four_eyes"
    confirmed = client.post(path, json={"decision": "approve", "reason": "agreed"}, headers=second)
    assert confirmed.json()["state"] == "closed"

    resumed = client.get(f"{base}/review", headers=clerk).json()
    assert resumed["decision"] == "approve" and resumed["next_step"] == "choose_number"
    assert resumed["attempt"]["state"] == "verified" and resumed["attempt"]["outcome"] == "approved"
    assert "similarity" not in str(resumed)
    held = client.post(f"{base}/reservation", json={"msisdn": MSISDN}, headers=clerk)
    assert held.status_code == 200, held.text  # the visit goes on from where an approval takes it

    with service.container.unit_of_work() as uow:
        actions = [e.action for e in uow.audit.events()]
    assert "review.requested" in actions and "review.case_viewed" in actions


def test_only_a_rejected_face_check_can_be_sent_for_review(service: Service) -> None:
    clerk = service.staff(Role.CLERK, name="Li Lei")
    attempt = flows.start_attempt(service.client, clerk)
    flows.prepare_attempt(service.client, clerk, attempt, CUSTOMER_ID)
    refused = service.client.post(f"/v1/attempts/{attempt}/review-request", json={"reason": "why not"}, headers=clerk)
    assert (refused.status_code, refused.json()["code"]) == (409, "attempt.invalid_state")


def test_a_second_reviewer_who_refuses_ends_the_case_and_the_visit_stays_rejected(service: Service) -> None:
    client = service.client
    clerk = service.staff(Role.CLERK, name="Li Lei")
    attempt = rejected_attempt(service, clerk)
    case_id = client.post(
        f"/v1/attempts/{attempt}/review-request", json={"reason": "customer insists"}, headers=clerk
    ).json()["case_id"]
    first, second = service.staff(Role.REVIEWER, name="R1"), service.staff(Role.REVIEWER, name="R2")
    path = f"/v1/review/cases/{case_id}/decision"
    client.post(path, json={"decision": "approve", "reason": "looks fine"}, headers=first)
    assert client.post(path, json={"decision": "reject", "reason": "not the same"}, headers=second).json()["state"] == (
        "overruled"
    )
    status = client.get(f"/v1/attempts/{attempt}/review", headers=clerk).json()
    assert (status["state"], status["decision"], status["next_step"]) == ("overruled", "reject", None)
    assert status["attempt"]["outcome"] == "rejected"
