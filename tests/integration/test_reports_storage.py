"""Reports over real storage (SQLite, and PostgreSQL when configured): a known stream of store activity comes
back as the right counts per day, week and outlet; refusals by lock-out and full quota are recorded by the flow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.report_repositories import SqlActivityReader, SqlReportsUnitOfWork
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import Actor
from realname.app.reports import Reports, ReportsDeps
from realname.app.verification import Verification
from realname.domain.attempts import Purpose
from realname.domain.errors import Forbidden
from realname.domain.lockout import LockedOut
from realname.domain.numbers import QuotaExceeded
from realname.domain.organisation import Role
from realname.domain.reports import Period, RejectionCategory
from realname.domain.sim import Iccid
from tests.fakes import FixedClock, SequentialIds
from tests.integration.report_world import Stream
from tests.integration.test_attempt_limits import approved_attempt, consented_attempt, make_deps, make_registration
from tests.integration.test_registry_storage import CLERK, make_registry, n

AUDITOR = Actor("staff:auditor-1", Role.AUDITOR, "HQ")
DAY1 = date(2026, 11, 23)
DAY1_MORNING = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 at UTC+8


def reports(engine: sa.Engine) -> Reports:
    return Reports(ReportsDeps(lambda: SqlReportsUnitOfWork(engine), FixedClock(), SequentialIds("r")))


def known_stream(engine: sa.Engine) -> Stream:
    stream = Stream(engine)
    at = DAY1_MORNING
    minute = timedelta(minutes=1)
    registered = [stream.registration(at + i * minute) for i in range(3)]
    stream.rejection(at + 4 * minute, ["face.mismatch"])
    stream.rejection(at + 5 * minute, ["liveness.action_missing"])
    stream.invalid_document(at + 6 * minute)
    stream.refusal(at + 7 * minute, "lockout.active")
    stream.refusal(at + 8 * minute, "quota.exceeded")
    stream.owner_service(at + 9 * minute, "number.surrendered", Purpose.SURRENDER)
    stream.owner_service(at + 10 * minute, "sim.replaced", Purpose.SIM_REPLACEMENT)
    stream.owner_service(at + 11 * minute, "number.reverified", Purpose.REVERIFY)
    stream.registration(at + 12 * minute, outlet="SH-001", clerk="staff:clerk-2")
    stream.registration(at + 13 * minute, outlet="SH-001", clerk="staff:clerk-2")
    stream.registration(at + timedelta(days=1), outlet="SH-001", clerk="staff:clerk-2")
    stream.suspension(at + 14 * minute, registered[0])
    stream.not_mine(at + timedelta(days=1, hours=1), registered[1])
    # Outside the window: the day before and the day after (local time).
    stream.registration(at - timedelta(days=1))
    stream.registration(at + timedelta(days=2))
    return stream


def test_a_known_stream_is_counted_per_day_and_outlet(engine: sa.Engine) -> None:
    known_stream(engine)
    use_case = reports(engine)
    report = use_case.report(AUDITOR, use_case.window(DAY1, DAY1 + timedelta(days=1), Period.DAY))
    cells = {(r.period_start, r.outlet): r for r in report.rows}
    bj = cells[(DAY1, "BJ-001")]
    assert (bj.attempts, bj.approvals, bj.rejections, bj.registrations) == (11, 3, 5, 3)
    assert dict(bj.rejections_by_category) == {
        RejectionCategory.FACE: 1,
        RejectionCategory.LIVENESS: 1,
        RejectionCategory.DOCUMENT: 1,
        RejectionCategory.LOCKOUT: 1,
        RejectionCategory.QUOTA: 1,
    }
    assert bj.approval_rate == 0.375
    assert (bj.surrenders, bj.sim_replacements, bj.reverifications) == (1, 1, 1)
    assert cells[(DAY1, "-")].suspensions == 1
    assert cells[(DAY1, "SH-001")].registrations == 2
    assert cells[(DAY1 + timedelta(days=1), "SH-001")].registrations == 1
    # The "not mine" report counts against the outlet that registered the number, on the day it was made.
    assert cells[(DAY1 + timedelta(days=1), "BJ-001")].not_mine_reports == 1
    assert report.total.registrations == 6 and report.total.not_mine_reports == 1
    assert [r.period_start for r in report.by_period] == [DAY1, DAY1 + timedelta(days=1)]
    assert [r.registrations for r in report.by_period] == [5, 1]
    assert {r.outlet: r.registrations for r in report.by_outlet} == {"-": 0, "BJ-001": 3, "SH-001": 3}
    only_sh = use_case.report(AUDITOR, use_case.window(DAY1, DAY1 + timedelta(days=1), Period.DAY), outlet="sh-001")
    assert {r.outlet for r in only_sh.rows} == {"SH-001"} and only_sh.total.registrations == 3


def test_a_week_collects_its_days(engine: sa.Engine) -> None:
    known_stream(engine)
    use_case = reports(engine)
    report = use_case.report(AUDITOR, use_case.window(DAY1 - timedelta(days=1), DAY1 + timedelta(days=2), Period.WEEK))
    # 2026-11-23 is a Monday: the day before belongs to the previous week.
    assert [(r.period_start, r.registrations) for r in report.by_period] == [
        (date(2026, 11, 16), 1),
        (date(2026, 11, 23), 7),
    ]


def test_reports_are_for_admins_and_auditors_only(engine: sa.Engine) -> None:
    use_case = reports(engine)
    with pytest.raises(Forbidden):
        use_case.report(CLERK, use_case.window(DAY1, DAY1, Period.DAY))


def test_a_full_quota_is_recorded_as_a_refusal_and_reported(engine: sa.Engine) -> None:
    clock = FixedClock(DAY1_MORNING)
    make_registry(engine).add_outlet(Actor("cli:operator", Role.ADMIN, None), "BJ-001", "Beijing Xidan")
    make_registry(engine).import_numbers(Actor("cli:operator", Role.ADMIN, None), [n(i) for i in range(3)], source="t")
    registration = make_registration(engine, clock, max_numbers_per_id=1)
    first = approved_attempt(engine, clock, "att-1")
    registration.complete_registration(
        CLERK, first, msisdn=n(0), iccid=Iccid.parse("89860012345678901238"), idempotency_key="key-00001"
    )
    second = approved_attempt(engine, clock, "att-2")
    with pytest.raises(QuotaExceeded):
        registration.complete_registration(
            CLERK, second, msisdn=n(1), iccid=Iccid.parse("89860012345678901246"), idempotency_key="key-00002"
        )
    use_case = reports(engine)
    report = use_case.report(AUDITOR, use_case.window(DAY1, DAY1, Period.DAY))
    assert report.total.registrations == 1
    assert report.total.rejections_by_category[RejectionCategory.QUOTA] == 1


def test_a_lock_out_is_recorded_as_a_refusal_and_reported(engine: sa.Engine) -> None:
    clock = FixedClock(DAY1_MORNING)
    make_registry(engine).add_outlet(Actor("cli:operator", Role.ADMIN, None), "BJ-001", "Beijing Xidan")
    attempt_id = consented_attempt(engine, clock)
    with SqlUnitOfWork(engine) as uow:
        for i in range(5):  # five failed checks on this kiosk within the window lock it
            uow.failures.add(f"f{i}", None, "kiosk-1", clock.now() - timedelta(minutes=i))
        uow.commit()
    with pytest.raises(LockedOut):
        Verification(make_deps(engine, clock)).issue_challenge(CLERK, attempt_id)
    use_case = reports(engine)
    report = use_case.report(AUDITOR, use_case.window(DAY1, DAY1, Period.DAY))
    assert report.total.rejections_by_category[RejectionCategory.LOCKOUT] == 1


def test_events_are_read_in_time_order_across_audit_chains_page_by_page(engine: sa.Engine) -> None:
    """Sequence numbers count within a chain (migration 0008): paging must not skip another chain's events."""
    stream = Stream(engine)
    for i in range(4):
        stream.registration(DAY1_MORNING + timedelta(minutes=2 * i))
    with engine.begin() as c:
        for i in range(4):  # a second chain's events, interleaved in time with the first chain's
            c.execute(
                sa.insert(t.audit_event).values(
                    chain=1,
                    seq=i + 1,
                    occurred_at=DAY1_MORNING + timedelta(minutes=2 * i + 1),
                    action="number.surrendered",
                    actor="staff:clerk-9",
                    outlet="BJ-001",
                    subject="sub:z",
                    details="{}",
                    prev_hash="0" * 64,
                    hash=f"{i:064d}",
                )
            )
    with engine.connect() as c:
        read = list(
            SqlActivityReader(c, batch_size=3).events(
                DAY1_MORNING, DAY1_MORNING + timedelta(hours=1), ["number.assigned", "number.surrendered"]
            )
        )
    assert [e.action for e in read] == ["number.assigned", "number.surrendered"] * 4
    assert [e.occurred_at for e in read] == sorted(e.occurred_at for e in read)
