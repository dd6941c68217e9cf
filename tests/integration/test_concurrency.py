"""Races the database must settle: exactly one winner, whatever the thread timing."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa

from realname.app.actors import OPERATOR_CLI
from realname.domain.errors import Conflict
from realname.domain.numbers import NumberState
from tests.integration.test_registry_storage import CLERK, id_index, make_registry, n, sim

THREADS = 20


def race(work: Callable[[int], object]) -> tuple[list[int], list[Exception]]:
    """Start ``THREADS`` threads at one barrier; return who won and what the losers raised."""
    barrier = threading.Barrier(THREADS)
    winners: list[int] = []
    failures: list[Exception] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except Exception as exc:
            with lock:
                failures.append(exc)
        else:
            with lock:
                winners.append(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return winners, failures


def test_twenty_clerks_racing_for_one_number_one_wins(engine: sa.Engine) -> None:
    registry = make_registry(engine)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing")
    registry.import_numbers(OPERATOR_CLI, [n(0)], source="test")

    winners, failures = race(
        lambda i: registry.assign_number(
            CLERK,
            msisdn=n(0),
            attempt_id=f"a{i}",
            id_index=id_index(f"{110105194912310000 + i}"),
            iccid=sim(i),
            outlet_code="BJ-001",
        )
    )

    assert len(winners) == 1
    assert len(failures) == THREADS - 1
    assert all(isinstance(f, Conflict) for f in failures), {type(f).__name__ for f in failures}
    with engine.begin() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM binding WHERE ended_at IS NULL")).scalar_one() == 1
        assert c.execute(sa.text("SELECT SUM(held_numbers) FROM subscriber")).scalar_one() == 1
    assert registry.verify_audit(OPERATOR_CLI).intact


def test_twenty_numbers_racing_for_the_last_quota_slot_one_wins(engine: sa.Engine) -> None:
    registry = make_registry(engine)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing")
    registry.import_numbers(OPERATOR_CLI, [n(i) for i in range(40)], source="test")
    for i in range(4):  # quota - 1
        registry.assign_number(
            CLERK, msisdn=n(i), attempt_id="a", id_index=id_index(), iccid=sim(i), outlet_code="BJ-001"
        )

    winners, failures = race(
        lambda i: registry.assign_number(
            CLERK, msisdn=n(10 + i), attempt_id=f"a{i}", id_index=id_index(), iccid=sim(10 + i), outlet_code="BJ-001"
        )
    )

    assert len(winners) == 1
    assert all(isinstance(f, Conflict) for f in failures), {type(f).__name__ for f in failures}
    assert len(registry.held_numbers(CLERK, id_index())) == 5
    assert registry.count_numbers(OPERATOR_CLI)[NumberState.ACTIVE] == 5
    assert registry.verify_audit(OPERATOR_CLI).intact
