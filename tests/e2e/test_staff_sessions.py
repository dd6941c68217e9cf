"""Sessions that keep the customer's visit: sign-in by staff code and password, tokens renewed while the clerk works,
the lock after idling (the password again, the visit kept on the server), the visit restored after a reload or a new
sign-in, and ending a visit, which gives its reserved numbers back at once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.storage import tables
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import OPERATOR_CLI
from realname.app.staff_auth import ACTIVITY_WRITE_SECONDS, session_key
from realname.domain.attempts import Attempt, Outcome, Purpose
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from realname.domain.subscribers import BlindIndex
from tests.e2e import flows
from tests.e2e.conftest import Service, database_url_for, open_service
from tests.fakes import FixedClock

TTL_MINUTES = 8
IDLE_MINUTES = 3
SESSION_HOURS = 2
NUMBERS = [f"1380013{i:04d}" for i in range(40, 46)]


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    """A service with a fixed clock, 8-minute tokens, a 3-minute idle lock and 2-hour sessions (reservations last
    10 minutes, as by default)."""
    with database_url_for(request.param, tmp_path / "data") as url:
        for service in open_service(
            tmp_path / "data",
            clock=FixedClock(),
            database_url=url,
            token_ttl_minutes=TTL_MINUTES,
            idle_lock_minutes=IDLE_MINUTES,
            session_max_hours=SESSION_HOURS,
        ):
            service.container.registry().import_numbers(OPERATOR_CLI, [Msisdn(n) for n in NUMBERS], source="test")
            yield service


def clock_of(service: Service) -> FixedClock:
    clock = service.container.clock
    assert isinstance(clock, FixedClock)
    return clock


def sign_in(service: Service, code: str, password: str) -> tuple[int, dict[str, object]]:
    response = service.client.post("/v1/auth/token", json={"staff_code": code, "password": password})
    return response.status_code, response.json()


def renew(service: Service, token: str) -> tuple[int, dict[str, object]]:
    response = service.client.post("/v1/auth/renew", headers=flows.bearer(token))
    return response.status_code, response.json()


def report_activity(service: Service, token: str) -> int:
    """What the page sends when the clerk touches it and it made no other request for a while."""
    status: int = service.client.post("/v1/auth/activity", headers=flows.bearer(token)).status_code
    return status


def current_visit(service: Service, token: str, device_id: str = "kiosk-7") -> dict[str, object]:
    response = service.client.get("/v1/visits/current", params={"device_id": device_id}, headers=flows.bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def approved_visit(service: Service, clerk_id: str, device_id: str = "kiosk-7") -> str:
    """An attempt of the clerk on ``device_id`` whose customer was verified (as an approved face check leaves it)."""
    now = clock_of(service).now()
    attempt = Attempt.start(f"att-{device_id}", Purpose.REGISTER, "BJ-001", f"staff:{clerk_id}", device_id, now, 30)
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=BlindIndex("b" * 64), now=now)
    attempt.record_consent(accepted=True, version="v1", current_version="v1", now=now)
    attempt.record_challenge(now)
    attempt.record_decision(Outcome.APPROVED, (), now)
    with SqlUnitOfWork(service.container.engine) as uow:
        uow.attempts.add(attempt)
        uow.commit()
    return attempt.id


# -- sign-in by staff code and password ----------------------------------------------------------------------


def test_a_clerk_signs_in_with_a_short_staff_code_and_a_password(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    assert len(member.staff_code) == 6 and member.staff_code[:2].isalpha() and member.staff_code[2:].isdigit()
    assert len(member.password) == 14 and member.password.count("-") == 2
    status, body = sign_in(sessions, f" {member.staff_code.lower()} ", member.password)  # as typed at a counter
    assert status == 200, body
    assert (body["staff_code"], body["role"], body["outlet"]) == (member.staff_code, "clerk", "BJ-001")
    assert body["idle_lock_minutes"] == IDLE_MINUTES
    assert body["signed_in_at"] is not None


def test_a_wrong_password_and_an_unknown_code_get_the_same_typed_401(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", code="LL0001", password_change_required=False
    )
    wrong = sign_in(sessions, "LL0001", "not-the-password")
    unknown = sign_in(sessions, "ZZ9999", member.password)
    assert (wrong[0], wrong[1]["code"]) == (401, "auth.invalid_credentials")
    assert (unknown[0], unknown[1]["code"]) == (401, "auth.invalid_credentials")
    assert wrong[1]["message"] == unknown[1]["message"]


def test_a_disabled_member_is_told_so_only_with_the_right_password_and_cannot_renew(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    status, body = sign_in(sessions, member.staff_code, member.password)
    assert status == 200
    token = str(body["token"])
    sessions.container.staff_accounts().disable(OPERATOR_CLI, member.staff_code)

    right = sign_in(sessions, member.staff_code, member.password)
    assert (right[0], right[1]["code"]) == (403, "auth.staff_disabled")
    wrong = sign_in(sessions, member.staff_code, "guess-guess")  # a guesser learns nothing about the account
    assert (wrong[0], wrong[1]["code"]) == (401, "auth.invalid_credentials")
    renewed = renew(sessions, token)
    assert (renewed[0], renewed[1]["code"]) == (403, "auth.staff_disabled")
    # The token issued before the member was disabled serves nothing from then on, not only when it expires.
    served = sessions.client.get("/v1/numbers/available", headers=flows.bearer(token))
    assert (served.status_code, served.json()["code"]) == (403, "auth.staff_disabled")
    assert report_activity(sessions, token) == 403


def test_a_reset_password_replaces_the_old_one_at_once(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    live = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    reset = sessions.container.staff_accounts().reset_credential(OPERATOR_CLI, member.staff_code.lower())
    assert reset.staff_code == member.staff_code and reset.password != member.password
    assert sign_in(sessions, member.staff_code, member.password)[0] == 401
    assert sign_in(sessions, member.staff_code, reset.password)[0] == 200
    # A token from before the reset serves nothing more: the member chooses a password first.
    served = sessions.client.get("/v1/numbers/available", headers=flows.bearer(live))
    assert (served.status_code, served.json()["code"]) == (403, "auth.password_change_required")


# -- renewal while the clerk works, the idle lock, the session's end ------------------------------------------


def test_a_token_renewed_while_the_clerk_works_outlives_the_first_and_keeps_the_sign_in_time(
    sessions: Service,
) -> None:
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    first = sign_in(sessions, member.staff_code, member.password)[1]
    signed_in_at = first["signed_in_at"]
    token = str(first["token"])
    for _ in range(12):  # 12 × 5 minutes: over seven times the token's lifetime, renewed as the page does
        clock.advance(minutes=3)
        assert report_activity(sessions, token) == 204  # the clerk touched the page (no other request)
        clock.advance(minutes=2)
        status, body = renew(sessions, token)
        assert status == 200, body
        assert body["signed_in_at"] == signed_in_at
        assert datetime.fromisoformat(str(body["expires_at"])) > datetime.fromisoformat(str(first["expires_at"]))
        token = str(body["token"])
    assert sessions.client.get("/v1/numbers/available", headers=flows.bearer(token)).status_code == 200
    # The first token expired long ago: neither served nor renewed.
    old = renew(sessions, str(first["token"]))
    assert (old[0], old[1]["code"]) == (401, "auth.token_expired")


def test_renewal_stops_at_the_sessions_end_and_the_password_is_asked_again(sessions: Service) -> None:
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    for _ in range(SESSION_HOURS * 12 - 1):
        clock.advance(minutes=3)
        report_activity(sessions, token)
        clock.advance(minutes=2)
        token = str(renew(sessions, token)[1]["token"])
    clock.advance(minutes=3)
    report_activity(sessions, token)
    clock.advance(minutes=2)  # SESSION_HOURS after the password was typed
    ended = renew(sessions, token)
    assert (ended[0], ended[1]["code"]) == (401, "auth.session_ended")
    assert sign_in(sessions, member.staff_code, member.password)[0] == 200


def test_an_idle_page_locks_without_losing_the_visit(sessions: Service) -> None:
    """Idle past the lock, the page renews nothing, its token runs out (401) and the clerk types the password again:
    the visit, its step and its reserved number are still there."""
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    attempt = approved_visit(sessions, member.staff_id)
    reserved = sessions.client.post(
        f"/v1/attempts/{attempt}/reservation", json={"msisdn": NUMBERS[0]}, headers=flows.bearer(token)
    )
    assert reserved.status_code == 200, reserved.text

    clock.advance(minutes=TTL_MINUTES)  # the customer is slow; nobody touched the page
    refused = sessions.client.get("/v1/visits/current", params={"device_id": "kiosk-7"}, headers=flows.bearer(token))
    assert (refused.status_code, refused.json()["code"]) == (401, "auth.token_expired")
    assert renew(sessions, token)[1]["code"] == "auth.token_expired"

    again = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    visit = current_visit(sessions, again)
    assert visit["attempt"]["id"] == attempt  # type: ignore[index]
    assert (visit["step"], visit["next_step"]) == ("sim", "choose_number")
    assert [r["msisdn"] for r in visit["reserved"]] == [NUMBERS[0]]  # type: ignore[attr-defined]


def test_renewal_is_refused_after_the_idle_time_without_a_request(sessions: Service) -> None:
    """The server keeps each sign-in's last request: a page whose lock did not work (or a copied token) cannot keep
    renewing. The page reports the clerk's touches (``/v1/auth/activity``) while it makes no other request."""
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    clock.advance(minutes=IDLE_MINUTES, seconds=30)  # within the minute's grace for the page's reports
    status, body = renew(sessions, token)
    assert status == 200, body
    token = str(body["token"])
    clock.advance(minutes=2)
    assert sessions.client.get("/v1/numbers/available", headers=flows.bearer(token)).status_code == 200
    clock.advance(minutes=IDLE_MINUTES, seconds=61)  # past the idle time and its grace since that request
    idle = renew(sessions, token)
    assert (idle[0], idle[1]["code"]) == (401, "auth.idle_timeout")
    # The password again: a new sign-in renews as before.
    again = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    clock.advance(minutes=1)
    assert renew(sessions, again)[0] == 200


