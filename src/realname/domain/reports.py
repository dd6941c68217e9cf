"""Regulator reports: what happened at each outlet per day or week, from the activity the audit log records.

Activities are read from audit events (the record of every action, with its time, outlet and actor) and the
attempts they name; they carry masked references only (``sub:…`` blind-index references, masked numbers), so
every figure here is an aggregate and no personal data reaches a report.

Counted per period and outlet:

- ``attempts``: store attempts started (any purpose);
- ``approvals``: verifications approved; ``rejections``: verifications rejected, ID documents refused in an
  attempt, and steps refused because the ID or the kiosk was locked out or the ID's quota was full — each
  in one category (``document``; ``face``: the face did not match the ID photo; ``liveness``, with suspected
  spoofs; ``quota``; ``lockout``; ``other``, e.g. a capture too poor to analyse);
  ``approval_rate`` = approvals / (approvals + rejections);
- ``registrations``, ``surrenders``, ``sim_replacements``, ``suspensions``, ``reverifications``;
- ``not_mine_reports``: "not mine" reports on numbers *registered at* the outlet (the outlet that served the
  number, not the subscriber's page the report came from).
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone

from realname.domain.attempts import ReasonCategory, categorise
from realname.domain.audit import AuditEvent, JsonValue
from realname.domain.errors import InvalidInput

MAX_REPORT_DAYS = 366
NO_OUTLET = "-"
"""The outlet key of activity recorded without an outlet (e.g. an admin's suspension from the console)."""


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"


def parse_period(text: str) -> Period:
    """Raises InvalidInput (``report.period``) for anything but ``day`` or ``week``."""
    try:
        return Period(text.strip().lower())
    except ValueError:
        raise InvalidInput("a report period is day or week", code="report.period") from None


class ActivityKind(enum.StrEnum):
    ATTEMPT_STARTED = "attempt_started"
    APPROVED = "approved"
    REJECTED = "rejected"
    REGISTERED = "registered"
    SURRENDERED = "surrendered"
    SIM_REPLACED = "sim_replaced"
    SUSPENDED = "suspended"
    REVERIFIED = "reverified"


class RejectionCategory(enum.StrEnum):
    DOCUMENT = "document"
    FACE = "face"
    LIVENESS = "liveness"
    QUOTA = "quota"
    LOCKOUT = "lockout"
    OTHER = "other"


_FROM_REASON_CATEGORY = {
    ReasonCategory.DOCUMENT: RejectionCategory.DOCUMENT,
    ReasonCategory.FACE_MISMATCH: RejectionCategory.FACE,
    ReasonCategory.CAPTURE_QUALITY: RejectionCategory.OTHER,
    ReasonCategory.LIVENESS: RejectionCategory.LIVENESS,
    ReasonCategory.SPOOF: RejectionCategory.LIVENESS,
    ReasonCategory.LOCKED: RejectionCategory.LOCKOUT,
    ReasonCategory.POLICY: RejectionCategory.OTHER,
}

REFUSAL_CATEGORIES = {"lockout.active": RejectionCategory.LOCKOUT, "quota.exceeded": RejectionCategory.QUOTA}
"""The error codes of the refused steps the registration flow records (``attempt.refused``)."""

ACTIONS = (
    "attempt.started",
    "document.checked",
    "verification.decided",
    "attempt.refused",
    "number.assigned",
    "number.surrendered",
    "sim.replaced",
    "number.suspended",
    "review.decided",
    "number.reverified",
)
"""The audit actions activities are read from."""


@dataclass(frozen=True, slots=True)
class AttemptFacts:
    """Where and by whom an attempt was made (from the attempt's row)."""

    attempt_id: str
    outlet: str
    clerk: str
    device: str
    terminal: str | None


@dataclass(frozen=True, slots=True)
class Activity:
    """One counted action. ``subject`` is a masked reference (the ID's ``sub:…``), never personal data;
    ``region`` is the province code (first two GB2260 digits) of the ID used, when it is a mainland number."""

    at: datetime
    kind: ActivityKind
    outlet: str
    actor: str
    subject: str | None = None
    attempt_id: str | None = None
    category: RejectionCategory | None = None
    region: str | None = None
    terminal: str | None = None


@dataclass(frozen=True, slots=True)
class NotMineReport:
    """A "not mine" report and the outlet where the reported number's binding was made."""

    reported_at: datetime
    registered_outlet: str
    registered_at: datetime
    number_masked: str


def rejection_category(reasons: Sequence[str]) -> RejectionCategory:
    category = categorise(tuple(reasons))
    return RejectionCategory.OTHER if category is None else _FROM_REASON_CATEGORY[category]


def _text(details: Mapping[str, JsonValue], key: str) -> str | None:
    value = details.get(key)
    return value if isinstance(value, str) else None


def _reasons(details: Mapping[str, JsonValue]) -> list[str]:
    value = details.get("reasons")
    return [r for r in value if isinstance(r, str)] if isinstance(value, list) else []


def activities_from_events(events: Iterable[AuditEvent], attempts: Mapping[str, AttemptFacts]) -> list[Activity]:
    """Activities in the events' order. A registration carries the province of the document its attempt
    checked earlier in ``events``; an attempt's terminal (or device) comes from ``attempts``."""
    regions: dict[str, str] = {}
    found: list[Activity] = []
    for event in events:
        details = event.details
        attempt_id = _text(details, "attempt")
        facts = attempts.get(attempt_id) if attempt_id else None
        outlet = event.outlet or (facts.outlet if facts else NO_OUTLET)
        terminal = (facts.terminal or facts.device) if facts else None

        base = Activity(
            event.occurred_at,
            ActivityKind.ATTEMPT_STARTED,
            outlet,
            event.actor,
            event.subject,
            attempt_id,
            terminal=terminal,
        )
        action = event.action
        if action == "attempt.started":
            found.append(base)
        elif action == "document.checked" and attempt_id:
            region = _text(details, "region")
            if details.get("valid") is True and region:
                regions[attempt_id] = region
            elif details.get("valid") is False:
                found.append(replace(base, kind=ActivityKind.REJECTED, category=RejectionCategory.DOCUMENT))
        elif action == "verification.decided":
            if details.get("outcome") == "approved":
                found.append(replace(base, kind=ActivityKind.APPROVED))
            else:
                found.append(replace(base, kind=ActivityKind.REJECTED, category=rejection_category(_reasons(details))))
        elif action == "attempt.refused":
            code = _text(details, "code") or ""
            found.append(
                replace(
                    base, kind=ActivityKind.REJECTED, category=REFUSAL_CATEGORIES.get(code, RejectionCategory.OTHER)
                )
            )
        elif action == "number.assigned" and attempt_id:
            found.append(replace(base, kind=ActivityKind.REGISTERED, region=regions.get(attempt_id)))
        elif action == "number.surrendered":
            found.append(replace(base, kind=ActivityKind.SURRENDERED))
        elif action == "sim.replaced":
            found.append(replace(base, kind=ActivityKind.SIM_REPLACED))
        elif action == "number.suspended" or (
            action == "review.decided"
            and details.get("kind") == "not_mine"
            and details.get("decision") == "suspend_confirmed"
            and "overruled" not in details
        ):
            found.append(replace(base, kind=ActivityKind.SUSPENDED))
        elif action == "number.reverified":
            found.append(replace(base, kind=ActivityKind.REVERIFIED))
    return found


@dataclass(frozen=True, slots=True)
class ReportWindow:
    """Local calendar days ``[first_day, last_day]`` at a fixed UTC offset, split into periods."""

    first_day: date
    last_day: date
    period: Period = Period.DAY
    utc_offset_hours: float = 8.0

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise InvalidInput("the report's last day is before its first", code="report.range")
        if (self.last_day - self.first_day).days + 1 > MAX_REPORT_DAYS:
            raise InvalidInput(f"a report covers at most {MAX_REPORT_DAYS} days", code="report.range")
        if not -14 <= self.utc_offset_hours <= 14:
            raise InvalidInput("a UTC offset is between -14 and +14 hours", code="report.range")

    @property
    def zone(self) -> timezone:
        return timezone(timedelta(hours=self.utc_offset_hours))

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time(), self.zone).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last_day + timedelta(days=1), time(), self.zone).astimezone(UTC)

    def period_of(self, moment: datetime) -> date:
        local = moment.astimezone(self.zone).date()
        if self.period is Period.WEEK:
            return local - timedelta(days=local.weekday())  # weeks start on Monday
        return local

    def periods(self) -> list[date]:
        found: list[date] = []
        day = self.first_day
        while day <= self.last_day:
            start = self.period_of(datetime.combine(day, time(12), self.zone))
            if not found or found[-1] != start:
                found.append(start)
            day += timedelta(days=1)
        return found


