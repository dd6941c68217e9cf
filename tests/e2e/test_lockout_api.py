"""Lock-outs through the HTTP API, on an injected clock: five failed checks on one terminal, or five face
mismatches against the chip portrait an enrolled terminal read for one ID, within the window refuse the
next attempt until ``lockout_minutes`` have passed. Liveness failures never count toward the ID's lock-out
(nobody can lock a stranger's ID by failing on purpose), and the owner sees a lock-out in ``/me``.

A failed liveness check is produced cheaply with real input: a tiny clip of flat grey frames (no face in
it), which the real liveness checker rejects in milliseconds. A face mismatch is a real person's clip
that passes liveness, matched against another person's chip portrait (real models).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest

from realname.app.actors import OPERATOR_CLI
from realname.config import PolicySettings
from realname.domain.numbers import Msisdn
from realname.domain.policy import Policy
from tests.conftest import REPO_ROOT, require_shared_data
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.e2e.media import blank_clip, chip_photo, jpeg_bytes
from tests.e2e.test_api_flows import REAL, ClipOrder
from tests.fakes import FixedClock


@dataclass
class Kiosk:
    service: Service
    clock: FixedClock
    clerk: flows.Headers
    clip: bytes
    id_photo: bytes

    @property
    def policy(self) -> Policy:
        return self.service.container.policy()

    def fail_check(self, id_number: str, device: str, category: str | None = None) -> datetime:
        """Run a whole attempt whose check fails (with ``category`` if given); return the time of the failure."""
        client = self.service.client
        attempt = flows.start_attempt(client, self.clerk, device_id=device)
        flows.prepare_attempt(client, self.clerk, attempt, id_number)
        nonce = flows.issue_challenge(client, self.clerk, attempt)
        decision = flows.answer_liveness(client, self.clerk, attempt, nonce, self.clip, self.id_photo)
        assert decision.status_code == 200, decision.text
        body = decision.json()
        assert body["passed"] is False and body["reason_category"] is not None
        assert category is None or body["reason_category"] == category, body
        assert body["similarity"] is None and body["threshold"] is None and body["reasons"] is None
        return self.clock.now()

    def next_document(self, id_number: str, device: str) -> httpx.Response:
        """Start the next attempt and present the ID: where a lock-out refuses the customer."""
        attempt = flows.start_attempt(self.service.client, self.clerk, device_id=device)
        return flows.submit_document(self.service.client, self.clerk, attempt, id_number)


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    clock = FixedClock()
    # Tokens and the idle lock outlive the clock jumps below, so the clerk stays signed in.
    for service in open_service(tmp_path / "data", clock=clock, token_ttl_minutes=24 * 60, idle_lock_minutes=24 * 60):
        policy = service.container.policy()
        assert (policy.max_failed_attempts, policy.lockout_window_minutes, policy.lockout_minutes) == (5, 30, 60)
        grey_photo = jpeg_bytes(np.full((126, 102, 3), 128, np.uint8))
        yield Kiosk(service, clock, service.staff(), blank_clip(), grey_photo)


def assert_locked(response: httpx.Response, what: str) -> None:
    assert response.status_code == 409, response.text
    body = response.json()
    assert set(body) == {"code", "message", "request_id"}
    assert body["code"] == "lockout.active"
    assert what in body["message"]
    # A category and when to come back, nothing about how close any face came.
    assert not re.search(r"similar|threshold|distance|score|\d\.\d", body["message"], re.IGNORECASE)


def assert_let_through(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json()["check"]["valid"] is True


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[Kiosk]:
    """A kiosk whose customer is a real person (a clip that passes liveness) presenting a stranger's card."""
    liveness_dir = require_shared_data() / "liveness"
    clock = FixedClock()
    for service in open_service(
        tmp_path / "data",
        clock=clock,
        random=ClipOrder(),
        token_ttl_minutes=24 * 60,
        idle_lock_minutes=24 * 60,
        policy=PolicySettings(challenge_actions=2),
    ):
        stranger = (REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg").read_bytes()
        yield Kiosk(service, clock, service.staff(), (liveness_dir / REAL).read_bytes(), stranger)


def register_owner(kiosk: Kiosk, id_number: str, name: str, msisdn: str) -> None:
    """The card's owner registers ``msisdn`` at the store (their own chip portrait, their own clip)."""
    client, clerk = kiosk.service.client, kiosk.clerk
    kiosk.service.container.registry().import_numbers(OPERATOR_CLI, [Msisdn(msisdn)], source="test")
    own_portrait = chip_photo(kiosk.service.container.onnx_models, require_shared_data() / "liveness" / REAL, 0.3)
    attempt = flows.start_attempt(client, clerk, device_id="kiosk-owner")
    flows.prepare_attempt(client, clerk, attempt, id_number, name=name)
    nonce = flows.issue_challenge(client, clerk, attempt)
    decision = flows.answer_liveness(client, clerk, attempt, nonce, kiosk.clip, own_portrait)
    assert decision.json()["passed"] is True, decision.text
    assert client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": msisdn}, headers=clerk).status_code == 200
    done = client.post(
        f"/v1/attempts/{attempt}/registration",
        json={"msisdn": msisdn, "iccid": "89860012345678905106"},
        headers={**clerk, "Idempotency-Key": f"owner-{attempt}"},
    )
    assert done.status_code == 200, done.text


def test_fifth_face_mismatch_at_enrolled_terminals_locks_the_id_and_the_owner_sees_it(counter: Kiosk) -> None:
    customer = flows.resident_id(101)
    register_owner(counter, customer, "Li Na", "13800130099")
    failures = []
    for i in range(counter.policy.max_failed_attempts):
        # A different terminal each time, so only the ID's count can reach the limit.
        failures.append(counter.fail_check(customer, device=f"kiosk-{i}", category="face_mismatch"))
        counter.clock.advance(minutes=1)
    locked_from = failures[-1]

    assert_locked(counter.next_document(customer, device="kiosk-fresh"), "this ID")
    assert_let_through(counter.next_document(flows.resident_id(102), device="kiosk-fresh"))  # others are served

    # The owner, at home, sees the lock-out on their ID (self-service is never refused by it).
    me = flows.prove_at_home(counter.service.client, counter.service.codes, customer, "Li Na", "13800130099")
    (lockout,) = counter.service.client.get("/v1/self/records", headers=me).json()["lockouts"]
    assert lockout == {
        "locked_from": locked_from.isoformat(timespec="seconds"),
        "locked_until": (locked_from + timedelta(minutes=counter.policy.lockout_minutes)).isoformat(timespec="seconds"),
        "active": True,
    }

    # Still locked one minute before the end, although every failure has left the counting window by then.
    counter.clock.current = locked_from + timedelta(minutes=counter.policy.lockout_minutes - 1)
    assert counter.clock.current - failures[0] > timedelta(minutes=counter.policy.lockout_window_minutes)
    assert_locked(counter.next_document(customer, device="kiosk-fresh"), "this ID")

    counter.clock.current = locked_from + timedelta(minutes=counter.policy.lockout_minutes)
    assert_let_through(counter.next_document(customer, device="kiosk-fresh"))


def test_failed_liveness_on_purpose_never_locks_someone_elses_id(kiosk: Kiosk) -> None:
    victim = flows.resident_id(111)
    for i in range(kiosk.policy.max_failed_attempts + 2):
        kiosk.fail_check(victim, device=f"kiosk-{i}")  # no face at all: a liveness failure, on many terminals
    assert_let_through(kiosk.next_document(victim, device="kiosk-fresh"))


def test_four_failures_on_a_terminal_do_not_lock_it(kiosk: Kiosk) -> None:
    for i in range(kiosk.policy.max_failed_attempts - 1):
        kiosk.fail_check(flows.resident_id(111 + i), device="kiosk-4")
    assert_let_through(kiosk.next_document(flows.resident_id(119), device="kiosk-4"))


def test_failures_spread_over_more_than_the_window_do_not_lock(kiosk: Kiosk) -> None:
    limit, window = kiosk.policy.max_failed_attempts, kiosk.policy.lockout_window_minutes
    step = window // (limit - 1) + 1  # no window-long span holds `limit` of them
    for i in range(limit):
        kiosk.fail_check(flows.resident_id(121 + i), device="kiosk-5")
        kiosk.clock.advance(minutes=step)
    assert step * (limit - 1) > window
    assert_let_through(kiosk.next_document(flows.resident_id(129), device="kiosk-5"))


def test_fifth_failure_on_one_terminal_locks_the_terminal(kiosk: Kiosk) -> None:
    limit = kiosk.policy.max_failed_attempts
    for i in range(limit):
        kiosk.fail_check(flows.resident_id(131 + i), device="kiosk-9")  # a new ID each time
        kiosk.clock.advance(minutes=1)
    locked_from = kiosk.clock.now() - timedelta(minutes=1)
    newcomer = flows.resident_id(140)

    assert_locked(kiosk.next_document(newcomer, device="kiosk-9"), "this terminal")
    assert_let_through(kiosk.next_document(newcomer, device="kiosk-10"))

    kiosk.clock.current = locked_from + timedelta(minutes=kiosk.policy.lockout_minutes - 1)
    assert_locked(kiosk.next_document(newcomer, device="kiosk-9"), "this terminal")
    kiosk.clock.current = locked_from + timedelta(minutes=kiosk.policy.lockout_minutes)
    assert_let_through(kiosk.next_document(newcomer, device="kiosk-9"))


def test_a_locked_terminal_cannot_be_given_a_new_challenge(kiosk: Kiosk) -> None:
    client = kiosk.service.client
    waiting = flows.start_attempt(client, kiosk.clerk, device_id="kiosk-7")
    flows.prepare_attempt(client, kiosk.clerk, waiting, flows.resident_id(150))
    for i in range(kiosk.policy.max_failed_attempts):
        kiosk.fail_check(flows.resident_id(151 + i), device="kiosk-7")
    refused = client.post(f"/v1/attempts/{waiting}/challenge", headers=kiosk.clerk)
    assert_locked(refused, "this terminal")
