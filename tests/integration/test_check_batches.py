"""Group commit of relying parties' checks on real databases (SQLite and PostgreSQL): a batch answers each
check as it would be answered alone, in one transaction and one commit, and fails closed as a whole."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any, Unpack

import pytest
import sqlalchemy as sa

from realname.adapters.storage.party_repositories import SqlChecksUnitOfWork
from realname.adapters.storage.tables import AUDIT_CHAINS
from realname.app.check_batches import GroupCommittedChecks
from realname.app.relying_party_checks import CheckAnswer, CheckInquiry
from realname.domain.audit import verify_chain
from realname.domain.errors import DependencyUnavailable, Forbidden, RealnameError, Unauthenticated
from realname.domain.relying_parties import CheckKind, CheckPolicy, RateLimited, SignedRequest
from tests.integration.test_relying_party_checks import (
    ALICE_ID,
    ALICE_NAME,
    BOB_ID,
    CheckOptions,
    World,
    make_world,
    n,
    rows,
)

Request = tuple[SignedRequest, Callable[[bytes], CheckInquiry]]


def request(world: World, kind: CheckKind, number: int, **options: Unpack[CheckOptions]) -> Request:
    """``World.request`` with only the elements the kind compares, and a body of its own."""
    if kind not in (CheckKind.THREE_ELEMENT, CheckKind.TWO_ELEMENT):
        options["id_number"] = None
    if kind is not CheckKind.THREE_ELEMENT:
        options["name"] = None
    options["body"] = b'{"kind": "%s", "n": "%s"}' % (kind.value.encode(), secrets.token_hex(4).encode())
    return world.request(kind, number, **options)


def result_or_code(outcome: CheckAnswer | RealnameError) -> str:
    return outcome.result.value if isinstance(outcome, CheckAnswer) else outcome.code


@pytest.fixture
def world(engine: sa.Engine) -> World:
    return make_world(engine)


@pytest.fixture
def commits(world: World) -> Iterator[list[int]]:
    """Counts the transactions committed on the world's engine."""
    seen: list[int] = []

    def count(_connection: Any) -> None:
        seen.append(1)

    sa.event.listen(world.engine, "commit", count)
    yield seen
    sa.event.remove(world.engine, "commit", count)


def audit_intact(engine: sa.Engine) -> int:
    """Every chain verifies; how many events they hold."""
    total = 0
    with SqlChecksUnitOfWork(engine) as uow:
        for chain in range(AUDIT_CHAINS):
            verified = verify_chain(uow.audit.events(chain=chain))
            assert verified.intact, (chain, verified)
            total += verified.events_checked
    return total


def test_a_batch_answers_each_check_as_alone_in_one_commit(world: World, commits: list[int]) -> None:
    world.register(1, ALICE_ID, ALICE_NAME)
    world.register(2, BOB_ID, "李四", attempt="a2")
    before = int(str(rows(world.engine, "SELECT count(*) FROM audit_event")[0][0]))
    commits.clear()
    outcomes = world.checks.check_many(
        [
            request(world, CheckKind.THREE_ELEMENT, 1),
            request(world, CheckKind.THREE_ELEMENT, 1, name="张四"),
            request(world, CheckKind.TWO_ELEMENT, 2),
            request(world, CheckKind.STATUS, 2),
            request(world, CheckKind.STATUS, 30),
            request(world, CheckKind.HELD_SINCE, 1, since=world.clock.now().date()),
        ]
    )
    assert [result_or_code(o) for o in outcomes] == [
        "match",
        "no_match",
        "no_match",
        "active",
        "not_in_service",
        "match",
    ]
    assert len(commits) == 1
    check_ids = [o.check_id for o in outcomes if isinstance(o, CheckAnswer)]
    assert len(set(check_ids)) == 6
    stored = rows(world.engine, "SELECT id FROM party_check")
    assert sorted(str(r[0]) for r in stored) == sorted(check_ids)
    events = rows(world.engine, "SELECT details FROM audit_event WHERE action = 'number.checked'")
    assert sorted(check_ids) == sorted(str(d[0]).split('"check":"')[1].split('"')[0] for d in events)
    assert audit_intact(world.engine) == before + 6