@dataclass(slots=True)
class ReportRow:
    period_start: date
    outlet: str
    attempts: int = 0
    approvals: int = 0
    rejections: int = 0
    rejections_by_category: Counter[RejectionCategory] = field(default_factory=Counter)
    registrations: int = 0
    surrenders: int = 0
    sim_replacements: int = 0
    suspensions: int = 0
    reverifications: int = 0
    not_mine_reports: int = 0

    @property
    def approval_rate(self) -> float | None:
        decided = self.approvals + self.rejections
        return None if decided == 0 else round(self.approvals / decided, 4)

    def add(self, other: ReportRow) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejections_by_category.update(other.rejections_by_category)

    def as_dict(self) -> dict[str, JsonValue]:
        row: dict[str, JsonValue] = {"period_start": self.period_start.isoformat(), "outlet": self.outlet}
        row.update({name: getattr(self, name) for name in COUNTS})
        row["approval_rate"] = self.approval_rate
        row["rejections_by_category"] = {c.value: self.rejections_by_category[c] for c in RejectionCategory}
        return row


COUNTS = (
    "attempts",
    "approvals",
    "rejections",
    "registrations",
    "surrenders",
    "sim_replacements",
    "suspensions",
    "reverifications",
    "not_mine_reports",
)

_COUNTED = {
    ActivityKind.ATTEMPT_STARTED: "attempts",
    ActivityKind.APPROVED: "approvals",
    ActivityKind.REJECTED: "rejections",
    ActivityKind.REGISTERED: "registrations",
    ActivityKind.SURRENDERED: "surrenders",
    ActivityKind.SIM_REPLACED: "sim_replacements",
    ActivityKind.SUSPENDED: "suspensions",
    ActivityKind.REVERIFIED: "reverifications",
}


