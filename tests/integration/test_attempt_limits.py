"""Limits an attempt cannot get around, attacked through the use cases on SQLite and PostgreSQL: challenges
cannot be drawn until one suits a pre-recorded clip."""

from __future__ import annotations

import json
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
from realname.app.attempts import Registration, RegistrationDeps
from realname.domain.attempts import Attempt, Purpose
from realname.domain.errors import Conflict
from realname.domain.liveness import ChallengeLimitReached, ChallengeSuperseded
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from tests.fakes import FakeBlindIndexer, FixedClock, FixedRandom, ReversibleFakeCipher, SequentialIds
from tests.integration.test_concurrency import race
from tests.integration.test_registry_storage import CLERK, id_index, make_registry, n

REVIEWER = Actor("staff:reviewer-1", Role.REVIEWER, "BJ-001")


def _unused() -> NoReturn:
    raise AssertionError("not needed by this test")


def make_registration(engine: sa.Engine, clock: FixedClock, **policy: object) -> Registration:
    return Registration(
        RegistrationDeps(
            uow=lambda: SqlUnitOfWork(engine),
            clock=clock,
            ids=SequentialIds(),
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
    registration = make_registration(outlet, clock, max_challenges_per_attempt=3)
    attempt_id = consented_attempt(outlet, clock)
    store = SqlChallengeStore(outlet)

    drawn = [registration.issue_challenge(CLERK, attempt_id) for _ in range(3)]
    with pytest.raises(ChallengeLimitReached) as caught:
        registration.issue_challenge(CLERK, attempt_id)
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
    registration = make_registration(outlet, clock)
    attempt_id = consented_attempt(outlet, clock)
    for _ in range(2):
        registration.issue_challenge(CLERK, attempt_id)
    with SqlUnitOfWork(outlet) as uow:
        uow.reviews.open("case-1", "borderline", attempt_id, id_index(), None, clock.now())
        uow.commit()
    (case,) = registration.review_cases(REVIEWER)
    assert case.challenges_issued == 2


def test_challenges_drawn_at_once_leave_one_live_nonce_and_respect_the_limit(outlet: sa.Engine) -> None:
    clock = FixedClock()
    registration = make_registration(outlet, clock, max_challenges_per_attempt=3)
    attempt_id = consented_attempt(outlet, clock)

    winners, failures = race(lambda _: registration.issue_challenge(CLERK, attempt_id))

    assert 1 <= len(winners) <= 3
    assert all(isinstance(f, Conflict) for f in failures), failures
    with outlet.begin() as c:
        issued = c.execute(sa.select(sa.func.count()).select_from(t.challenge)).scalar_one()
        live = c.execute(
            sa.select(sa.func.count()).select_from(t.challenge).where(t.challenge.c.used_at.is_(None))
        ).scalar_one()
    assert issued == len(winners) and live == 1
