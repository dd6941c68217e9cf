"""Attacks on self-service (一证通查) through the API, on SQLite and PostgreSQL.

At home nobody can present a trusted portrait, so identity is proved by the ID number, the name and a
one-time code sent to a number already registered under that ID. The subscriber here registered at a
store through the attended manual path (two reviewers), so no face model is needed.
"""

from __future__ import annotations

import httpx
import numpy as np
import sqlalchemy as sa

from realname.app.actors import OPERATOR_CLI
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.e2e import flows
from tests.e2e.conftest import Service
from tests.e2e.media import blank_clip, jpeg_bytes
from tests.fakes import FixedClock

VICTIM = flows.resident_id(401)
VICTIM_NAME = "Wang Xiaoming"
VICTIM_NUMBER = "13800134001"


def register_by_review(service: Service, id_number: str, name: str, msisdn: str, iccid: str) -> None:
    """A customer registers at BJ-001 by the attended manual path: the reader read card and name, two
    reviewers approved, the clerk bound the number."""
    client = service.client
    service.container.registry().import_numbers(OPERATOR_CLI, [Msisdn(msisdn)], source="test")
    clerk = service.staff()
    attempt = flows.start_attempt(client, clerk)
    assert flows.submit_document(client, clerk, attempt, id_number, name=name).status_code == 200
    assert flows.record_consent(client, clerk, attempt, accepted=False).json()["state"] == "manual_review"
    first, second = service.staff(Role.REVIEWER, name="R One"), service.staff(Role.REVIEWER, name="R Two")
    case = next(c for c in client.get("/v1/review/cases", headers=first).json() if c["attempt_id"] == attempt)
    for reviewer in (first, second):
        decided = client.post(
            f"/v1/review/cases/{case['id']}/decision",
            json={"decision": "approve", "reason": "documents checked in person"},
            headers=reviewer,
        )
        assert decided.status_code == 200, decided.text
    assert client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": msisdn}, headers=clerk).status_code == 200
    done = client.post(
        f"/v1/attempts/{attempt}/registration",
        json={"msisdn": msisdn, "iccid": iccid},
        headers={**clerk, "Idempotency-Key": f"reg-{attempt}"},
    )
    assert done.status_code == 200, done.text


def victim(service: Service) -> None:
    register_by_review(service, VICTIM, VICTIM_NAME, VICTIM_NUMBER, "89860012345678904018")


def number_state(service: Service, msisdn: str) -> str:
    with service.container.unit_of_work() as uow:
        number = uow.numbers.get(Msisdn(msisdn))
        assert number is not None
        return number.state.value


def audited(service: Service, action: str) -> list[str]:
    with service.container.engine.connect() as c:
        rows = c.execute(sa.text("SELECT details FROM audit_event WHERE action = :a ORDER BY seq"), {"a": action})
        return [str(r[0]) for r in rows]


def code_for(service: Service, me: flows.Headers, name: str) -> httpx.Response:
    response: httpx.Response = service.client.post("/v1/self/code", json={"name": name}, headers=me)
    return response


def enter(service: Service, me: flows.Headers, code: str) -> httpx.Response:
    response: httpx.Response = service.client.post("/v1/self/code/verify", json={"code": code}, headers=me)
    return response


def test_a_caller_uploaded_portrait_never_verifies_a_self_service_session(service_on: Service) -> None:
    """The impersonation of issue 14: the victim's ID number, the attacker's own face as the "chip photo"."""
    victim(service_on)
    client = service_on.client
    attempt, me = flows.self_session(client, "phone-attacker")
    assert flows.submit_document(client, me, attempt, VICTIM).status_code == 200
    assert flows.record_consent(client, me, attempt).status_code == 200
    nonce = flows.issue_challenge(client, me, attempt)
    own_face = jpeg_bytes(np.full((126, 102, 3), 90, np.uint8))
    answer = client.post(
        f"/v1/attempts/{attempt}/liveness",
        data={"nonce": nonce},
        files={"clip": ("c.mp4", blank_clip(), "video/mp4"), "id_photo": ("me.jpg", own_face, "image/jpeg")},
        headers=me,
    )
    assert answer.status_code == 403 and answer.json()["code"] == "self.portrait_refused"
    # Nothing of the victim is readable, and the victim's number cannot be touched.
    records = client.get("/v1/self/records", headers=me)
    assert records.status_code == 409 and VICTIM_NUMBER[-4:] not in records.text
    report = client.post("/v1/self/reports", json={"number_ref": "x"}, headers=me)
    assert report.status_code == 409
    assert number_state(service_on, VICTIM_NUMBER) == "active"
    assert any("self.portrait_refused" in d for d in audited(service_on, "reader.refused"))


def test_identity_at_home_is_proved_by_a_code_sent_to_a_registered_number(service_on: Service) -> None:
    victim(service_on)
    client = service_on.client
    attempt, me = flows.self_session(client)
    assert flows.submit_document(client, me, attempt, VICTIM).status_code == 200
    asked = code_for(service_on, me, "WANG  xiaoming")
    assert asked.status_code == 202 and asked.json()["status"] == "sent_if_registered"
    ((to, code),) = service_on.codes.sent
    assert to == VICTIM_NUMBER
    with service_on.container.engine.connect() as c:  # at rest: a keyed hash, never the code
        (stored,) = c.execute(sa.text("SELECT code_hash, tries_left FROM self_code")).all()
    assert code not in str(stored) and len(stored[0]) == 64 and stored[1] == 5
    assert client.get("/v1/self/records", headers=me).status_code == 409  # not before the code
    verified = enter(service_on, me, code)
    assert verified.status_code == 200 and verified.json()["passed"] is True
    records = client.get("/v1/self/records", headers=me).json()
    assert [n["number"] for n in records["numbers"]] == ["138****4001"]
    assert enter(service_on, me, code).status_code == 409  # a code works once
    assert audited(service_on, "self.code_sent") and audited(service_on, "self.code_verified")
    assert all(code not in d for d in audited(service_on, "self.code_sent"))