@dataclass(frozen=True, slots=True)
class Report:
    window: ReportWindow
    rows: tuple[ReportRow, ...]
    """One row per period and outlet with any activity, by period then outlet."""
    by_period: tuple[ReportRow, ...]
    """All outlets together, one row per period of the window (empty periods included)."""
    by_outlet: tuple[ReportRow, ...]
    """The whole window, one row per outlet."""
    total: ReportRow

    def as_dict(self) -> dict[str, JsonValue]:
        return {
            "first_day": self.window.first_day.isoformat(),
            "last_day": self.window.last_day.isoformat(),
            "period": self.window.period.value,
            "utc_offset_hours": self.window.utc_offset_hours,
            "rows": [r.as_dict() for r in self.rows],
            "by_period": [r.as_dict() for r in self.by_period],
            "by_outlet": [r.as_dict() for r in self.by_outlet],
            "total": self.total.as_dict(),
        }


def build_report(
    window: ReportWindow,
    activities: Iterable[Activity],
    not_mine: Iterable[NotMineReport] = (),
    *,
    outlet: str | None = None,
) -> Report:
    """Count the activities (and "not mine" reports) inside the window per period and outlet; with ``outlet``,
    only that outlet's."""
    start, end = window.start, window.end
    cells: dict[tuple[date, str], ReportRow] = {}

    def cell(moment: datetime, where: str) -> ReportRow | None:
        if not start <= moment < end or (outlet is not None and where != outlet):
            return None
        key = (window.period_of(moment), where)
        if key not in cells:
            cells[key] = ReportRow(*key)
        return cells[key]

    for activity in activities:
        row = cell(activity.at, activity.outlet)
        if row is None:
            continue
        name = _COUNTED[activity.kind]
        setattr(row, name, getattr(row, name) + 1)
        if activity.kind is ActivityKind.REJECTED:
            row.rejections_by_category[activity.category or RejectionCategory.OTHER] += 1
    for report in not_mine:
        row = cell(report.reported_at, report.registered_outlet)
        if row is not None:
            row.not_mine_reports += 1

    first = window.periods()[0]
    by_period = {p: ReportRow(p, "*") for p in window.periods()}
    by_outlet: dict[str, ReportRow] = defaultdict(lambda: ReportRow(first, ""))
    total = ReportRow(first, "*")
    for (period, where), row in sorted(cells.items()):
        by_period[period].add(row)
        if where not in by_outlet:
            by_outlet[where] = ReportRow(first, where)
        by_outlet[where].add(row)
        total.add(row)
    return Report(
        window,
        tuple(row for _, row in sorted(cells.items())),
        tuple(by_period.values()),
        tuple(by_outlet[k] for k in sorted(by_outlet)),
        total,
    )