def test_every_request_is_refused_after_the_idle_time_not_only_the_renewal(sessions: Service) -> None:
    """A token still valid (8 minutes) but idle past the lock (3 minutes and the minute's grace) serves nothing: not
    the visit, not the numbers, not an activity report; each refusal is audited. The password again serves."""
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    clock.advance(minutes=IDLE_MINUTES, seconds=59)  # within the grace: served, and counted as activity
    renewed = renew(sessions, token)
    assert renewed[0] == 200, renewed
    token = str(renewed[1]["token"])
    clock.advance(minutes=1)
    assert sessions.client.get("/v1/numbers/available", headers=flows.bearer(token)).status_code == 200
    clock.advance(minutes=IDLE_MINUTES, seconds=61)  # idle since that request; the token lasts 8 minutes
    for response in (
        sessions.client.get("/v1/numbers/available", headers=flows.bearer(token)),
        sessions.client.get("/v1/visits/current", params={"device_id": "kiosk-7"}, headers=flows.bearer(token)),
        sessions.client.post("/v1/auth/activity", headers=flows.bearer(token)),
    ):
        assert (response.status_code, response.json()["code"]) == (401, "auth.idle_timeout"), response.text
    # Refused for good: a later request does not revive the sign-in.
    assert sessions.client.get("/v1/numbers/available", headers=flows.bearer(token)).status_code == 401
    with sessions.container.unit_of_work() as uow:
        refused = [e for e in uow.audit.events() if e.action == "staff.idle_timeout"]
    assert len(refused) == 4
    assert {(e.actor, e.outlet, e.details["via"]) for e in refused} == {
        (f"staff:{member.staff_id}", "BJ-001", "request")
    }
    again = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    assert sessions.client.get("/v1/numbers/available", headers=flows.bearer(again)).status_code == 200


