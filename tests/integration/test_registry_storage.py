"""The registry's use cases on real databases: one suite, run on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from realname.adapters.storage.repositories import SqlNumberRepository
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.registry import IMPORT_BATCH, Registry, RegistryDeps
from realname.app.unit_of_work import UnitOfWorkFactory
from realname.domain.errors import Conflict, Forbidden, NotFound
from realname.domain.numbers import Msisdn, NumberState, NumberUnavailable, PhoneNumber, QuotaExceeded
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from realname.domain.subscribers import BlindIndex
from tests.fakes import FakeBlindIndexer, FixedClock, FixedRandom, PlainFakeHasher, ReversibleFakeCipher, SequentialIds
from tests.integration.tamper import drop_audit_guards

CLERK = Actor("staff:clerk-1", Role.CLERK, "BJ-001")
OTHER_CLERK = Actor("staff:clerk-2", Role.CLERK, "SH-001")


def make_registry(
    engine: sa.Engine, clock: FixedClock | None = None, *, uow: UnitOfWorkFactory | None = None, **policy: Any
) -> Registry:
    return Registry(
        RegistryDeps(
            uow=uow or (lambda: SqlUnitOfWork(engine)),
            clock=clock or FixedClock(),
            ids=SequentialIds(),
            random=FixedRandom(),
            policy=Policy(**policy),
            cipher=ReversibleFakeCipher(),
            blind_index=FakeBlindIndexer(),
            hasher=PlainFakeHasher(),
        )
    )


def id_index(id_number: str = "11010519491231002X") -> BlindIndex:
    return BlindIndex(FakeBlindIndexer().index(id_number))


def n(i: int) -> Msisdn:
    return Msisdn(f"1380013{i:04d}")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def registry(engine: sa.Engine, clock: FixedClock) -> Registry:
    registry = make_registry(engine, clock)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.add_outlet(OPERATOR_CLI, "SH-001", "Shanghai Nanjing Road")
    registry.import_numbers(OPERATOR_CLI, [n(i) for i in range(20)], source="test")
    return registry


def sim(i: int) -> str:
    """A distinct ICCID per number: one SIM is on at most one live binding."""
    return f"8986001234{i:010d}"


def assign(registry: Registry, i: int, who: str = "11010519491231002X", attempt: str = "a1") -> None:
    registry.assign_number(
        CLERK,
        msisdn=n(i),
        attempt_id=attempt,
        id_index=id_index(who),
        iccid=sim(i),
        outlet_code="BJ-001",
    )


def test_import_adds_only_new_numbers(registry: Registry) -> None:
    offered, added = registry.import_numbers(OPERATOR_CLI, [n(19), n(20), n(21)], source="test")
    assert (offered, added) == (3, 2)
    assert registry.count_numbers(OPERATOR_CLI)[NumberState.AVAILABLE] == 22


class CountingNumberRepository(SqlNumberRepository):
    """The real repository, counting how many numbers have been handed to the database so far."""

    written = 0

    def add_many(self, numbers: Sequence[PhoneNumber]) -> int:
        CountingNumberRepository.written += len(numbers)
        return super().add_many(numbers)


class CountingUnitOfWork(SqlUnitOfWork):
    def _bind(self, c: sa.Connection) -> None:
        super()._bind(c)
        self.numbers = CountingNumberRepository(c)


def test_a_large_import_is_streamed_in_batches_not_built_in_memory(engine: sa.Engine) -> None:
    registry = make_registry(engine, uow=lambda: CountingUnitOfWork(engine))
    CountingNumberRepository.written = 0
    largest_lead = 0

    def numbers() -> Iterator[Msisdn]:
        nonlocal largest_lead
        for i in range(12_001):
            largest_lead = max(largest_lead, i - CountingNumberRepository.written)
            yield Msisdn(f"139{i:08d}")

    assert registry.import_numbers(OPERATOR_CLI, numbers(), source="test") == (12_001, 12_001)
    assert largest_lead <= IMPORT_BATCH  # never more than one batch read ahead of what was written
    assert registry.count_numbers(OPERATOR_CLI)[NumberState.AVAILABLE] == 12_001


def test_list_filters_by_state_and_prefix_and_pages(registry: Registry) -> None:
    assign(registry, 3)
    first = registry.list_numbers(OPERATOR_CLI, state=NumberState.AVAILABLE, prefix="138001300", limit=5)
    assert [str(x.msisdn) for x in first] == ["13800130000", "13800130001", "13800130002", "13800130004", "13800130005"]
    page2 = registry.list_numbers(OPERATOR_CLI, state=NumberState.AVAILABLE, limit=3, after="13800130005")
    assert [str(x.msisdn) for x in page2] == ["13800130006", "13800130007", "13800130008"]
    assert [x.state for x in registry.list_numbers(OPERATOR_CLI, state=NumberState.ACTIVE)] == [NumberState.ACTIVE]


def test_assignment_binds_number_and_counts_toward_quota(registry: Registry) -> None:
    assign(registry, 0)
    held = registry.held_numbers(CLERK, id_index())
    assert [b.msisdn for b in held] == [n(0)]
    assert registry.list_numbers(OPERATOR_CLI, prefix="13800130000")[0].state is NumberState.ACTIVE


def test_rejects_sixth_number_for_same_id(registry: Registry) -> None:
    for i in range(5):
        assign(registry, i)
    with pytest.raises(QuotaExceeded):
        assign(registry, 5)
    assert registry.list_numbers(OPERATOR_CLI, prefix="13800130005")[0].state is NumberState.AVAILABLE
    assign(registry, 5, who="110105194912310037")


def test_quota_limit_comes_from_policy(engine: sa.Engine, registry: Registry) -> None:
    strict = make_registry(engine, max_numbers_per_id=2)
    for i in range(2):
        strict.assign_number(
            CLERK, msisdn=n(i), attempt_id="a", id_index=id_index(), iccid=sim(i), outlet_code="BJ-001"
        )
    with pytest.raises(QuotaExceeded):
        strict.assign_number(
            CLERK, msisdn=n(2), attempt_id="a", id_index=id_index(), iccid=sim(2), outlet_code="BJ-001"
        )


def test_taken_number_cannot_be_assigned_again(registry: Registry) -> None:
    assign(registry, 0)
    with pytest.raises(NumberUnavailable):
        assign(registry, 0, who="110105194912310037")


def test_database_refuses_a_second_active_binding(registry: Registry, engine: sa.Engine) -> None:
    assign(registry, 0)
    with engine.begin() as c:
        subscriber_id = c.execute(sa.text("SELECT id FROM subscriber")).scalar_one()
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO binding (id, msisdn, subscriber_id, iccid, outlet_code, started_at) "
                "VALUES ('dup', '13800130000', :s, '89860099999999999999', 'BJ-001', CURRENT_TIMESTAMP)"
            ),
            {"s": subscriber_id},
        )


def test_database_refuses_negative_held_numbers(registry: Registry, engine: sa.Engine) -> None:
    assign(registry, 0)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as c:
        c.execute(sa.text("UPDATE subscriber SET held_numbers = -1"))


def test_reservation_holds_number_for_its_attempt(registry: Registry, clock: FixedClock) -> None:
    registry.reserve_number(CLERK, n(1), "attempt-A")
    with pytest.raises(NumberUnavailable):
        registry.reserve_number(CLERK, n(1), "attempt-B")
    with pytest.raises(NumberUnavailable):
        assign(registry, 1, attempt="attempt-B")
    clock.advance(seconds=601)
    registry.reserve_number(CLERK, n(1), "attempt-B")
    assign(registry, 1, attempt="attempt-B")


def test_released_reservation_frees_the_number(registry: Registry) -> None:
    registry.reserve_number(CLERK, n(1), "attempt-A")
    registry.release_number(CLERK, n(1), "attempt-A")
    assign(registry, 1, attempt="attempt-B")


def test_surrender_cools_off_then_recycles(registry: Registry, clock: FixedClock) -> None:
    assign(registry, 0)
    registry.end_service(CLERK, n(0), id_index(), cancel=False, reason="customer request")
    assert registry.held_numbers(CLERK, id_index()) == []
    with pytest.raises(NumberUnavailable):
        assign(registry, 0, who="110105194912310037")
    clock.advance(days=89)
    assert registry.recycle_cooled_numbers(OPERATOR_CLI) == 0
    clock.advance(days=1)
    assert registry.recycle_cooled_numbers(OPERATOR_CLI) == 1
    assign(registry, 0, who="110105194912310037")


def test_surrender_frees_a_quota_slot(registry: Registry) -> None:
    for i in range(5):
        assign(registry, i)
    registry.end_service(CLERK, n(2), id_index(), cancel=False, reason="customer request")
    assign(registry, 10)


def test_only_the_owner_can_surrender(registry: Registry) -> None:
    assign(registry, 0)
    with pytest.raises(NotFound):
        registry.end_service(CLERK, n(0), id_index("110105194912310037"), cancel=False, reason="x")


def test_suspended_number_still_counts_and_can_be_reinstated(registry: Registry) -> None:
    assign(registry, 0)
    registry.suspend_number(Actor("staff:rev", Role.REVIEWER, "BJ-001"), n(0), "reported not mine")
    assert registry.list_numbers(OPERATOR_CLI, prefix="13800130000")[0].state is NumberState.SUSPENDED
    assert len(registry.held_numbers(CLERK, id_index())) == 1
    registry.reinstate_number(CLERK, n(0), "owner re-verified")
    assert registry.list_numbers(OPERATOR_CLI, prefix="13800130000")[0].state is NumberState.ACTIVE


def test_clerk_cannot_act_for_another_outlet(registry: Registry) -> None:
    with pytest.raises(Forbidden):
        registry.assign_number(
            OTHER_CLERK, msisdn=n(0), attempt_id="a", id_index=id_index(), iccid="1", outlet_code="BJ-001"
        )


def test_clerk_cannot_import_numbers(registry: Registry) -> None:
    with pytest.raises(Forbidden):
        registry.import_numbers(CLERK, [n(50)], source="x")


def test_duplicate_outlet_is_a_conflict(registry: Registry) -> None:
    with pytest.raises(Conflict):
        registry.add_outlet(OPERATOR_CLI, "BJ-001", "again")


def test_staff_needs_an_existing_outlet_and_name_is_stored_encrypted(registry: Registry, engine: sa.Engine) -> None:
    with pytest.raises(NotFound):
        registry.add_staff(OPERATOR_CLI, "Wang Fang", Role.CLERK, "XX-999", password_change_required=False)
    created = registry.add_staff(OPERATOR_CLI, "Wang Fang", Role.CLERK, "BJ-001", password_change_required=False)
    with engine.begin() as c:
        row = c.execute(sa.text("SELECT name_ciphertext, credential_hash FROM staff")).one()
    assert b"Wang Fang" not in bytes(row.name_ciphertext)
    assert created.password not in row.credential_hash


def test_every_change_is_in_the_audit_chain(registry: Registry, engine: sa.Engine) -> None:
    assign(registry, 0)
    result = registry.verify_audit(OPERATOR_CLI)
    assert result.intact and result.events_checked == 4  # 2 outlets, 1 import, 1 assignment
    with engine.begin() as c:
        subjects = [r[0] for r in c.execute(sa.text("SELECT subject FROM audit_event ORDER BY seq"))]
        details = " ".join(r[0] for r in c.execute(sa.text("SELECT details FROM audit_event")))
    assert subjects[-1].startswith("sub:")
    assert "11010519491231002X" not in details and "13800130000" not in details


def test_failed_use_case_leaves_no_audit_event(registry: Registry) -> None:
    before = registry.verify_audit(OPERATOR_CLI).events_checked
    with pytest.raises(NumberUnavailable):
        assign(registry, 0)
        assign(registry, 0, who="110105194912310037")
    assert registry.verify_audit(OPERATOR_CLI).events_checked == before + 1


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit_event SET actor = 'staff:evil' WHERE seq = 2", 2),
        ("DELETE FROM audit_event WHERE seq = 2", 2),
        ("DELETE FROM audit_event WHERE seq = 4", 4),
        ("UPDATE audit_event SET seq = 99 WHERE seq = 3", 3),
        (
            "INSERT INTO audit_event (seq, occurred_at, action, actor, outlet, subject, details, prev_hash, hash) "
            "SELECT 5, occurred_at, action, actor, outlet, subject, details, prev_hash, hash FROM audit_event WHERE seq = 1",
            5,
        ),
    ],
    ids=["edit", "delete-middle", "delete-last", "reorder", "insert"],
)
def test_audit_verify_names_the_first_tampered_event(
    registry: Registry, engine: sa.Engine, tamper: str, first_bad: int
) -> None:
    assign(registry, 0)
    assert registry.verify_audit(OPERATOR_CLI).intact
    with engine.begin() as c:
        drop_audit_guards(c)  # the database owner's rights: the service cannot do this
        c.execute(sa.text(tamper))
    result = registry.verify_audit(OPERATOR_CLI)
    assert not result.intact
    assert result.first_bad_seq == first_bad


def test_swapped_events_are_detected(registry: Registry, engine: sa.Engine) -> None:
    assign(registry, 0)
    with engine.begin() as c:
        drop_audit_guards(c)
        c.execute(sa.text("UPDATE audit_event SET seq = 100 WHERE seq = 2"))
        c.execute(sa.text("UPDATE audit_event SET seq = 2 WHERE seq = 3"))
        c.execute(sa.text("UPDATE audit_event SET seq = 3 WHERE seq = 100"))
    assert registry.verify_audit(OPERATOR_CLI).first_bad_seq == 2


def test_timestamps_round_trip_as_aware_utc(registry: Registry, clock: FixedClock) -> None:
    registry.reserve_number(CLERK, n(1), "attempt-A")
    number = registry.list_numbers(OPERATOR_CLI, prefix="13800130001")[0]
    assert number.reserved_until == clock.now() + timedelta(seconds=600)
    assert number.reserved_until is not None and number.reserved_until.utcoffset() == timedelta(0)
