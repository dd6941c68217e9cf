"""Anomaly detection: run the anomaly rules over recent activity and flag each new hit with a review case.

Nothing happens automatically beyond the flag: a hit opens a review case (kind ``anomaly``) and records an
audit event; reviewers confirm or dismiss it and people act. A hit is known by its key (rule, subject and
aligned window), stored with its case under a unique constraint, so running the rules again — by hand or from a
scheduler (``realname report anomalies``) — never opens a second case for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from realname.app.actors import Actor
from realname.app.ports import Clock, IdGenerator
from realname.app.reports import ReportsUnitOfWorkFactory, read_activities
from realname.domain.anomalies import AnomalyHit, AnomalyRule, evaluate_all, lookback
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import InvalidInput
from realname.domain.organisation import Role
from realname.domain.reviews import CaseKind

DEFAULT_SPAN = timedelta(hours=24)
MAX_SPAN = timedelta(days=31)


@dataclass(frozen=True, slots=True)
class FlaggedAnomaly:
    case_id: str
    hit: AnomalyHit
    opened_at: datetime
    case_state: str


class AnomalyCases(Protocol):
    def has(self, key: str) -> bool: ...

    def add(self, case_id: str, hit: AnomalyHit, at: datetime) -> None:
        """Raise Conflict when a case for the hit's key exists already (a concurrent run)."""
        ...

    def recent(self, limit: int = 100) -> Sequence[FlaggedAnomaly]:
        """The newest flags first, with their review case's state."""
        ...


@dataclass(frozen=True, slots=True)
class AnomalyRun:
    start: datetime
    end: datetime
    hits: tuple[AnomalyHit, ...]
    opened: tuple[str, ...]
    """The review cases this run opened (one per new hit)."""

    @property
    def already_flagged(self) -> int:
        return len(self.hits) - len(self.opened)


@dataclass(frozen=True, slots=True)
class AnomalyDeps:
    uow: ReportsUnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    rules: tuple[AnomalyRule, ...]


class AnomalyDetection:
    def __init__(self, deps: AnomalyDeps) -> None:
        self._d = deps

    def run(self, actor: Actor, *, start: datetime | None = None, end: datetime | None = None) -> AnomalyRun:
        """Evaluate every rule over ``[start, end)`` (default: the 24 hours before now) and flag new hits.

        Raises:
            Forbidden: the actor is not an admin (the console operator and the scheduler are).
            InvalidInput: ``anomaly.range`` — reversed, naive or longer than 31 days.
        """
        actor.require(Role.ADMIN)
        now = self._d.clock.now()
        end = end or now
        start = start or end - DEFAULT_SPAN
        if start.tzinfo is None or end.tzinfo is None or not start < end or end - start > MAX_SPAN:
            raise InvalidInput("a run covers up to 31 days, given with a time zone", code="anomaly.range")
        reach = lookback(self._d.rules)
        opened: list[str] = []
        with self._d.uow() as uow:
            activities = read_activities(uow, start - reach, end)
            not_mine = uow.activity.not_mine_reports(start - reach, end)
            hits = evaluate_all(self._d.rules, activities, not_mine, start, end)
            for hit in hits:
                if uow.anomaly_cases.has(hit.key):
                    continue
                case_id = self._d.ids.new_id()
                uow.reviews.open(case_id, CaseKind.ANOMALY.value, None, None, None, now)
                uow.anomaly_cases.add(case_id, hit, now)
                uow.audit.append(
                    AuditRecord("anomaly.flagged", actor.ref, hit.outlet, f"case:{case_id}", hit_details(hit)), now
                )
                opened.append(case_id)
            uow.audit.append(
                AuditRecord(
                    "anomalies.checked",
                    actor.ref,
                    None,
                    None,
                    {"from": start.isoformat(), "to": end.isoformat(), "hits": len(hits), "opened": len(opened)},
                ),
                now,
            )
            uow.commit()
        return AnomalyRun(start, end, tuple(hits), tuple(opened))

    def flagged(self, actor: Actor, limit: int = 100) -> Sequence[FlaggedAnomaly]:
        """The newest flags (for auditors, admins and reviewers)."""
        actor.require(Role.ADMIN, Role.AUDITOR, Role.REVIEWER)
        with self._d.uow() as uow:
            return uow.anomaly_cases.recent(max(1, min(limit, 500)))


def hit_details(hit: AnomalyHit) -> dict[str, JsonValue]:
    return {
        "rule": hit.rule,
        "scope": hit.scope,
        "subject": hit.subject,
        "window_start": hit.window_start.isoformat(),
        "window_end": hit.window_end.isoformat(),
        "figures": dict(hit.figures),
    }