def test_a_refused_renewal_is_audited_as_idle(sessions: Service) -> None:
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    clock.advance(minutes=IDLE_MINUTES + 1, seconds=1)
    assert renew(sessions, token)[1]["code"] == "auth.idle_timeout"
    with sessions.container.unit_of_work() as uow:
        refused = [e for e in uow.audit.events() if e.action == "staff.idle_timeout"]
    assert [(e.actor, e.details["via"]) for e in refused] == [(f"staff:{member.staff_id}", "renew")]


def test_activity_is_written_at_most_every_few_seconds(sessions: Service) -> None:
    """A request reads the member and the sign-in in one read; the last activity is written only when stale."""
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    signed_in = clock.now()

    def last_active() -> object:
        with sessions.container.unit_of_work() as uow:
            return uow.staff.session_state(member.staff_id, session_key(member.staff_id, signed_in)).last_active_at  # type: ignore[union-attr]

    clock.advance(seconds=5)
    assert report_activity(sessions, token) == 204
    assert last_active() == signed_in  # fresh enough: no write
    clock.advance(seconds=ACTIVITY_WRITE_SECONDS)
    assert report_activity(sessions, token) == 204
    assert last_active() == clock.now()


# -- one transaction per request: the sign-ins a worker checked a moment ago ---------------------------------------


