"""The database side of key custody: recorded key fingerprints (table ``key_fingerprint``, migration
0004) and the few reads that tell whether a database holds data and let a key file be tried on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.repositories import insert_ignoring_duplicates
from realname.app.key_custody import KeyFingerprint, KeyKind, RecordedKey
from realname.app.privacy import ATTEMPT_ID_NUMBER, SUBSCRIBER_ID_NUMBER, CiphertextColumn

_SAMPLES_PER_TABLE = 3


class SqlKeyRecords:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def recorded(self) -> Sequence[RecordedKey]:
        k = t.key_fingerprint
        rows = self._c.execute(sa.select(k).order_by(k.c.kind, k.c.key_id))
        return [RecordedKey(KeyKind(r.kind), r.key_id, r.fingerprint, r.retired_at is not None) for r in rows]

    def add(self, key: KeyFingerprint, at: datetime) -> bool:
        if key.fingerprint is None:
            raise ValueError("only a key with a fingerprint is recorded")
        statement = insert_ignoring_duplicates(
            self._c,
            t.key_fingerprint,
            {"kind": key.kind.value, "key_id": key.key_id, "fingerprint": key.fingerprint, "recorded_at": at},
            ["kind", "key_id"],
        )
        return self._c.execute(statement.returning(t.key_fingerprint.c.kind)).first() is not None

    def mark_retired(self, kind: KeyKind, key_id: str, at: datetime) -> None:
        k = t.key_fingerprint
        self._c.execute(
            k.update()
            .where(k.c.kind == kind.value, k.c.key_id == key_id, k.c.retired_at.is_(None))
            .values(retired_at=at)
        )

    def holds_data(self) -> bool:
        head = self._c.execute(sa.select(sa.func.max(t.audit_head.c.last_seq))).scalar()
        if head:
            return True
        for table in (t.subscriber, t.staff, t.attempt):
            if self._c.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is not None:
                return True
        return False

    def blind_index_samples(self) -> Sequence[tuple[CiphertextColumn, str, str, bytes]]:
        samples: list[tuple[CiphertextColumn, str, str, bytes]] = []
        for table, column in ((t.subscriber, SUBSCRIBER_ID_NUMBER), (t.attempt, ATTEMPT_ID_NUMBER)):
            rows = self._c.execute(
                sa.select(table.c.id, table.c.id_index, table.c.id_ciphertext)
                .where(table.c.id_index.is_not(None), table.c.id_ciphertext.is_not(None))
                .order_by(table.c.id)
                .limit(_SAMPLES_PER_TABLE)
            )
            samples.extend((column, r.id, r.id_index, bytes(r.id_ciphertext)) for r in rows)
        return samples
