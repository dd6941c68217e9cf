"""Integrity the database itself enforces, attacked directly, on SQLite and PostgreSQL: one SIM per live
binding, concurrent retries with one Idempotency-Key, and an audit log that refuses edits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.database import create_database_engine
from realname.adapters.storage.migrate import upgrade
from realname.adapters.storage.privacy_repositories import audit_checkpoint
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import OPERATOR_CLI
from realname.app.attempts import Receipt
from realname.domain.audit import AuditRecord
from realname.domain.errors import Conflict, DependencyUnavailable
from realname.domain.sim import Iccid
from tests.fakes import FixedClock, SequentialIds
from tests.integration.conftest import _postgres_engine
from tests.integration.test_attempt_limits import approved_attempt, make_registration
from tests.integration.test_concurrency import race
from tests.integration.test_registry_storage import CLERK, id_index, make_registry, n

SIM = "89860012345678901238"


@pytest.fixture
def pool(engine: sa.Engine) -> sa.Engine:
    registry = make_registry(engine)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [n(i) for i in range(30)], source="test")
    return engine


# -- one SIM, one live binding ------------------------------------------------------------------


def test_a_sim_bound_to_one_number_is_refused_for_another_with_sim_in_use(pool: sa.Engine) -> None:
    registry = make_registry(pool)
    registry.assign_number(CLERK, msisdn=n(0), attempt_id="a", id_index=id_index(), iccid=SIM, outlet_code="BJ-001")
    with pytest.raises(Conflict) as caught:
        registry.assign_number(
            CLERK, msisdn=n(1), attempt_id="b", id_index=id_index("110105194912310037"), iccid=SIM, outlet_code="BJ-001"
        )
    assert caught.value.code == "sim.in_use"
    with pool.begin() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM binding")).scalar_one() == 1
        assert c.execute(sa.text("SELECT held_numbers FROM subscriber WHERE held_numbers > 0")).scalar_one() == 1


def test_the_database_refuses_a_second_live_binding_of_one_sim(pool: sa.Engine) -> None:
    make_registry(pool).assign_number(
        CLERK, msisdn=n(0), attempt_id="a", id_index=id_index(), iccid=SIM, outlet_code="BJ-001"
    )
    with pool.begin() as c:
        subscriber_id = c.execute(sa.text("SELECT id FROM subscriber")).scalar_one()
    with pytest.raises(sa.exc.IntegrityError), pool.begin() as c:
        c.execute(
            t.binding.insert().values(
                id="by-hand",
                msisdn=str(n(1)),
                subscriber_id=subscriber_id,
                iccid=SIM,
                outlet_code="BJ-001",
                started_at=FixedClock().now(),
            )
        )


def test_a_sim_is_free_again_once_its_binding_ended(pool: sa.Engine) -> None:
    registry = make_registry(pool)
    registry.assign_number(CLERK, msisdn=n(0), attempt_id="a", id_index=id_index(), iccid=SIM, outlet_code="BJ-001")
    registry.end_service(CLERK, n(0), id_index(), cancel=False, reason="customer request")
    registry.assign_number(CLERK, msisdn=n(1), attempt_id="b", id_index=id_index(), iccid=SIM, outlet_code="BJ-001")


def test_twenty_registrations_racing_with_one_sim_one_wins(pool: sa.Engine) -> None:
    registry = make_registry(pool)
    winners, failures = race(
        lambda i: registry.assign_number(
            CLERK,
            msisdn=n(i),
            attempt_id=f"a{i}",
            id_index=id_index(f"{110105194912310000 + i}"),
            iccid=SIM,
            outlet_code="BJ-001",
        )
    )
    assert len(winners) == 1
    assert {getattr(f, "code", type(f).__name__) for f in failures} == {"sim.in_use"}
    with pool.begin() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM binding WHERE ended_at IS NULL")).scalar_one() == 1
        assert c.execute(sa.text("SELECT SUM(held_numbers) FROM subscriber")).scalar_one() == 1
        assert c.execute(sa.text("SELECT COUNT(*) FROM number WHERE state = 'active'")).scalar_one() == 1


# -- concurrent retries with one Idempotency-Key ------------------------------------------------


class SlowFirstIds(SequentialIds):
    """The first id is handed out slowly, so the first registration holds its transaction open while the
    retry arrives (what a slow disk or a busy database does)."""

    def __init__(self) -> None:
        super().__init__()
        self._first = threading.Lock()
        self._slowed = False

    def new_id(self) -> str:
        with self._first:
            slow, self._slowed = not self._slowed, True
        if slow:
            time.sleep(0.5)
        return super().new_id()


def test_two_retries_at_once_with_one_idempotency_key_both_get_the_receipt(pool: sa.Engine) -> None:
    clock = FixedClock()
    registration = make_registration(pool, clock, ids=SlowFirstIds())
    attempt_id = approved_attempt(pool, clock, "att-1")
    receipts: list[Receipt] = []
    failures: list[Exception] = []
    barrier = threading.Barrier(2)

    def retry(delay_seconds: float) -> None:
        barrier.wait()
        time.sleep(delay_seconds)  # the second request arrives while the first is still inside
        try:
            receipts.append(
                registration.complete_registration(
                    CLERK, attempt_id, msisdn=n(3), iccid=Iccid.parse(SIM), idempotency_key="register-0001"
                )
            )
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=retry, args=(delay,)) for delay in (0.0, 0.15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(receipts) == 2 and receipts[0] == receipts[1]
    with pool.begin() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM binding")).scalar_one() == 1
        assert c.execute(sa.text("SELECT COUNT(*) FROM idempotency_key")).scalar_one() == 1


# -- the audit log is append-only in the database -----------------------------------------------


def _audited(engine: sa.Engine, count: int = 3) -> None:
    clock = FixedClock()
    with SqlUnitOfWork(engine) as uow:
        for i in range(count):
            uow.audit.append(AuditRecord(f"test.event{i}", "cli:operator", None, None), clock.now())
        uow.commit()
    with engine.begin() as c:
        head_hash = c.execute(sa.select(t.audit_head.c.last_hash).where(t.audit_head.c.chain == 0)).scalar_one()
        c.execute(
            audit_checkpoint.insert().values(
                seq=count, last_hash=head_hash, created_at=clock.now(), key_id="k", signature=b"s" * 64
            )
        )


def _refused(engine: sa.Engine, statement: str) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught, engine.begin() as c:
        c.execute(sa.text(statement))
    text = str(caught.value.orig).lower()
    assert "append-only" in text or "audit_head" in text, text


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'staff:evil' WHERE seq = 2",
        "DELETE FROM audit_event WHERE seq = 3",
        "DELETE FROM audit_event",
        "UPDATE audit_checkpoint SET last_hash = 'x'",
        "DELETE FROM audit_checkpoint",
        "UPDATE audit_head SET last_seq = 2",
        "UPDATE audit_head SET last_seq = 4, last_hash = 'forged'",
        "DELETE FROM audit_head",
    ],
    ids=[
        "edit-event",
        "delete-event",
        "delete-all-events",
        "edit-checkpoint",
        "delete-checkpoints",
        "head-backwards",
        "head-to-nowhere",
        "delete-head",
    ],
)
def test_the_database_refuses_to_change_the_audit_log(engine: sa.Engine, statement: str) -> None:
    _audited(engine)
    _refused(engine, statement)
    with engine.begin() as c:
        assert c.execute(sa.text("SELECT COUNT(*) FROM audit_event")).scalar_one() == 3
        assert c.execute(sa.text("SELECT last_seq FROM audit_head WHERE chain = 0")).scalar_one() == 3
        assert c.execute(sa.text("SELECT COUNT(*) FROM audit_checkpoint")).scalar_one() == 1
    assert make_registry(engine).verify_audit(OPERATOR_CLI).intact


@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint", "audit_head"])
def test_the_database_refuses_to_empty_an_audit_table(engine: sa.Engine, table: str) -> None:
    _audited(engine)
    # PostgreSQL's TRUNCATE bypasses row triggers, so it has a statement trigger of its own; SQLite has
    # no TRUNCATE (its "truncate optimisation" of DELETE is disabled by the triggers).
    _refused(engine, f"TRUNCATE {table} CASCADE" if engine.dialect.name == "postgresql" else f"DELETE FROM {table}")


def test_appending_still_works_with_the_guards_in_place(engine: sa.Engine) -> None:
    _audited(engine, 5)
    registry = make_registry(engine)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    result = registry.verify_audit(OPERATOR_CLI)
    assert result.intact and result.events_checked == 6


# -- upgrading a database written before these guarantees ---------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at_0003(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A database at the revision before 0004_integrity."""
    if request.param == "sqlite":
        created = create_database_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(created, "0003")
        yield created
        created.dispose()
        return
    for created in _postgres_engine():
        upgrade(created, "0003")
        yield created