def transactions_of(service: Service) -> list[int]:
    """A counter of the transactions the service's database engine begins from now on."""
    begun = [0]

    def count(_connection: sa.Connection) -> None:
        begun[0] += 1

    sa.event.listen(service.container.engine, "begin", count)
    return begun


def test_a_sign_in_checked_a_moment_ago_is_served_without_a_transaction_of_its_own(sessions: Service) -> None:
    """The activity report opens no use case: what it costs is the staff check alone."""
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    cache_seconds = sessions.container.settings.staff_check_cache_seconds
    assert cache_seconds == 5
    begun = transactions_of(sessions)
    assert report_activity(sessions, token) == 204
    assert begun[0] == 1  # read from the database ...
    for _ in range(3):
        clock.advance(seconds=1)
        assert report_activity(sessions, token) == 204
    assert begun[0] == 1  # ... and not again within the cache time
    clock.advance(seconds=cache_seconds)
    assert report_activity(sessions, token) == 204
    assert begun[0] == 2


def test_a_member_disabled_elsewhere_is_refused_within_the_cache_time_and_here_at_once(sessions: Service) -> None:
    """Disabled by another process (the CLI, another worker: here a direct write), the member is served for at most
    the cache time; disabled through this process, at once (the other test of disabling)."""
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    assert report_activity(sessions, token) == 204
    with SqlUnitOfWork(sessions.container.engine) as uow:  # as `realname staff disable` in another process
        uow.staff.set_active(member.staff_id, False)
        uow.commit()
    clock.advance(seconds=4)
    assert report_activity(sessions, token) == 204  # the documented bound: checked 4 s ago
    clock.advance(seconds=1)
    served = sessions.client.get("/v1/numbers/available", headers=flows.bearer(token))
    assert (served.status_code, served.json()["code"]) == (403, "auth.staff_disabled")
    # A refusal is never kept: it is read again each time (and stays a refusal).
    assert report_activity(sessions, token) == 403


