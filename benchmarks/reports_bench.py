"""How long a report and an anomaly run take over a synthetic fortnight of store activity (SQLite or PostgreSQL).

Writes ``--per-day`` registrations a day for ``--days`` days at ``--outlets`` outlets (each: an attempt row and
its five audit events, appended through the real audit log), then times:

- ``Reports.report`` over the last 7 days (per day) and over the whole span (per week);
- ``AnomalyDetection.run`` over the last 24 hours (it reads the 14 days before as the burst baseline).

    PYTHONPATH=src python benchmarks/reports_bench.py --per-day 2000 --days 15
    PYTHONPATH=src python benchmarks/reports_bench.py --database-url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from realname.adapters.storage.database import create_database_engine
from realname.adapters.storage.migrate import upgrade
from realname.adapters.storage.report_repositories import SqlReportsUnitOfWork
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.adapters.system import Uuid4Ids
from realname.app.actors import SYSTEM
from realname.app.anomalies import AnomalyDeps, AnomalyDetection
from realname.app.reports import Reports, ReportsDeps
from realname.config import ReportSettings
from realname.domain.attempts import Attempt, Purpose
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.organisation import Outlet, OutletCode
from realname.domain.reports import Period

START = datetime(2026, 11, 1, 1, 0, tzinfo=UTC)  # 09:00 at UTC+8


class Clock:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def fill(engine: sa.Engine, per_day: int, days: int, outlets: int) -> int:
    codes = [f"O-{i:03d}" for i in range(outlets)]
    with SqlUnitOfWork(engine) as uow:
        for code in codes:
            uow.outlets.add(Outlet(OutletCode(code), code, START))
        uow.commit()
    events = 0
    step = timedelta(hours=11) / per_day  # spread over opening hours
    for day in range(days):
        with SqlUnitOfWork(engine) as uow:
            for i in range(per_day):
                at = START + timedelta(days=day) + step * i
                outlet = codes[i % outlets]
                clerk = f"staff:{outlet}-{i % 3}"
                attempt = Attempt.start(f"a-{day}-{i}", Purpose.REGISTER, outlet, clerk, f"t-{outlet}", at, 30)
                uow.attempts.add(attempt)
                subject = f"sub:{day:03d}{i:08d}"
                steps: tuple[tuple[str, dict[str, JsonValue]], ...] = (
                    ("attempt.started", {"purpose": "register", "device": f"t-{outlet}"}),
                    ("document.checked", {"kind": "cn_resident", "valid": True, "reasons": [], "region": "11"}),
                    ("consent.accepted", {"version": "v1"}),
                    ("verification.decided", {"outcome": "approved", "reasons": [], "similarity": 0.6}),
                    ("number.assigned", {"number": "139****0000"}),
                )
                for action, details in steps:
                    uow.audit.append(
                        AuditRecord(action, clerk, outlet, subject, {"attempt": attempt.id, **details}), at
                    )
                    events += 1
            uow.commit()
    return events


def timed(label: str, work: object) -> float:
    began = time.perf_counter()
    result = work() if callable(work) else None
    elapsed = time.perf_counter() - began
    print(f"{label:<44} {elapsed * 1000:9.0f} ms   {result}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-day", type=int, default=2000)
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument("--outlets", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="reports-bench-")
    engine = create_database_engine(args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}")
    upgrade(engine)
    began = time.perf_counter()
    events = fill(engine, args.per_day, args.days, args.outlets)
    print(
        f"wrote {events:,} audit events ({args.per_day:,} registrations/day, {args.days} days, "
        f"{args.outlets} outlets) in {time.perf_counter() - began:.1f} s; load {os.getloadavg()[0]:.1f}"
    )
    end = START + timedelta(days=args.days)
    clock = Clock(end)
    settings = ReportSettings()

    def uow() -> SqlReportsUnitOfWork:
        return SqlReportsUnitOfWork(engine)

    reports = Reports(ReportsDeps(uow, clock, Uuid4Ids(), settings.utc_offset_hours))
    detection = AnomalyDetection(AnomalyDeps(uow, clock, Uuid4Ids(), settings.rules()))
    last = (end - timedelta(hours=12)).astimezone(reports.window(end.date(), end.date(), Period.DAY).zone).date()
    week = reports.window(last - timedelta(days=6), last, Period.DAY)
    span = reports.window(last - timedelta(days=args.days - 1), last, Period.WEEK)
    timed("report, 7 days per day", lambda: reports.report(SYSTEM, week).total.registrations)
    timed(f"report, {args.days} days per week", lambda: reports.report(SYSTEM, span).total.registrations)
    timed("anomaly run, last 24 h (14-day baseline)", lambda: len(detection.run(SYSTEM).hits))
    print(f"load {os.getloadavg()[0]:.1f}")
    engine.dispose()


if __name__ == "__main__":
    main()
