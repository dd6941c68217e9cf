"""Retention: delete the personal data that policy says is due, audit what was deleted.

What is due at ``now`` (from the injected clock):

- an attempt's encrypted ID number once the attempt is older than ``policy.attempt_ttl_minutes`` plus
  a grace period (and not under open review). The attempt row stays: its outcome, reasons, blind
  index and times are audit-relevant facts without personal data in clear;
- kept evidence (live frames) whose own clock ``delete_after`` has passed;
- a subscriber's encrypted ID number and name once they hold no number and their service ended more
  than ``policy.retention_days_after_service`` days ago (a subscriber who never held a number: counted
  from when the record was created). The row and its blind index stay, so quota and history queries
  keep working; the personal data is gone.

Each batch is cleared and audited (``retention.purged``: kind, count, subject references — never
plaintext) in one transaction. A dry run counts the same rows and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from realname.app.actors import Actor
from realname.app.ports import Clock
from realname.app.privacy import DueRow, PrivacyUnitOfWork, PrivacyUnitOfWorkFactory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.organisation import Role
from realname.domain.policy import Policy

DEFAULT_ATTEMPT_GRACE_MINUTES = 60
DEFAULT_BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class PurgeReport:
    at: datetime
    dry_run: bool
    attempts: int
    evidence: int
    subscribers: int

    @property
    def total(self) -> int:
        return self.attempts + self.evidence + self.subscribers


_Find = Callable[[PrivacyUnitOfWork, str, int], Sequence[DueRow]]
_Clear = Callable[[PrivacyUnitOfWork, Sequence[str]], int]


class Retention:
    """The purge use case (``realname purge`` and ``serve``'s scheduled job)."""

    def __init__(
        self,
        uow: PrivacyUnitOfWorkFactory,
        clock: Clock,
        policy: Policy,
        *,
        attempt_grace_minutes: int = DEFAULT_ATTEMPT_GRACE_MINUTES,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        if attempt_grace_minutes < 0 or batch_size < 1:
            raise ValueError("the grace period cannot be negative and batches hold at least one row")
        self._uow = uow
        self._clock = clock
        self._policy = policy
        self._grace = timedelta(minutes=attempt_grace_minutes)
        self._batch_size = batch_size

    def purge(self, actor: Actor, *, dry_run: bool = False) -> PurgeReport:
        """Delete (or, with ``dry_run``, count) everything due now.

        Raises:
            Forbidden: the actor is not an admin.
            DependencyUnavailable: the database or the audit writer is unavailable (nothing of the
                failing batch is deleted).
        """
        actor.require(Role.ADMIN)
        now = self._clock.now()
        attempt_cutoff = now - timedelta(minutes=self._policy.attempt_ttl_minutes) - self._grace
        subscriber_cutoff = now - timedelta(days=self._policy.retention_days_after_service)
        attempts = self._run(
            actor,
            now,
            dry_run,
            "attempt.id_number",
            lambda work, after, limit: work.retention.attempts_due(attempt_cutoff, after=after, limit=limit),
            lambda work, ids: work.retention.clear_attempts(ids),
        )
        evidence = self._run(
            actor,
            now,
            dry_run,
            "evidence.live_frame",
            lambda work, after, limit: work.retention.evidence_due(now, after=after, limit=limit),
            lambda work, ids: work.retention.delete_evidence(ids),
        )
        subscribers = self._run(
            actor,
            now,
            dry_run,
            "subscriber.personal_data",
            lambda work, after, limit: work.retention.subscribers_due(subscriber_cutoff, after=after, limit=limit),
            lambda work, ids: work.retention.clear_subscribers(ids, subscriber_cutoff),
        )
        return PurgeReport(now, dry_run, attempts, evidence, subscribers)

    def _run(self, actor: Actor, now: datetime, dry_run: bool, kind: str, find: _Find, clear: _Clear) -> int:
        total = 0
        after = ""
        while True:
            with self._uow() as work:
                due = find(work, after, self._batch_size)
                if not due:
                    return total
                after = due[-1].row_id
                if dry_run:
                    total += len(due)
                    continue
                cleared = clear(work, [row.row_id for row in due])
                references: list[JsonValue] = [row.reference for row in due]
                work.audit.append(
                    AuditRecord(
                        "retention.purged",
                        actor.ref,
                        actor.outlet_code,
                        None,
                        {"kind": kind, "count": cleared, "subjects": references},
                    ),
                    now,
                )
                work.commit()
                total += cleared
