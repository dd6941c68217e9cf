"""What reports and anomaly rules read (audit events by time, attempts, "not mine" reports) and the anomaly
flags they write, on one transaction (:class:`SqlReportsUnitOfWork`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.attempt_repositories import SqlReviewRepository
from realname.adapters.storage.report_tables import anomaly_case
from realname.adapters.storage.repositories import SqlAuditLog, event_from_row
from realname.adapters.storage.transaction import SqlTransaction
from realname.app.anomalies import AnomalyCases, FlaggedAnomaly
from realname.app.reports import ActivityReader
from realname.app.unit_of_work import AuditLog, ReviewRepository
from realname.domain.anomalies import AnomalyHit
from realname.domain.audit import AuditEvent, canonical_json
from realname.domain.errors import Conflict
from realname.domain.numbers import Msisdn
from realname.domain.reports import AttemptFacts, NotMineReport
from realname.domain.reviews import CaseKind

EVENT_BATCH = 2000


class SqlActivityReader:
    def __init__(self, connection: sa.Connection, *, batch_size: int = EVENT_BATCH) -> None:
        self._c = connection
        self._batch_size = batch_size

    def events(self, start: datetime, end: datetime, actions: Sequence[str] | None) -> Iterator[AuditEvent]:
        # In time order (events of one attempt may sit in different audit chains), paged by (time, chain,
        # sequence number) so a long window never holds more than one batch of rows.
        e = t.audit_event.c
        key = sa.tuple_(e.occurred_at, e.chain, e.seq)
        after: tuple[datetime, int, int] | None = None
        while True:
            query = sa.select(t.audit_event).where(e.occurred_at >= start, e.occurred_at < end)
            if after is not None:
                at, chain, seq = after  # bound through the columns' types (SQLite stores times as text)
                bound = sa.tuple_(
                    sa.literal(at, t.audit_event.c.occurred_at.type),
                    sa.literal(chain, t.audit_event.c.chain.type),
                    sa.literal(seq, t.audit_event.c.seq.type),
                )
                query = query.where(key > bound)
            if actions is not None:
                query = query.where(e.action.in_(list(actions)))
            rows = self._c.execute(query.order_by(e.occurred_at, e.chain, e.seq).limit(self._batch_size)).all()
            yield from (event_from_row(row) for row in rows)
            if len(rows) < self._batch_size:
                return
            after = (rows[-1].occurred_at, int(rows[-1].chain), int(rows[-1].seq))

    def attempts(self, start: datetime, end: datetime) -> Mapping[str, AttemptFacts]:
        a = t.attempt.c
        rows = self._c.execute(
            sa.select(a.id, a.outlet_code, a.clerk_ref, a.device_id, a.terminal_id).where(
                a.created_at >= start, a.created_at < end
            )
        )
        return {r.id: AttemptFacts(r.id, r.outlet_code, r.clerk_ref, r.device_id, r.terminal_id) for r in rows}

    def not_mine_reports(self, start: datetime, end: datetime) -> Sequence[NotMineReport]:
        case, binding = t.review_case.c, t.binding.c
        rows = self._c.execute(
            sa.select(case.opened_at, case.msisdn, binding.outlet_code, binding.started_at)
            .join(
                t.binding,
                sa.and_(
                    binding.msisdn == case.msisdn,
                    binding.started_at <= case.opened_at,
                    sa.or_(binding.ended_at.is_(None), binding.ended_at >= case.opened_at),
                ),
            )
            .where(case.kind == CaseKind.NOT_MINE.value, case.opened_at >= start, case.opened_at < end)
            .order_by(case.opened_at)
        )
        return [NotMineReport(r.opened_at, r.outlet_code, r.started_at, Msisdn(r.msisdn).masked) for r in rows]


class SqlAnomalyCases:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def has(self, key: str) -> bool:
        found = self._c.execute(sa.select(anomaly_case.c.case_id).where(anomaly_case.c.flag_key == key)).first()
        return found is not None

    def add(self, case_id: str, hit: AnomalyHit, at: datetime) -> None:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    anomaly_case.insert().values(
                        case_id=case_id,
                        flag_key=hit.key,
                        rule=hit.rule,
                        scope=hit.scope,
                        subject=hit.subject,
                        outlet=hit.outlet,
                        window_start=hit.window_start,
                        window_end=hit.window_end,
                        figures=canonical_json(hit.figures),
                        opened_at=at,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict("this anomaly is flagged already", code="anomaly.flagged") from exc

    def recent(self, limit: int = 100) -> Sequence[FlaggedAnomaly]:
        a = anomaly_case.c
        rows = self._c.execute(
            sa.select(anomaly_case, t.review_case.c.state)
            .join(t.review_case, t.review_case.c.id == a.case_id)
            .order_by(a.opened_at.desc(), a.case_id)
            .limit(limit)
        )
        return [
            FlaggedAnomaly(
                r.case_id,
                AnomalyHit(r.rule, r.scope, r.subject, r.outlet, r.window_start, r.window_end, json.loads(r.figures)),
                r.opened_at,
                r.state,
            )
            for r in rows
        ]


class SqlReportsUnitOfWork(SqlTransaction):
    """The reports' readers, the anomaly flags, the review cases and the audit log on one transaction."""

    def _bind(self, c: sa.Connection) -> None:
        self.activity: ActivityReader = SqlActivityReader(c)
        self.anomaly_cases: AnomalyCases = SqlAnomalyCases(c)
        self.reviews: ReviewRepository = SqlReviewRepository(c)
        self.audit: AuditLog = SqlAuditLog(c)
