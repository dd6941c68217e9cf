"""Reports for auditors and regulators: per day or week and per outlet, from the activity the audit log records.

The storage adapter reads the rows (audit events of the counted actions, the attempts they name, "not mine"
reports with the outlet that registered the number); :func:`realname.domain.reports.build_report` counts them.
Reports hold aggregates and masked references only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from realname.app.actors import Actor
from realname.app.ports import Clock, IdGenerator
from realname.app.unit_of_work import AuditLog, ReviewRepository, Transaction
from realname.domain.audit import AuditEvent
from realname.domain.organisation import Role
from realname.domain.reports import (
    ACTIONS,
    Activity,
    AttemptFacts,
    NotMineReport,
    Period,
    Report,
    ReportWindow,
    activities_from_events,
    build_report,
)

if TYPE_CHECKING:
    from realname.app.anomalies import AnomalyCases

LOOKBACK = timedelta(hours=2)
"""Read this far before a window, so a registration finds the document its attempt checked earlier (an
attempt lives 30 minutes by default)."""

REPORT_ROLES = (Role.ADMIN, Role.AUDITOR, Role.REGULATOR)
"""Reports hold counts only, so regulators read them too (and nothing else)."""


class ActivityReader(Protocol):
    def events(self, start: datetime, end: datetime, actions: Sequence[str] | None) -> Iterator[AuditEvent]:
        """Audit events (with one of ``actions``, unless None) that occurred in ``[start, end)``, in time order."""
        ...

    def attempts(self, start: datetime, end: datetime) -> Mapping[str, AttemptFacts]:
        """Attempts created in ``[start, end)`` by id."""
        ...

    def not_mine_reports(self, start: datetime, end: datetime) -> Sequence[NotMineReport]:
        """ "Not mine" reports made in ``[start, end)`` with the outlet of the reported number's binding."""
        ...


class ReportsUnitOfWork(Transaction, Protocol):
    activity: ActivityReader
    anomaly_cases: AnomalyCases
    reviews: ReviewRepository
    audit: AuditLog


class ReportsUnitOfWorkFactory(Protocol):
    def __call__(self) -> ReportsUnitOfWork: ...


@dataclass(frozen=True, slots=True)
class ReportsDeps:
    uow: ReportsUnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    utc_offset_hours: float = 8.0


def read_activities(uow: ReportsUnitOfWork, start: datetime, end: datetime) -> list[Activity]:
    """Activities from ``start - LOOKBACK`` to ``end`` (callers count only those inside their window)."""
    attempts = uow.activity.attempts(start - LOOKBACK, end)
    return activities_from_events(uow.activity.events(start - LOOKBACK, end, ACTIONS), attempts)


class Reports:
    """Read-only figures for admins and auditors."""

    def __init__(self, deps: ReportsDeps) -> None:
        self._d = deps

    def window(self, first_day: date, last_day: date, period: Period) -> ReportWindow:
        """Days ``[first_day, last_day]`` at the deployment's UTC offset.

        Raises:
            InvalidInput: ``report.range`` — the days are reversed or span more than a year.
        """
        return ReportWindow(first_day, last_day, period, self._d.utc_offset_hours)

    def recent_window(self, days: int, period: Period) -> ReportWindow:
        """The ``days`` local days up to and including today."""
        today = self._d.clock.now().astimezone(timezone(timedelta(hours=self._d.utc_offset_hours))).date()
        return self.window(today - timedelta(days=max(1, days) - 1), today, period)

    def report(self, actor: Actor, window: ReportWindow, *, outlet: str | None = None) -> Report:
        """Counts per period and outlet (one outlet's with ``outlet``).

        Raises:
            Forbidden: the actor is not an admin, auditor or regulator.
        """
        actor.require(*REPORT_ROLES)
        with self._d.uow() as uow:
            activities = read_activities(uow, window.start, window.end)
            not_mine = uow.activity.not_mine_reports(window.start, window.end)
        return build_report(window, activities, not_mine, outlet=outlet.strip().upper() if outlet else None)