def test_the_staff_check_fails_closed_when_the_database_fails_after_the_cache_time(sessions: Service) -> None:
    clock = clock_of(sessions)
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    assert report_activity(sessions, token) == 204

    def broken(_connection: sa.Connection) -> None:
        raise sa.exc.OperationalError("BEGIN", {}, Exception("the database is down"))

    sa.event.listen(sessions.container.engine, "begin", broken)
    try:
        clock.advance(seconds=sessions.container.settings.staff_check_cache_seconds)
        refused = sessions.client.post("/v1/auth/activity", headers=flows.bearer(token))
        assert (refused.status_code, refused.json()["code"]) == (503, "database.unavailable")
    finally:
        sa.event.remove(sessions.container.engine, "begin", broken)


# -- choosing a password ---------------------------------------------------------------------------------------


def change_password(service: Service, token: str, current: str, new: str) -> tuple[int, dict[str, object]]:
    response = service.client.post(
        "/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=flows.bearer(token),
    )
    return response.status_code, response.json()


def test_a_new_member_chooses_a_password_before_the_token_serves_anything(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001")
    status, body = sign_in(sessions, member.staff_code, member.password)
    assert status == 200 and body["password_change_required"] is True
    token = str(body["token"])
    served = sessions.client.get("/v1/numbers/available", headers=flows.bearer(token))
    assert (served.status_code, served.json()["code"]) == (403, "auth.password_change_required")
    assert renew(sessions, token)[1]["code"] == "auth.password_change_required"

    chosen = "tea-and-7-dumplings"
    for new, rule in [
        ("short-1", "at least 10 characters"),
        ("aaaaabbbbbaaaaa", "at least 5 different"),
        (member.password, "differ from the current"),
        (f"x-{member.staff_code.lower()}-9876", "staff code"),
    ]:
        status, refused = change_password(sessions, token, member.password, new)
        assert (status, refused["code"]) == (400, "auth.password_policy"), refused
        assert rule in str(refused["message"])
    status, wrong = change_password(sessions, token, "not-the-password", chosen)
    assert (status, wrong["code"]) == (403, "auth.password_wrong")

    status, changed = change_password(sessions, token, member.password, chosen)
    assert status == 200 and changed["password_change_required"] is False, changed
    assert changed["signed_in_at"] == body["signed_in_at"]
    fresh = str(changed["token"])
    assert sessions.client.get("/v1/numbers/available", headers=flows.bearer(fresh)).status_code == 200
    assert sign_in(sessions, member.staff_code, member.password)[0] == 401
    status, again = sign_in(sessions, member.staff_code, chosen)
    assert status == 200 and again["password_change_required"] is False

    with sessions.container.unit_of_work() as uow:
        events = [e for e in uow.audit.events() if e.action.startswith("staff.password_change")]
    assert [(e.action, dict(e.details)) for e in events] == [
        ("staff.password_change_refused", {"locked": False}),
        ("staff.password_changed", {"forced": True}),
    ]
    assert all(e.actor == f"staff:{member.staff_id}" for e in events)

    # After a reset the member chooses again.
    reset = sessions.container.staff_accounts().reset_credential(OPERATOR_CLI, member.staff_code)
    status, body = sign_in(sessions, member.staff_code, reset.password)
    assert status == 200 and body["password_change_required"] is True


def test_a_signed_in_clerk_changes_their_password_and_wrong_guesses_lock_the_code(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    token = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    status, changed = change_password(sessions, token, member.password, "my-own-pass-2026")
    assert status == 200, changed
    token = str(changed["token"])
    # Someone at the unlocked page guessing the current password: counted as failed sign-ins of the code.
    codes = [change_password(sessions, token, f"guess-{i}-guess", "other-pass-9931")[1]["code"] for i in range(6)]
    assert codes == ["auth.password_wrong"] * 5 + ["auth.locked"]
    assert sign_in(sessions, member.staff_code, "my-own-pass-2026")[1]["code"] == "auth.locked"


# -- the visit on the server ---------------------------------------------------------------------------------


def test_the_current_visit_is_the_clerks_open_attempt_on_that_kiosk_and_its_step(sessions: Service) -> None:
    registry = sessions.container.registry()
    member = registry.add_staff(OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False)
    colleague = registry.add_staff(OPERATOR_CLI, "Han Mei", Role.CLERK, "BJ-001", password_change_required=False)
    mine = flows.bearer(str(sign_in(sessions, member.staff_code, member.password)[1]["token"]))
    theirs = flows.bearer(str(sign_in(sessions, colleague.staff_code, colleague.password)[1]["token"]))
    token = mine["Authorization"].removeprefix("Bearer ")

    assert current_visit(sessions, token) == {
        "attempt": None,
        "step": None,
        "next_step": None,
        "reserved": [],
        "review_state": None,
        "receipt": None,
        "printed": None,
    }
    attempt = flows.start_attempt(sessions.client, mine, device_id="kiosk-7")
    assert current_visit(sessions, token)["step"] == "document"
    flows.prepare_attempt(sessions.client, mine, attempt, flows.resident_id(301))
    visit = current_visit(sessions, token)
    assert visit["attempt"]["id"] == attempt and visit["step"] == "face_check"  # type: ignore[index]
    # Another kiosk of the clerk, or the colleague on this kiosk, has no open visit.
    assert current_visit(sessions, token, device_id="kiosk-8")["attempt"] is None
    assert current_visit(sessions, theirs["Authorization"].removeprefix("Bearer "))["attempt"] is None
    # A reviewer has no visit to resume.
    reviewer = sessions.staff(Role.REVIEWER, name="Wang Fang")
    refused = sessions.client.get("/v1/visits/current", params={"device_id": "kiosk-7"}, headers=reviewer)
    assert (refused.status_code, refused.json()["code"]) == (403, "auth.role_forbidden")
    # An attempt past its time is no visit any more.
    clock_of(sessions).advance(minutes=31)
    fresh = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    assert current_visit(sessions, fresh)["attempt"] is None


def test_ending_a_visit_gives_its_reserved_numbers_back_at_once_and_is_audited(sessions: Service) -> None:
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    clerk = flows.bearer(str(sign_in(sessions, member.staff_code, member.password)[1]["token"]))
    attempt = approved_visit(sessions, member.staff_id)
    for number in NUMBERS[:2]:
        response = sessions.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": number}, headers=clerk)
        assert response.status_code == 200, response.text
    available = sessions.client.get("/v1/numbers/available", params={"limit": 50}, headers=clerk).json()["numbers"]
    assert not {n["msisdn"] for n in available} & set(NUMBERS[:2])

    # Another clerk cannot end it.
    stranger = sessions.staff(Role.CLERK, name="Han Mei")
    refused = sessions.client.post(f"/v1/attempts/{attempt}/end", headers=stranger)
    assert (refused.status_code, refused.json()["code"]) == (404, "attempt.not_found")

    ended = sessions.client.post(f"/v1/attempts/{attempt}/end", headers=clerk)
    assert ended.status_code == 200, ended.text
    assert ended.json()["attempt"]["state"] == "abandoned"
    assert sorted(ended.json()["released"]) == NUMBERS[:2]
    available = sessions.client.get("/v1/numbers/available", params={"limit": 50}, headers=clerk).json()["numbers"]
    assert set(NUMBERS[:2]) <= {n["msisdn"] for n in available}  # free now, not in 10 minutes
    token = clerk["Authorization"].removeprefix("Bearer ")
    assert current_visit(sessions, token)["attempt"] is None

    with sessions.container.unit_of_work() as uow:
        events = [e for e in uow.audit.events() if e.action == "visit.ended"]
    assert len(events) == 1
    assert events[0].actor == f"staff:{member.staff_id}"
    assert events[0].details["attempt"] == attempt and events[0].details["state"] == "verified"
    released = events[0].details["released"]
    assert isinstance(released, list) and sorted(map(str, released)) == sorted(Msisdn(n).masked for n in NUMBERS[:2])
    assert not any(n in str(events[0].details) for n in NUMBERS)  # numbers masked in the audit log


def sim(serial: int) -> str:
    """A Luhn-valid ICCID that differs by ``serial``."""
    body = f"898600123456789{serial:04d}"
    total = sum(d if i % 2 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(map(int, reversed(body))))
    return body + str(-total % 10)


def test_a_completed_visit_shows_its_receipt_again_until_it_is_ended_or_the_next_customer_starts(
    sessions: Service,
) -> None:
    """A reload on the receipt screen: the visit is still the clerk's current one, at its receipt (masked)."""
    member = sessions.container.registry().add_staff(
        OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False
    )
    clerk = flows.bearer(str(sign_in(sessions, member.staff_code, member.password)[1]["token"]))
    token = clerk["Authorization"].removeprefix("Bearer ")

    def register(attempt: str, msisdn: str) -> dict[str, object]:
        reserved = sessions.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": msisdn}, headers=clerk)
        assert reserved.status_code == 200, reserved.text
        done = sessions.client.post(
            f"/v1/attempts/{attempt}/registration",
            json={"msisdn": msisdn, "iccid": sim(NUMBERS.index(msisdn))},
            headers={**clerk, "Idempotency-Key": f"receipt-{attempt}"},
        )
        assert done.status_code == 200, done.text
        body: dict[str, object] = done.json()
        return body

    attempt = approved_visit(sessions, member.staff_id)
    receipt = register(attempt, NUMBERS[0])
    visit = current_visit(sessions, token)
    assert visit["attempt"]["id"] == attempt and visit["step"] == "receipt"  # type: ignore[index]
    assert visit["receipt"] == receipt and NUMBERS[0] not in str(visit["receipt"])  # the same masked receipt
    # Still there a little later (a reload, or the clerk signing in again: the first sign-in is idle by now) ...
    clock_of(sessions).advance(minutes=5)
    clerk = flows.bearer(str(sign_in(sessions, member.staff_code, member.password)[1]["token"]))
    token = clerk["Authorization"].removeprefix("Bearer ")
    assert current_visit(sessions, token)["step"] == "receipt"
    # ... not on another kiosk, and not once the clerk ended the visit ("Next customer").
    assert current_visit(sessions, token, device_id="kiosk-8")["attempt"] is None
    ended = sessions.client.post(f"/v1/attempts/{attempt}/end", headers=clerk)
    assert ended.status_code == 200 and ended.json()["attempt"]["state"] == "completed", ended.text
    assert current_visit(sessions, token)["attempt"] is None

    # The next customer started without ending the last visit: the new visit is the current one.
    second = approved_visit(sessions, member.staff_id, device_id="kiosk-9")
    register(second, NUMBERS[1])
    assert current_visit(sessions, token, device_id="kiosk-9")["step"] == "receipt"
    nxt = flows.start_attempt(sessions.client, clerk, device_id="kiosk-9")
    visit = current_visit(sessions, token, device_id="kiosk-9")
    assert visit["attempt"]["id"] == nxt and visit["step"] == "document"  # type: ignore[index]

    # A receipt is not shown again once the attempt time (30 minutes) has passed since it was issued.
    third = approved_visit(sessions, member.staff_id, device_id="kiosk-10")
    register(third, NUMBERS[2])
    clock_of(sessions).advance(minutes=31)
    late = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    assert current_visit(sessions, late, device_id="kiosk-10")["attempt"] is None


def receipt_copies(service: Service) -> dict[str, bytes]:
    with service.container.engine.connect() as connection:
        rows = connection.execute(sa.select(tables.receipt_copy.c.id, tables.receipt_copy.c.ciphertext)).all()
    return {row.id: bytes(row.ciphertext) for row in rows}


def test_the_printed_receipt_after_a_reload_has_the_full_number_and_sim_for_that_clerk_only(
    sessions: Service, caplog: pytest.LogCaptureFixture
) -> None:
    """The customer's printed receipt needs the full number and ICCID after a reload too: the server keeps them
    encrypted for the visit, answers them to the clerk of the visit on that kiosk only, and deletes them when the visit
    ends, when the next customer starts, or once the attempt time is over."""
    caplog.set_level(logging.DEBUG)
    registry = sessions.container.registry()
    member = registry.add_staff(OPERATOR_CLI, "Li Lei", Role.CLERK, "BJ-001", password_change_required=False)
    colleague = registry.add_staff(OPERATOR_CLI, "Han Mei", Role.CLERK, "BJ-001", password_change_required=False)
    clerk = flows.bearer(str(sign_in(sessions, member.staff_code, member.password)[1]["token"]))
    token = clerk["Authorization"].removeprefix("Bearer ")

    def register(attempt: str, index: int) -> None:
        msisdn = NUMBERS[index]
        reserved = sessions.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": msisdn}, headers=clerk)
        assert reserved.status_code == 200, reserved.text
        done = sessions.client.post(
            f"/v1/attempts/{attempt}/registration",
            json={"msisdn": msisdn, "iccid": sim(index)},
            headers={**clerk, "Idempotency-Key": f"printed-{attempt}"},
        )
        assert done.status_code == 200, done.text

    # Ended by the clerk ("Next customer" ends the visit).
    first = approved_visit(sessions, member.staff_id)
    register(first, 0)
    visit = current_visit(sessions, token)
    assert visit["printed"] == {"number": NUMBERS[0], "iccid": sim(0)}
    assert NUMBERS[0] not in str(visit["receipt"]) and sim(0) not in str(visit["receipt"])  # the screen stays masked
    stored = receipt_copies(sessions)
    assert list(stored) == [first]
    assert NUMBERS[0].encode() not in stored[first] and sim(0).encode() not in stored[first]  # encrypted at rest
    # Only this clerk's visit on this kiosk: not the colleague (same outlet), not another kiosk.
    theirs = str(sign_in(sessions, colleague.staff_code, colleague.password)[1]["token"])
    assert current_visit(sessions, theirs)["printed"] is None
    assert current_visit(sessions, token, device_id="kiosk-8")["printed"] is None
    ended = sessions.client.post(f"/v1/attempts/{first}/end", headers=clerk)
    assert ended.status_code == 200, ended.text
    assert receipt_copies(sessions) == {}

    # The next customer started on that kiosk without ending the last visit.
    second = approved_visit(sessions, member.staff_id, device_id="kiosk-9")
    register(second, 1)
    assert current_visit(sessions, token, device_id="kiosk-9")["printed"] == {"number": NUMBERS[1], "iccid": sim(1)}
    flows.start_attempt(sessions.client, clerk, device_id="kiosk-9")
    assert receipt_copies(sessions) == {}

    # The attempt time (30 minutes) over: not answered, and deleted by serve's privacy job.
    third = approved_visit(sessions, member.staff_id, device_id="kiosk-10")
    register(third, 2)
    assert list(receipt_copies(sessions)) == [third]
    clock_of(sessions).advance(minutes=29)
    late = str(sign_in(sessions, member.staff_code, member.password)[1]["token"])
    assert current_visit(sessions, late, device_id="kiosk-10")["printed"] == {"number": NUMBERS[2], "iccid": sim(2)}
    assert sessions.container.visits.forget_due_receipt_copies() == 0
    clock_of(sessions).advance(minutes=1)
    assert current_visit(sessions, late, device_id="kiosk-10")["printed"] is None
    assert sessions.container.visits.forget_due_receipt_copies() == 1
    assert receipt_copies(sessions) == {}

    # Nothing of the full values in the audit log or the logs.
    with sessions.container.unit_of_work() as uow:
        audited = str([(e.action, dict(e.details)) for e in uow.audit.events()])
    for full in [*NUMBERS[:3], sim(0), sim(1), sim(2)]:
        assert full not in audited and full not in caplog.text
