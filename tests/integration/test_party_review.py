"""Review decisions on relying parties' cases act on the party (SQLite and PostgreSQL), and a worker that
remembers a party sees every change to it at the next check."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.review import Review
from realname.domain.errors import Forbidden, InvalidInput, Unauthenticated
from realname.domain.organisation import Role
from realname.domain.relying_parties import CheckKind, CheckPolicy, CheckResult, PartyStatus
from realname.domain.reviews import CaseDecision, CaseState
from tests.integration.test_attempt_limits import REVIEWER, make_deps
from tests.integration.test_relying_party_checks import ALICE_ID, ALICE_NAME, BOB_ID, World, make_world, rows

SECOND = Actor("staff:reviewer-2", Role.REVIEWER, "BJ-001")


def _status(world: World) -> PartyStatus:
    (view,) = [v for v in world.admin.list(OPERATOR_CLI) if v.party.id == world.bank.party_id]
    return view.party.status


def _party_events(engine: sa.Engine) -> list[tuple[str, str, dict[str, object]]]:
    found = rows(
        engine,
        "SELECT action, actor, details FROM audit_event WHERE action IN ('party.suspended', 'party.reinstated') "
        "ORDER BY occurred_at, chain, seq",
    )
    return [(str(a), str(b), json.loads(str(c))) for a, b, c in found]


def _enumeration_case(world: World) -> str:
    """The bank checks one ID against three numbers with a limit of two: suspended, one case opened."""
    world.register(20, ALICE_ID)
    world.ask(CheckKind.TWO_ELEMENT, 20)
    world.ask(CheckKind.TWO_ELEMENT, 21)
    with pytest.raises(Forbidden):
        world.ask(CheckKind.TWO_ELEMENT, 22)
    assert _status(world) is PartyStatus.SUSPENDED
    ((case_id,),) = rows(world.engine, "SELECT id FROM review_case WHERE kind = 'party_enumeration'")
    return str(case_id)


def test_confirming_an_unwanted_check_suspends_the_party_and_dismissing_one_does_not(engine: sa.Engine) -> None:
    world = make_world(engine)
    review = Review(make_deps(engine, world.clock))
    world.register(25, ALICE_ID, ALICE_NAME)
    world.ask(CheckKind.THREE_ELEMENT, 25)
    world.ask(CheckKind.STATUS, 25)
    me = world.verified_subscriber(ALICE_ID)
    first, second = world.subscriber.list(me).checks
    dismissed, confirmed = world.subscriber.report(me, first.id), world.subscriber.report(me, second.id)

    with pytest.raises(InvalidInput) as refused:
        review.decide_case(REVIEWER, dismissed, CaseDecision.REINSTATE, "nothing to reinstate")
    assert refused.value.code == "review.decision_invalid"
    review.decide_case(REVIEWER, dismissed, CaseDecision.REJECT, "the consent on file covers it")
    assert _status(world) is PartyStatus.ACTIVE
    assert world.ask(CheckKind.STATUS, 25)[0] is CheckResult.ACTIVE  # the worker remembers the party now

    case = review.decide_case(REVIEWER, confirmed, CaseDecision.SUSPEND_CONFIRMED, "no consent on file")
    assert case.state is CaseState.CLOSED and case.party_id == world.bank.party_id
    assert _status(world) is PartyStatus.SUSPENDED
    with pytest.raises(Forbidden) as suspended:
        world.ask(CheckKind.STATUS, 25)
    assert suspended.value.code == "party.suspended"
    assert _party_events(engine) == [
        (
            "party.suspended",
            REVIEWER.ref,
            {"case": confirmed, "kind": "unwanted_check", "reason": "review", "was": "active"},
        )
    ]


def test_reinstating_a_party_suspended_for_enumeration_takes_two_reviewers(engine: sa.Engine) -> None:
    world = make_world(engine, CheckPolicy(max_numbers_per_id=2, max_ids_per_number=5))
    review = Review(make_deps(engine, world.clock))
    case_id = _enumeration_case(world)

    proposed = review.decide_case(REVIEWER, case_id, CaseDecision.REINSTATE, "a batch of its own customers")
    assert proposed.state is CaseState.AWAITING_SECOND and _status(world) is PartyStatus.SUSPENDED
    with pytest.raises(Forbidden) as four_eyes:
        review.decide_case(REVIEWER, case_id, CaseDecision.REINSTATE, "me again")
    assert four_eyes.value.code == "review.four_eyes"
    review.decide_case(SECOND, case_id, CaseDecision.REINSTATE, "agreed: the bank explained the batch")
    assert _status(world) is PartyStatus.ACTIVE
    assert world.ask(CheckKind.STATUS, 20)[0] is CheckResult.ACTIVE
    assert _party_events(engine)[-1] == (
        "party.reinstated",
        SECOND.ref,
        {"case": case_id, "kind": "party_enumeration", "reason": "review", "was": "suspended"},
    )


def test_an_overruled_reinstatement_keeps_the_party_suspended(engine: sa.Engine) -> None:
    world = make_world(engine, CheckPolicy(max_numbers_per_id=2, max_ids_per_number=5))
    review = Review(make_deps(engine, world.clock))
    case_id = _enumeration_case(world)
    review.decide_case(REVIEWER, case_id, CaseDecision.REINSTATE, "looks like a batch")
    ended = review.decide_case(SECOND, case_id, CaseDecision.SUSPEND_CONFIRMED, "three numbers for one ID")
    assert ended.state is CaseState.OVERRULED and ended.decision is CaseDecision.SUSPEND_CONFIRMED
    assert _status(world) is PartyStatus.SUSPENDED
    assert [e[0] for e in _party_events(engine)] == ["party.suspended"]  # the detection's, none by the review


def test_a_party_disabled_meanwhile_stays_disabled_when_reinstated(engine: sa.Engine) -> None:
    world = make_world(engine, CheckPolicy(max_numbers_per_id=2, max_ids_per_number=5))
    review = Review(make_deps(engine, world.clock))
    case_id = _enumeration_case(world)
    world.admin.disable(OPERATOR_CLI, world.bank.party_id)
    review.decide_case(REVIEWER, case_id, CaseDecision.REINSTATE, "a batch")
    review.decide_case(SECOND, case_id, CaseDecision.REINSTATE, "a batch indeed")
    assert _status(world) is PartyStatus.DISABLED


def test_a_remembered_party_is_checked_against_the_stored_one_at_every_check(engine: sa.Engine) -> None:
    world = make_world(engine)
    world.register(14, ALICE_ID)
    world.register(15, BOB_ID, attempt="a2")
    old = world.bank
    assert world.ask(CheckKind.STATUS, 14)[0] is CheckResult.ACTIVE  # remembered from here on
    new = world.admin.rotate_secret(OPERATOR_CLI, old.party_id)
    with pytest.raises(Unauthenticated) as rotated:
        world.ask(CheckKind.STATUS, 14, credential=old)
    assert rotated.value.code == "party.signature_invalid"
    assert world.ask(CheckKind.STATUS, 14, credential=new)[0] is CheckResult.ACTIVE
    world.admin.disable(OPERATOR_CLI, old.party_id)
    with pytest.raises(Forbidden) as disabled:
        world.ask(CheckKind.STATUS, 14, credential=new)
    assert disabled.value.code == "party.disabled"
    world.admin.enable(OPERATOR_CLI, old.party_id)
    assert world.ask(CheckKind.STATUS, 15, credential=new, nonce="n-" + "a" * 20)[0] is CheckResult.ACTIVE
    with pytest.raises(Unauthenticated) as replayed:
        world.ask(CheckKind.STATUS, 15, credential=new, nonce="n-" + "a" * 20)
    assert replayed.value.code == "party.signature_replayed"
    # Every answered check counted once, whichever path authenticated it.
    ((used,),) = rows(engine, "SELECT SUM(used) FROM party_usage WHERE \"window\" = 'day'")
    assert used == 3
