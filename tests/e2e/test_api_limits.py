"""Limits attacked through the HTTP API: challenges drawn until one suits a pre-recorded clip."""

from __future__ import annotations

import numpy as np

from realname.domain.organisation import Role
from tests.e2e import flows
from tests.e2e.conftest import Service
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
