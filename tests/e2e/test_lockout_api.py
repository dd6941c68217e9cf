"""Lock-outs through the HTTP API, on an injected clock: five failed checks for one ID (or on one terminal)
within the window refuse the next attempt until ``lockout_minutes`` have passed.

A failed check is produced cheaply with real input: a tiny clip of flat grey frames (no face in it), which
the real liveness checker rejects in milliseconds.
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

from realname.domain.policy import Policy
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.e2e.media import blank_clip, jpeg_bytes
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

    def fail_check(self, id_number: str, device: str) -> datetime:
        """Run a whole attempt whose liveness check fails; return the time of the failure."""
        client = self.service.client
        attempt = flows.start_attempt(client, self.clerk, device_id=device)
        flows.prepare_attempt(client, self.clerk, attempt, id_number)
        nonce = flows.issue_challenge(client, self.clerk, attempt)
        decision = flows.answer_liveness(client, self.clerk, attempt, nonce, self.clip, self.id_photo)
        assert decision.status_code == 200, decision.text
        body = decision.json()
        assert body["passed"] is False and body["reason_category"] is not None
        assert body["similarity"] is None and body["threshold"] is None and body["reasons"] is None
        return self.clock.now()

    def next_document(self, id_number: str, device: str) -> httpx.Response:
        """Start the next attempt and present the ID: where a lock-out refuses the customer."""
        attempt = flows.start_attempt(self.service.client, self.clerk, device_id=device)
        return flows.submit_document(self.service.client, self.clerk, attempt, id_number)


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    clock = FixedClock()
    # Tokens outlive the clock jumps below, so the clerk stays signed in.
    for service in open_service(tmp_path / "data", clock=clock, token_ttl_minutes=24 * 60):
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


def test_fifth_failed_check_locks_the_id_until_the_lockout_has_passed(kiosk: Kiosk) -> None:
    customer = flows.resident_id(101)
    failures = []
    for i in range(kiosk.policy.max_failed_attempts):
        # A different terminal each time, so only the ID's count can reach the limit.
        failures.append(kiosk.fail_check(customer, device=f"kiosk-{i}"))
        kiosk.clock.advance(minutes=1)
    locked_from = failures[-1]

    assert_locked(kiosk.next_document(customer, device="kiosk-fresh"), "this ID")
    assert_let_through(kiosk.next_document(flows.resident_id(102), device="kiosk-fresh"))  # others are served

    # Still locked one minute before the end, although every failure has left the counting window by then.
    kiosk.clock.current = locked_from + timedelta(minutes=kiosk.policy.lockout_minutes - 1)
    assert kiosk.clock.current - failures[0] > timedelta(minutes=kiosk.policy.lockout_window_minutes)
    assert_locked(kiosk.next_document(customer, device="kiosk-fresh"), "this ID")

    kiosk.clock.current = locked_from + timedelta(minutes=kiosk.policy.lockout_minutes)
    assert_let_through(kiosk.next_document(customer, device="kiosk-fresh"))


def test_four_failures_do_not_lock(kiosk: Kiosk) -> None:
    customer = flows.resident_id(111)
    for i in range(kiosk.policy.max_failed_attempts - 1):
        kiosk.fail_check(customer, device=f"kiosk-{i}")
    assert_let_through(kiosk.next_document(customer, device="kiosk-fresh"))


def test_failures_spread_over_more_than_the_window_do_not_lock(kiosk: Kiosk) -> None:
    customer = flows.resident_id(121)
    limit, window = kiosk.policy.max_failed_attempts, kiosk.policy.lockout_window_minutes
    step = window // (limit - 1) + 1  # no window-long span holds `limit` of them
    for i in range(limit):
        kiosk.fail_check(customer, device=f"kiosk-{i}")
        kiosk.clock.advance(minutes=step)
    assert step * (limit - 1) > window
    assert_let_through(kiosk.next_document(customer, device="kiosk-fresh"))


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
