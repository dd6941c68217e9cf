"""Limits an attempt cannot get around, attacked through the use cases on SQLite and PostgreSQL: challenges
cannot be drawn until one suits a pre-recorded clip, an attempt cannot hold the pool reserved, and a review
case two reviewers disagree on ends."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import NoReturn

import pytest
import sqlalchemy as sa

from realname.adapters.crypto.terminal_keys import Ed25519TerminalKeys
from realname.adapters.documents.regions import load_region_directory
from realname.adapters.storage import tables as t
from realname.adapters.storage.attempt_repositories import SqlChallengeStore
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.adapters.vision.images import PillowImageDecoder
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.attempts import AttemptDeps
from realname.app.ports import IdGenerator
from realname.app.registration import Registration
from realname.app.review import Review
from realname.app.verification import Verification
from realname.domain.attempts import Attempt, Outcome, Purpose
from realname.domain.errors import Conflict, Forbidden
from realname.domain.liveness import ChallengeLimitReached, ChallengeSuperseded
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from realname.domain.reviews import CaseDecision, CaseState
from tests.fakes import FakeBlindIndexer, FixedClock, FixedRandom, ReversibleFakeCipher, SequentialIds
from tests.integration.test_concurrency import race
from tests.integration.test_registry_storage import CLERK, id_index, make_registry, n

REVIEWER = Actor("staff:reviewer-1", Role.REVIEWER, "BJ-001")


def _unused() -> NoReturn:
    raise AssertionError("not needed by this test")


def make_registration(
    engine: sa.Engine, clock: FixedClock, ids: IdGenerator | None = None, **policy: object
) -> Registration:
    return Registration(make_deps(engine, clock, ids, **policy))


def make_deps(engine: sa.Engine, clock: FixedClock, ids: IdGenerator | None = None, **policy: object) -> AttemptDeps:
    return AttemptDeps(
        uow=lambda: SqlUnitOfWork(engine),
        clock=clock,
        ids=ids or SequentialIds(),
        random=FixedRandom(),
        policy=Policy(**policy),  # type: ignore[arg-type]
        cipher=ReversibleFakeCipher(),
        blind_index=FakeBlindIndexer(),
        regions=load_region_directory(),
        challenges=SqlChallengeStore(engine),
        liveness=_unused,
        face_engine=_unused,
        image_decoder=PillowImageDecoder(),
        verifier=Ed25519TerminalKeys(),
    )


@pytest.fixture
def outlet(engine: sa.Engine) -> sa.Engine:
    registry = make_registry(engine)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [n(i) for i in range(10)], source="test")
    return engine


def consented_attempt(engine: sa.Engine, clock: FixedClock, attempt_id: str = "att-1") -> str:
    """An attempt with a valid document and biometric consent: ready for a challenge."""
    attempt = Attempt.start(attempt_id, Purpose.REGISTER, "BJ-001", CLERK.ref, "kiosk-1", clock.now(), 30)
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=id_index(), now=clock.now())
    attempt.record_consent(accepted=True, version="v1", current_version="v1", now=clock.now())
    with SqlUnitOfWork(engine) as uow:
        uow.attempts.add(attempt)
        uow.commit()
    return attempt.id


def _challenge_audit(engine: sa.Engine) -> list[dict[str, object]]:
    with engine.begin() as c:
        rows = c.execute(
            sa.select(t.audit_event.c.details).where(t.audit_event.c.action == "challenge.issued").order_by("seq")
        )
        return [json.loads(r.details) for r in rows]


# -- challenges cannot be chosen ----------------------------------------------------------------


def test_drawing_challenges_burns_each_previous_nonce_and_stops_at_the_limit(outlet: sa.Engine) -> None:
    clock = FixedClock()
    verification = Verification(make_deps(outlet, clock, max_challenges_per_attempt=3))
    attempt_id = consented_attempt(outlet, clock)
    store = SqlChallengeStore(outlet)

    drawn = [verification.issue_challenge(CLERK, attempt_id) for _ in range(3)]
    with pytest.raises(ChallengeLimitReached) as caught:
        verification.issue_challenge(CLERK, attempt_id)
    assert caught.value.code == "challenge.limit_reached"

    # Only the newest challenge can be answered: the earlier nonces are burnt, however well a clip suits them.
    for earlier in drawn[:2]:
        with pytest.raises(ChallengeSuperseded):
            store.consume(earlier.nonce, attempt_id, "kiosk-1", clock.now())
    assert store.consume(drawn[2].nonce, attempt_id, "kiosk-1", clock.now()).used
    with outlet.begin() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(t.challenge)).scalar_one() == 3

    # Every draw is audited with its number; the refused fourth is not a draw.
    audited = _challenge_audit(outlet)
    assert len(audited) == 3
    assert [(d["number"], d["of"], d["superseded"]) for d in audited] == [(1, 3, 0), (2, 3, 1), (3, 3, 1)]


def test_reviewers_see_how_many_challenges_the_attempt_drew(outlet: sa.Engine) -> None:
    clock = FixedClock()
    deps = make_deps(outlet, clock)
    attempt_id = consented_attempt(outlet, clock)
    for _ in range(2):
        Verification(deps).issue_challenge(CLERK, attempt_id)
    with SqlUnitOfWork(outlet) as uow:
        uow.reviews.open("case-1", "borderline", attempt_id, id_index(), None, clock.now())
        uow.commit()
    (case,) = Review(deps).pending_cases(REVIEWER)
    assert case.challenges_issued == 2


def test_challenges_drawn_at_once_leave_one_live_nonce_and_respect_the_limit(outlet: sa.Engine) -> None:
    clock = FixedClock()
    verification = Verification(make_deps(outlet, clock, max_challenges_per_attempt=3))
    attempt_id = consented_attempt(outlet, clock)

    winners, failures = race(lambda _: verification.issue_challenge(CLERK, attempt_id))

    assert 1 <= len(winners) <= 3
    assert all(isinstance(f, Conflict) for f in failures), failures
    with outlet.begin() as c:
        issued = c.execute(sa.select(sa.func.count()).select_from(t.challenge)).scalar_one()
        live = c.execute(
            sa.select(sa.func.count()).select_from(t.challenge).where(t.challenge.c.used_at.is_(None))
        ).scalar_one()
    assert issued == len(winners) and live == 1


# -- one attempt holds a few numbers, not the pool ----------------------------------------------


def approved_attempt(engine: sa.Engine, clock: FixedClock, attempt_id: str = "att-9") -> str:
    attempt = Attempt.start(attempt_id, Purpose.REGISTER, "BJ-001", CLERK.ref, "kiosk-1", clock.now(), 30)
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=id_index(), now=clock.now())
    attempt.record_consent(accepted=True, version="v1", current_version="v1", now=clock.now())
    attempt.record_challenge(clock.now())
    attempt.record_decision(Outcome.APPROVED, (), clock.now())
    with SqlUnitOfWork(engine) as uow:
        uow.attempts.add(attempt)
        uow.commit()
    return attempt.id


def _reserved(engine: sa.Engine) -> int:
    with engine.begin() as c:
        query = sa.select(sa.func.count()).select_from(t.number).where(t.number.c.state == "reserved")
        return int(c.execute(query).scalar_one())


def test_an_attempt_cannot_reserve_more_numbers_than_the_policy_allows(outlet: sa.Engine) -> None:
    clock = FixedClock()
    registration = Registration(make_deps(outlet, clock, max_reservations_per_attempt=2))
    attempt_id = approved_attempt(outlet, clock)
    registration.reserve(CLERK, attempt_id, n(0))
    registration.reserve(CLERK, attempt_id, n(1))
    with pytest.raises(Conflict) as caught:
        registration.reserve(CLERK, attempt_id, n(2))
    assert caught.value.code == "reservation.limit_reached"
    registration.reserve(CLERK, attempt_id, n(0))  # renewing one it holds is not a new one
    with pytest.raises(Forbidden) as refused:
        registration.reserve(REVIEWER, attempt_id, n(3))
    assert refused.value.code == "auth.role_forbidden"
    assert _reserved(outlet) == 2
    # Expired reservations no longer count.
    clock.advance(seconds=Policy().reservation_ttl_seconds + 1)
    registration.reserve(CLERK, attempt_id, n(2))


def test_reservations_made_at_once_stop_at_the_limit(outlet: sa.Engine) -> None:
    clock = FixedClock()
    registration = Registration(make_deps(outlet, clock, max_reservations_per_attempt=3))
    attempt_id = approved_attempt(outlet, clock)

    winners, failures = race(lambda i: registration.reserve(CLERK, attempt_id, n(i % 10)))

    assert all(isinstance(f, Conflict) for f in failures), failures
    assert len(winners) >= 1 and _reserved(outlet) <= 3


# -- review cases end ---------------------------------------------------------------------------


def test_an_overruled_case_is_stored_ended_and_leaves_the_queue(outlet: sa.Engine) -> None:
    clock = FixedClock()
    deps = make_deps(outlet, clock)
    second = Actor("staff:reviewer-2", Role.REVIEWER, "BJ-001")
    with SqlUnitOfWork(outlet) as uow:
        uow.reviews.open("case-1", "not_mine", None, id_index(), str(n(4)), clock.now())
        uow.commit()
    Review(deps).decide_case(REVIEWER, "case-1", CaseDecision.REINSTATE, "the owner called")
    ended = Review(deps).decide_case(second, "case-1", CaseDecision.SUSPEND_CONFIRMED, "not the owner's voice")
    assert ended.state is CaseState.OVERRULED
    assert Review(deps).pending_cases(REVIEWER) == []
    with SqlUnitOfWork(outlet) as uow:
        stored = uow.reviews.get("case-1")
    assert stored is not None and stored.state is CaseState.OVERRULED
    assert stored.decision is CaseDecision.SUSPEND_CONFIRMED and stored.proposed_decision is CaseDecision.REINSTATE
    audited = [json.loads(d) for d in _details(outlet, "review.decided")]
    assert audited == [{**audited[0], "decision": "suspend_confirmed", "overruled": "reinstate"}]


def _details(engine: sa.Engine, action: str) -> list[str]:
    with engine.begin() as c:
        query = sa.select(t.audit_event.c.details).where(t.audit_event.c.action == action).order_by("seq")
        return [str(r.details) for r in c.execute(query)]


def test_the_lockout_history_of_an_id_and_a_device_is_read_apart_in_one_query(engine: sa.Engine) -> None:
    now = FixedClock().now()
    since = now - timedelta(minutes=30)
    mine, other = id_index(), id_index("110105194912310037")
    with SqlUnitOfWork(engine) as uow:
        uow.failures.add("f1", mine, "kiosk-1", now - timedelta(minutes=5))  # the ID at this device: both lists
        uow.failures.add("f2", None, "kiosk-1", now - timedelta(minutes=4))  # no ID read: the device's only
        uow.failures.add("f3", mine, "kiosk-2", now - timedelta(minutes=3))  # the ID elsewhere: the ID's only
        uow.failures.add("f4", other, "kiosk-2", now - timedelta(minutes=2))  # neither
        uow.failures.add("f5", mine, "kiosk-1", now - timedelta(minutes=45))  # too old for either
        uow.commit()
    with SqlUnitOfWork(engine) as uow:
        of_id, of_device = uow.failures.recent_for_id_and_device(mine, "kiosk-1", since)
        assert sorted(of_id) == [now - timedelta(minutes=5), now - timedelta(minutes=3)]
        assert sorted(of_device) == [now - timedelta(minutes=5), now - timedelta(minutes=4)]
        no_id, device_only = uow.failures.recent_for_id_and_device(None, "kiosk-1", since)
        assert (list(no_id), sorted(device_only)) == ([], sorted(of_device))
        assert sorted(uow.failures.recent_for_id(mine, since)) == sorted(of_id)