def test_a_replayed_nonce_in_a_batch_is_refused_and_the_rest_answered(world: World, commits: list[int]) -> None:
    world.register(3, ALICE_ID)
    spent = "nonce-batch-spent-0000001"
    world.checks.check_many([request(world, CheckKind.STATUS, 3, nonce=spent)])
    twice = "nonce-batch-twice-0000001"
    commits.clear()
    outcomes = world.checks.check_many(
        [
            request(world, CheckKind.STATUS, 3, nonce=twice),
            request(world, CheckKind.STATUS, 3, nonce=spent),  # spent by an earlier batch
            request(world, CheckKind.TWO_ELEMENT, 3, nonce=twice),  # spent earlier in this batch
            request(world, CheckKind.TWO_ELEMENT, 3),
        ]
    )
    assert [result_or_code(o) for o in outcomes] == [
        "active",
        "party.signature_replayed",
        "party.signature_replayed",
        "match",
    ]
    assert all(isinstance(o, Unauthenticated) for o in outcomes[1:3])
    assert len(commits) == 1
    # Unauthenticated requests leave no row and no event; the answered ones both.
    assert rows(world.engine, "SELECT count(*) FROM party_check") == [(3,)]
    assert rows(world.engine, "SELECT count(*) FROM audit_event WHERE action = 'check.refused'") == [(0,)]


def test_a_blocked_number_in_a_batch_answers_blocked(world: World) -> None:
    world.register(4, ALICE_ID)
    world.register(5, BOB_ID, attempt="a2")
    alice = world.verified_subscriber(ALICE_ID)
    with SqlChecksUnitOfWork(world.engine) as uow:
        binding = uow.bindings.active_for(n(4))
        assert binding is not None
    world.subscriber.block(alice, number_ref=binding.id)
    outcomes = world.checks.check_many(
        [
            request(world, CheckKind.TWO_ELEMENT, 5, id_number=BOB_ID),
            request(world, CheckKind.TWO_ELEMENT, 4),
            request(world, CheckKind.STATUS, 4),
            request(world, CheckKind.STATUS, 5),
        ]
    )
    assert [result_or_code(o) for o in outcomes] == ["match", "blocked", "blocked", "active"]


def test_quota_runs_out_in_the_middle_of_a_batch(world: World, commits: list[int]) -> None:
    world.register(6, ALICE_ID)
    small = world.add_party("small-bank", daily_quota=3)
    world.checks.check_many([request(world, CheckKind.STATUS, 6, credential=small)])
    commits.clear()
    outcomes = world.checks.check_many(
        [request(world, CheckKind.STATUS, 6, credential=small, nonce=f"nonce-quota-batch-{i:06d}") for i in range(4)]
    )
    assert [result_or_code(o) for o in outcomes] == [
        "active",
        "active",
        "party.quota_exceeded",
        "party.quota_exceeded",
    ]
    assert all(isinstance(o, RateLimited) for o in outcomes[2:])
    assert len(commits) == 1
    assert rows(world.engine, "SELECT count(*) FROM party_check WHERE party_id = 'small-bank'") == [(3,)]
    assert rows(world.engine, "SELECT count(*) FROM audit_event WHERE action = 'check.refused'") == [(2,)]
    # The refused checks' nonces are spent, as when they run alone.
    again = world.checks.check_many(
        [request(world, CheckKind.STATUS, 6, credential=small, nonce="nonce-quota-batch-000003")]
    )
    assert result_or_code(again[0]) == "party.signature_replayed"


def test_enumeration_in_a_batch_suspends_the_party_for_the_rest_of_it(engine: sa.Engine) -> None:
    world = make_world(engine, CheckPolicy(max_numbers_per_id=3, max_ids_per_number=3))
    world.register(20, ALICE_ID)
    outcomes = world.checks.check_many(
        [request(world, CheckKind.TWO_ELEMENT, number) for number in (20, 21, 22, 23)]
        + [request(world, CheckKind.STATUS, 20)]
    )
    assert [result_or_code(o) for o in outcomes] == [
        "match",
        "no_match",
        "no_match",
        "party.suspended",
        "party.suspended",
    ]
    assert isinstance(outcomes[4], Forbidden)
    assert rows(engine, "SELECT kind, state FROM review_case") == [("party_enumeration", "open")]
    assert rows(engine, "SELECT count(*) FROM audit_event WHERE action = 'party.suspended'") == [(1,)]
    assert rows(engine, "SELECT count(*) FROM audit_event WHERE action = 'check.refused'") == [(2,)]
    audit_intact(engine)


