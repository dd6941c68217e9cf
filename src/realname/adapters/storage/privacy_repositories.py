"""Storage of the privacy operations: audit checkpoints, kept evidence, ciphertext walks for key
rotation, retention queries, key custody records, and a unit of work that bundles them with the audit log.

The two tables (``audit_checkpoint``, ``evidence``) are created by migration 0003 and declared here on
their own ``MetaData`` so this module adds nothing to ``tables.metadata`` at import time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.key_records import SqlKeyRecords
from realname.adapters.storage.party_tables import party_check, relying_party, subscriber_name
from realname.adapters.storage.repositories import SqlAuditLog
from realname.adapters.storage.transaction import SqlTransaction
from realname.app.key_custody import KeyRecords
from realname.app.privacy import (
    AuditArchive,
    AuditTrail,
    CiphertextColumn,
    CiphertextRepository,
    DueRow,
    EvidenceRepository,
    RetentionRepository,
)
from realname.domain.audit_checkpoints import ChainHead, Checkpoint
from realname.domain.subscribers import BlindIndex

privacy_metadata = sa.MetaData(naming_convention=t.metadata.naming_convention)

audit_checkpoint = sa.Table(
    "audit_checkpoint",
    privacy_metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("created_at", t.UtcDateTime(), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("heads", sa.Text, nullable=True),
)

evidence = sa.Table(
    "evidence",
    privacy_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("attempt_id", sa.String(64), nullable=False),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", t.UtcDateTime(), nullable=False),
    sa.Column("delete_after", t.UtcDateTime(), nullable=False),
    sa.Index("ix_evidence_delete_after", "delete_after"),
    sa.Index("ix_evidence_attempt_id", "attempt_id"),
)

_TABLES: dict[str, sa.Table] = {
    "staff": t.staff,
    "subscriber": t.subscriber,
    "attempt": t.attempt,
    "evidence": evidence,
    "relying_party": relying_party,
    "party_check": party_check,
    "receipt_copy": t.receipt_copy,
}


def _heads_json(heads: Sequence[ChainHead]) -> str | None:
    return json.dumps([[h.chain, h.seq, h.hash] for h in heads], separators=(",", ":")) if heads else None


def _checkpoint_from_row(row: sa.Row[Any]) -> Checkpoint:
    heads = tuple(ChainHead(int(c), int(s), str(h)) for c, s, h in json.loads(row.heads)) if row.heads else ()
    return Checkpoint(int(row.seq), row.last_hash, row.created_at, row.key_id, bytes(row.signature), heads)


class SqlAuditArchive:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        exists = self._c.execute(
            sa.select(audit_checkpoint.c.seq).where(audit_checkpoint.c.seq == checkpoint.seq)
        ).first()
        if exists is not None:
            return False
        self._c.execute(
            audit_checkpoint.insert().values(
                seq=checkpoint.seq,
                last_hash=checkpoint.last_hash,
                created_at=checkpoint.created_at,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
                heads=_heads_json(checkpoint.heads),
            )
        )
        return True

    def checkpoints(self, *, first_seq: int = 0, last_seq: int | None = None) -> Sequence[Checkpoint]:
        query = sa.select(audit_checkpoint).where(audit_checkpoint.c.seq >= first_seq).order_by(audit_checkpoint.c.seq)
        if last_seq is not None:
            query = query.where(audit_checkpoint.c.seq <= last_seq)
        return [_checkpoint_from_row(r) for r in self._c.execute(query)]

    def latest_checkpoint(self) -> Checkpoint | None:
        row = self._c.execute(sa.select(audit_checkpoint).order_by(audit_checkpoint.c.seq.desc()).limit(1)).first()
        return None if row is None else _checkpoint_from_row(row)

    def seq_bounds(self, from_at: datetime, to_at: datetime) -> dict[int, tuple[int, int]]:
        e = t.audit_event
        rows = self._c.execute(
            sa.select(e.c.chain, sa.func.min(e.c.seq), sa.func.max(e.c.seq))
            .where(e.c.occurred_at >= from_at, e.c.occurred_at < to_at)
            .group_by(e.c.chain)
        )
        return {int(chain): (int(first), int(last)) for chain, first, last in rows}


class SqlCiphertextRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    @staticmethod
    def _cell(column: CiphertextColumn) -> tuple[sa.Table, sa.Column[Any]]:
        table = _TABLES.get(column.table)
        if table is None or column.column not in table.c:
            raise ValueError(f"no ciphertext column {column.name}")
        return table, table.c[column.column]

    def count(self, column: CiphertextColumn) -> int:
        table, cell = self._cell(column)
        return int(self._c.execute(sa.select(sa.func.count()).select_from(table).where(cell.is_not(None))).scalar_one())

    def batch(self, column: CiphertextColumn, *, after_row_id: str, limit: int) -> Sequence[tuple[str, bytes]]:
        table, cell = self._cell(column)
        rows = self._c.execute(
            sa.select(table.c.id, cell)
            .where(cell.is_not(None), table.c.id > after_row_id)
            .order_by(table.c.id)
            .limit(limit)
        )
        return [(str(r[0]), bytes(r[1])) for r in rows]

    def replace(self, column: CiphertextColumn, row_id: str, old: bytes, new: bytes) -> bool:
        if old == new:
            return False
        table, cell = self._cell(column)
        result = self._c.execute(table.update().where(table.c.id == row_id, cell == old).values({cell.name: new}))
        return result.rowcount == 1


class SqlRetentionRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def attempts_due(self, cutoff: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        a, r = t.attempt, t.review_case
        open_review = sa.exists().where(r.c.attempt_id == a.c.id, r.c.state.notin_(("closed", "overruled")))
        rows = self._c.execute(
            sa.select(a.c.id)
            .where(a.c.created_at < cutoff, a.c.id_ciphertext.is_not(None), a.c.id > after, ~open_review)
            .order_by(a.c.id)
            .limit(limit)
            .with_for_update()
        )
        return [DueRow(r.id, f"attempt:{r.id}") for r in rows]

    def clear_attempts(self, row_ids: Sequence[str]) -> int:
        if not row_ids:
            return 0
        result = self._c.execute(
            t.attempt.update()
            .where(t.attempt.c.id.in_(list(row_ids)), t.attempt.c.id_ciphertext.is_not(None))
            .values(id_ciphertext=None, name_ciphertext=None)
        )
        return int(result.rowcount)

    @staticmethod
    def _subscriber_due(cutoff: datetime) -> sa.ColumnElement[bool]:
        s = t.subscriber
        return sa.and_(
            s.c.held_numbers == 0,
            sa.func.coalesce(s.c.last_service_ended_at, s.c.created_at) < cutoff,
            sa.or_(s.c.id_ciphertext.is_not(None), s.c.name_ciphertext.is_not(None)),
        )

    def subscribers_due(self, cutoff: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        s = t.subscriber
        rows = self._c.execute(
            sa.select(s.c.id, s.c.id_index)
            .where(self._subscriber_due(cutoff), s.c.id > after)
            .order_by(s.c.id)
            .limit(limit)
            .with_for_update()
        )
        return [DueRow(r.id, BlindIndex(r.id_index).reference) for r in rows]

    def clear_subscribers(self, row_ids: Sequence[str], cutoff: datetime) -> int:
        if not row_ids:
            return 0
        s = t.subscriber
        due = sa.select(s.c.id).where(s.c.id.in_(list(row_ids)), self._subscriber_due(cutoff))
        self._c.execute(subscriber_name.update().where(subscriber_name.c.id.in_(due)).values(name_index=None))
        result = self._c.execute(
            s.update()
            .where(s.c.id.in_(list(row_ids)), self._subscriber_due(cutoff))
            .values(id_ciphertext=None, name_ciphertext=None)
        )
        return int(result.rowcount)

    def evidence_due(self, now: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        rows = self._c.execute(
            sa.select(evidence.c.id, evidence.c.attempt_id)
            .where(evidence.c.delete_after <= now, evidence.c.id > after)
            .order_by(evidence.c.id)
            .limit(limit)
            .with_for_update()
        )
        return [DueRow(r.id, f"evidence:{r.id}/attempt:{r.attempt_id}") for r in rows]

    def delete_evidence(self, row_ids: Sequence[str]) -> int:
        if not row_ids:
            return 0
        return int(self._c.execute(evidence.delete().where(evidence.c.id.in_(list(row_ids)))).rowcount)


class SqlEvidenceRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(
        self, evidence_id: str, attempt_id: str, ciphertext: bytes, created_at: datetime, delete_after: datetime
    ) -> None:
        self._c.execute(
            evidence.insert().values(
                id=evidence_id,
                attempt_id=attempt_id,
                ciphertext=ciphertext,
                created_at=created_at,
                delete_after=delete_after,
            )
        )

    def ciphertext(self, evidence_id: str) -> bytes | None:
        value = self._c.execute(sa.select(evidence.c.ciphertext).where(evidence.c.id == evidence_id)).scalar()
        return None if value is None else bytes(value)


class SqlPrivacyUnitOfWork(SqlTransaction):
    """The privacy repositories on one transaction (see :class:`SqlTransaction`)."""

    def _bind(self, c: sa.Connection) -> None:
        self.audit: AuditTrail = SqlAuditLog(c, observer=self.audit_observer)
        self.archive: AuditArchive = SqlAuditArchive(c)
        self.ciphertexts: CiphertextRepository = SqlCiphertextRepository(c)
        self.retention: RetentionRepository = SqlRetentionRepository(c)
        self.evidence: EvidenceRepository = SqlEvidenceRepository(c)
        self.keys: KeyRecords = SqlKeyRecords(c)