def test_upgrading_a_database_with_one_sim_on_two_numbers_is_refused_until_it_is_fixed(
    engine_at_0003: sa.Engine,
) -> None:
    # Rows as a 0003-era service could write them (the service of today needs the newer schema).
    now = FixedClock().now()
    with engine_at_0003.begin() as c:
        c.execute(t.outlet.insert().values(code="BJ-001", name="Beijing Xidan", created_at=now))
        for i, who in enumerate(("11010519491231002X", "110105194912310037")):
            c.execute(t.number.insert().values(msisdn=str(n(i)), state="active", version=1))
            c.execute(
                t.subscriber.insert().values(id=f"s{i}", id_index=id_index(who).value, held_numbers=1, created_at=now)
            )
            c.execute(
                t.binding.insert().values(
                    id=f"b{i}", msisdn=str(n(i)), subscriber_id=f"s{i}", iccid=SIM, outlet_code="BJ-001", started_at=now
                )
            )
    registry = make_registry(engine_at_0003)
    with pytest.raises(DependencyUnavailable) as caught:
        upgrade(engine_at_0003)
    assert caught.value.code == "database.migration_refused" and "1 SIM cards" in caught.value.message
    with engine_at_0003.begin() as c:  # nothing of 0004 was applied
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == "0003"
        c.execute(t.binding.update().where(t.binding.c.msisdn == str(n(1))).values(ended_at=FixedClock().now()))
    upgrade(engine_at_0003)
    with pytest.raises(Conflict):
        registry.assign_number(
            CLERK, msisdn=n(1), attempt_id="a2", id_index=id_index(), iccid=SIM, outlet_code="BJ-001"
        )