def _fail_on(engine: sa.Engine, event: str, when: Callable[..., bool]) -> Callable[..., None]:
    def fail(*args: Any) -> None:
        if when(*args):
            raise sa.exc.OperationalError("injected", {}, Exception("the server closed the connection"))

    sa.event.listen(engine, event, fail)
    return fail


def test_a_database_failure_at_commit_fails_every_check_of_the_batch_closed(world: World) -> None:
    world.register(7, ALICE_ID, ALICE_NAME)
    batch = [
        request(world, CheckKind.THREE_ELEMENT, 7),
        request(world, CheckKind.STATUS, 7),
        request(world, CheckKind.STATUS, 7, nonce="nonce-replayed-in-failed-batch"),
        request(world, CheckKind.STATUS, 7, nonce="nonce-replayed-in-failed-batch"),
    ]
    before = rows(world.engine, "SELECT count(*) FROM audit_event")
    fail = _fail_on(world.engine, "commit", lambda _connection: True)
    try:
        with pytest.raises(DependencyUnavailable) as failed:
            world.checks.check_many(batch)
    finally:
        sa.event.remove(world.engine, "commit", fail)
    assert failed.value.code == "database.unavailable"
    # Nothing of any check is recorded: no row, no event, no nonce, no counted use.
    assert rows(world.engine, "SELECT count(*) FROM party_check") == [(0,)]
    assert rows(world.engine, "SELECT count(*) FROM audit_event") == before
    assert rows(world.engine, "SELECT count(*) FROM party_nonce") == [(0,)]
    assert rows(world.engine, "SELECT count(*) FROM party_usage") == [(0,)]
    # So the same requests may be sent again, and are answered then.
    outcomes = world.checks.check_many(batch)
    assert [result_or_code(o) for o in outcomes] == ["match", "active", "active", "party.signature_replayed"]
    audit_intact(world.engine)


def test_a_statement_failing_for_one_check_fails_the_whole_batch(world: World) -> None:
    world.register(8, ALICE_ID)
    inserts: list[int] = []

    def second_check_row(_conn: Any, _cursor: Any, statement: str, *_: Any) -> bool:
        if statement.lstrip().upper().startswith("INSERT INTO PARTY_CHECK"):
            inserts.append(1)
            return len(inserts) == 2
        return False

    fail = _fail_on(world.engine, "before_cursor_execute", second_check_row)
    try:
        with pytest.raises(DependencyUnavailable):
            world.checks.check_many([request(world, CheckKind.STATUS, 8) for _ in range(3)])
    finally:
        sa.event.remove(world.engine, "before_cursor_execute", fail)
    assert len(inserts) == 2  # the third check never ran
    assert rows(world.engine, "SELECT count(*) FROM party_check") == [(0,)]
    assert rows(world.engine, "SELECT count(*) FROM party_nonce") == [(0,)]
    assert rows(
        world.engine, "SELECT count(*) FROM audit_event WHERE action IN ('number.checked', 'check.refused')"
    ) == [(0,)]


def test_concurrent_checks_share_commits_and_keep_the_audit_chains_intact(world: World, commits: list[int]) -> None:
    world.register(9, ALICE_ID, ALICE_NAME)
    batched = GroupCommittedChecks(world.checks, max_wait_seconds=0.05, max_batch=8)
    threads, per_thread = 6, 5
    outcomes: list[str] = []
    lock = threading.Lock()
    requests = [[request(world, CheckKind.THREE_ELEMENT, 9) for _ in range(per_thread)] for _ in range(threads)]
    commits.clear()

    def send(mine: list[Request]) -> None:
        for signed, parse in mine:
            try:
                result = batched.check(signed, parse).result.value
            except RealnameError as refused:
                result = refused.code
            with lock:
                outcomes.append(result)

    pool = [threading.Thread(target=send, args=(mine,)) for mine in requests]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    # Concurrent batches of one party (SQLite serialises them; on PostgreSQL they run side by side on
    # different audit chains and usage shards) neither deadlock nor lose a check.
    assert outcomes == ["match"] * threads * per_thread
    assert rows(world.engine, "SELECT count(*) FROM party_check") == [(threads * per_thread,)]
    assert len(commits) < threads * per_thread
    audit_intact(world.engine)