def test_without_the_right_name_or_a_registered_number_no_code_is_sent_and_the_answer_is_the_same(
    service_on: Service,
) -> None:
    victim(service_on)
    client = service_on.client
    answers = []
    for device, id_number, name in (
        ("phone-a", VICTIM, "Li Si"),  # the victim's number, someone else's name
        ("phone-b", flows.resident_id(499), VICTIM_NAME),  # an ID with no number
    ):
        attempt, me = flows.self_session(client, device)
        assert flows.submit_document(client, me, attempt, id_number).status_code == 200
        asked = code_for(service_on, me, name)
        assert asked.status_code == 202
        answers.append(set(asked.json()))
        wrong = enter(service_on, me, "000000")
        assert wrong.status_code == 200 and wrong.json()["passed"] is False
    assert answers[0] == answers[1] == {"status", "expires_at"}
    assert service_on.codes.sent == []
    reasons = " ".join(audited(service_on, "self.code_withheld"))
    assert "name_mismatch" in reasons and "no_subscriber" in reasons


def test_wrong_codes_burn_the_session_and_lock_the_device_never_the_id(service_on: Service) -> None:
    victim(service_on)
    client = service_on.client
    policy = service_on.container.policy()
    attempt, me = flows.self_session(client, "phone-guesser")
    assert flows.submit_document(client, me, attempt, VICTIM).status_code == 200
    assert code_for(service_on, me, VICTIM_NAME).status_code == 202
    real = service_on.codes.last_to(VICTIM_NUMBER)
    guesses = [f"{(int(real) + i) % 10**6:06d}" for i in range(1, 6)]
    left = [enter(service_on, me, guess).json()["tries_left"] for guess in guesses]
    assert left == [4, 3, 2, 1, 0]
    after = enter(service_on, me, real)  # even the right code is too late now
    assert after.status_code == 409
    # The guessing device is locked ...
    attempt_2, me_2 = flows.self_session(client, "phone-guesser")
    locked = flows.submit_document(client, me_2, attempt_2, VICTIM)
    assert locked.status_code == 409 and locked.json()["code"] == "lockout.active"
    assert policy.max_failed_attempts == 5
    # ... the ID is not: the owner proves it at home, and is served at a store.
    flows.prove_at_home(client, service_on.codes, VICTIM, VICTIM_NAME, VICTIM_NUMBER, device_id="phone-owner")
    clerk = service_on.staff()
    at_store = flows.submit_document(client, clerk, flows.start_attempt(client, clerk), VICTIM)
    assert at_store.status_code == 200 and at_store.json()["check"]["valid"]


def test_a_code_expires_and_a_new_one_burns_the_old(service_on: Service) -> None:
    victim(service_on)
    clock = service_on.container.clock
    assert isinstance(clock, FixedClock)
    attempt, me = flows.self_session(service_on.client)
    assert flows.submit_document(service_on.client, me, attempt, VICTIM).status_code == 200
    code_for(service_on, me, VICTIM_NAME)
    first = service_on.codes.last_to(VICTIM_NUMBER)
    clock.advance(seconds=301)
    expired = enter(service_on, me, first)
    assert expired.status_code == 409 and expired.json()["code"] == "self.code_expired"
    code_for(service_on, me, VICTIM_NAME)
    second = service_on.codes.last_to(VICTIM_NUMBER)
    code_for(service_on, me, VICTIM_NAME)
    third = service_on.codes.last_to(VICTIM_NUMBER)
    if second != third:
        assert enter(service_on, me, second).json()["passed"] is False
    assert enter(service_on, me, third).json()["passed"] is True


def test_sessions_are_rate_limited_per_device(service_on: Service) -> None:
    clock = service_on.container.clock
    assert isinstance(clock, FixedClock)
    client = service_on.client
    for _ in range(5):
        flows.self_session(client, "phone-busy")
    sixth = client.post("/v1/self/sessions", json={"device_id": "phone-busy"})
    assert sixth.status_code == 429 and sixth.json()["code"] == "self.rate_limited"
    assert 0 < int(sixth.headers["Retry-After"]) <= 3600
    flows.self_session(client, "phone-other")  # other devices are served
    clock.advance(seconds=int(sixth.headers["Retry-After"]))
    flows.self_session(client, "phone-busy")
    assert audited(service_on, "self.session_refused")


def test_codes_are_rate_limited_per_id_across_devices(service_on: Service) -> None:
    victim(service_on)
    client = service_on.client
    for i in range(3):
        attempt, me = flows.self_session(client, f"phone-{i}")
        assert flows.submit_document(client, me, attempt, VICTIM).status_code == 200
        assert code_for(service_on, me, VICTIM_NAME).status_code == 202
    attempt, me = flows.self_session(client, "phone-9")
    assert flows.submit_document(client, me, attempt, VICTIM).status_code == 200
    fourth = code_for(service_on, me, VICTIM_NAME)
    assert fourth.status_code == 429 and fourth.json()["code"] == "self.rate_limited"
    assert int(fourth.headers["Retry-After"]) > 0
    assert len(service_on.codes.sent) == 3
