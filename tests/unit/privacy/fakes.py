"""In-memory fakes of the privacy ports: a store of ciphertext cells and audit events, a versioned key
provider and a cipher whose records say which KEK version wraps them (no real cryptography)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from realname.app.keys import KekStatus, KekVersion, WrappedKey
from realname.app.ports import EncryptionContext
from realname.app.privacy import (
    AuditArchive,
    AuditTrail,
    CiphertextColumn,
    CiphertextRepository,
    DueRow,
    EvidenceRepository,
    RetentionRepository,
)
from realname.domain.audit import GENESIS_HASH, AuditEvent, AuditRecord, next_event
from realname.domain.audit_checkpoints import ChainHead, Checkpoint
from realname.domain.errors import DependencyUnavailable


class InMemoryPrivacyData:
    def __init__(self) -> None:
        self.cells: dict[str, dict[str, bytes]] = {}
        self.events: list[AuditEvent] = []
        self.checkpoints: dict[int, Checkpoint] = {}


class _Trail:
    def __init__(self, data: InMemoryPrivacyData, pending: list[AuditEvent]) -> None:
        self._data, self._pending = data, pending

    """One chain (chain 0), as a lone writer sees the log."""

    def append(self, record: AuditRecord, occurred_at: datetime) -> AuditEvent:
        (head,) = self.heads()
        event = next_event(head.seq, head.hash, record, occurred_at)
        self._pending.append(event)
        return event

    def events(self, *, chain: int | None = None, from_seq: int = 1, batch_size: int = 1000) -> Iterator[AuditEvent]:
        if chain not in (None, 0):
            return iter(())
        return iter([e for e in [*self._data.events, *self._pending] if e.seq >= from_seq])

    def heads(self) -> Sequence[ChainHead]:
        every = [*self._data.events, *self._pending]
        return [ChainHead(0, every[-1].seq, every[-1].hash) if every else ChainHead(0, 0, GENESIS_HASH)]


class _Archive:
    def __init__(self, data: InMemoryPrivacyData) -> None:
        self._data = data

    def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.seq in self._data.checkpoints:
            return False
        self._data.checkpoints[checkpoint.seq] = checkpoint
        return True

    def checkpoints(self, *, first_seq: int = 0, last_seq: int | None = None) -> Sequence[Checkpoint]:
        return [
            c
            for seq, c in sorted(self._data.checkpoints.items())
            if seq >= first_seq and (last_seq is None or seq <= last_seq)
        ]

    def latest_checkpoint(self) -> Checkpoint | None:
        return self._data.checkpoints[max(self._data.checkpoints)] if self._data.checkpoints else None

    def seq_bounds(self, from_at: datetime, to_at: datetime) -> dict[int, tuple[int, int]]:
        inside = [e.seq for e in self._data.events if from_at <= e.occurred_at < to_at]
        return {0: (min(inside), max(inside))} if inside else {}


class _Ciphertexts:
    def __init__(self, data: InMemoryPrivacyData) -> None:
        self._data = data

    def count(self, column: CiphertextColumn) -> int:
        return len(self._data.cells.get(column.name, {}))

    def batch(self, column: CiphertextColumn, *, after_row_id: str, limit: int) -> Sequence[tuple[str, bytes]]:
        cells = self._data.cells.get(column.name, {})
        return [(row, cells[row]) for row in sorted(cells) if row > after_row_id][:limit]

    def replace(self, column: CiphertextColumn, row_id: str, old: bytes, new: bytes) -> bool:
        cells = self._data.cells.setdefault(column.name, {})
        if cells.get(row_id) != old:
            return False
        cells[row_id] = new
        return True


class _NoRetention:
    def attempts_due(self, cutoff: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        return []

    def clear_attempts(self, row_ids: Sequence[str]) -> int:
        return 0

    def subscribers_due(self, cutoff: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        return []

    def clear_subscribers(self, row_ids: Sequence[str], cutoff: datetime) -> int:
        return 0

    def evidence_due(self, now: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        return []

    def delete_evidence(self, row_ids: Sequence[str]) -> int:
        return 0


class _NoEvidence:
    def add(
        self, evidence_id: str, attempt_id: str, ciphertext: bytes, created_at: datetime, delete_after: datetime
    ) -> None:
        raise AssertionError("not used here")

    def ciphertext(self, evidence_id: str) -> bytes | None:
        return None


class InMemoryPrivacyUnitOfWork:
    """Audit events commit on ``commit``; cell and checkpoint writes apply at once (enough for these tests)."""

    def __init__(self, data: InMemoryPrivacyData) -> None:
        self._data = data
        self._pending: list[AuditEvent] = []
        self.audit: AuditTrail = _Trail(data, self._pending)
        self.archive: AuditArchive = _Archive(data)
        self.ciphertexts: CiphertextRepository = _Ciphertexts(data)
        self.retention: RetentionRepository = _NoRetention()
        self.evidence: EvidenceRepository = _NoEvidence()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pending.clear()

    def commit(self) -> None:
        self._data.events.extend(self._pending)
        self._pending.clear()


class FakeKeyProvider:
    def __init__(self) -> None:
        self.versions: dict[int, KekStatus] = {1: KekStatus.ACTIVE}

    def current_kek_version(self) -> int:
        return max(self.versions)

    def kek_versions(self) -> tuple[KekVersion, ...]:
        return tuple(KekVersion(v, s, None) for v, s in sorted(self.versions.items()))

    def wrap(self, data_key: bytes) -> WrappedKey:
        return WrappedKey(self.current_kek_version(), data_key)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        if self.versions.get(wrapped.kek_version) is not KekStatus.ACTIVE:
            raise DependencyUnavailable("retired", code="keys.retired_version")
        return wrapped.ciphertext

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        return self.wrap(self.unwrap(wrapped))

    def rotate(self) -> int:
        self.versions[self.current_kek_version() + 1] = KekStatus.ACTIVE
        return self.current_kek_version()

    def retire(self, version: int) -> None:
        self.versions[version] = KekStatus.RETIRED


class VersionTaggedCipher:
    """Records look like ``v<kek>|<context>|<plaintext>``: readable, context-bound, versioned."""

    def __init__(self, keys: FakeKeyProvider) -> None:
        self._keys = keys

    def encrypt(self, plaintext: bytes, context: EncryptionContext) -> bytes:
        return b"v%d|" % self._keys.current_kek_version() + context.as_bytes() + b"|" + plaintext

    def decrypt(self, ciphertext: bytes, context: EncryptionContext) -> bytes:
        version, rest = ciphertext.split(b"|", 1)
        self._keys.unwrap(WrappedKey(int(version[1:]), b"k"))
        prefix = context.as_bytes() + b"|"
        if not rest.startswith(prefix):
            raise DependencyUnavailable("wrong context", code="crypto.decrypt_failed")
        return rest[len(prefix) :]

    def rewrap(self, ciphertext: bytes, context: EncryptionContext | None = None) -> bytes:
        if context is None:
            raise AssertionError("rotation always checks the context")
        return self.encrypt(self.decrypt(ciphertext, context), context)

    def kek_version_of(self, ciphertext: bytes) -> int:
        return int(ciphertext.split(b"|", 1)[0][1:])


class HmacFakeSigner:
    """Stands in for Ed25519: a keyed MAC per key id (the domain only sees a predicate)."""

    def __init__(self, key_id: str = "k1") -> None:
        self.key_id = key_id
        self._keys = {"k1": b"key-one", "k2": b"key-two"}

    def sign(self, message: bytes) -> bytes:
        return hmac.new(self._keys[self.key_id], message, hashlib.sha256).digest()

    def valid(self, checkpoint: Checkpoint) -> bool:
        key = self._keys.get(checkpoint.key_id)
        if key is None:
            return False
        expected = hmac.new(key, checkpoint.message(), hashlib.sha256).digest()
        return hmac.compare_digest(expected, checkpoint.signature)
