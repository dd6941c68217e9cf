"""Ports and values of the privacy operations: audit checkpoints and export, key rotation, retention.

These use cases run their own short transactions through ``PrivacyUnitOfWork`` (implemented by
``realname.adapters.storage.privacy_repositories.SqlPrivacyUnitOfWork``), so they can work in
batches without holding one long transaction. ``CIPHERTEXT_COLUMNS`` names every stored ciphertext
and the ``EncryptionContext`` its writer used; rotation and retention walk exactly these.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from realname.app.ports import Clock, EncryptionContext, FieldCipher, IdGenerator
from realname.app.unit_of_work import Transaction
from realname.domain.audit import AuditEvent, AuditRecord
from realname.domain.audit_checkpoints import ChainHead, Checkpoint
from realname.domain.policy import Policy


@dataclass(frozen=True, slots=True)
class CiphertextColumn:
    """A column holding envelope ciphertexts, and the context (table, row id, purpose) they are bound to."""

    table: str
    column: str
    purpose: str

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"

    def context(self, row_id: str) -> EncryptionContext:
        return EncryptionContext(self.table, row_id, self.purpose)


STAFF_NAME = CiphertextColumn("staff", "name_ciphertext", "name")
SUBSCRIBER_ID_NUMBER = CiphertextColumn("subscriber", "id_ciphertext", "id_number")
SUBSCRIBER_NAME = CiphertextColumn("subscriber", "name_ciphertext", "name")
ATTEMPT_ID_NUMBER = CiphertextColumn("attempt", "id_ciphertext", "id_number")
ATTEMPT_NAME = CiphertextColumn("attempt", "name_ciphertext", "name")
EVIDENCE_FRAME = CiphertextColumn("evidence", "ciphertext", "live_frame")
PARTY_SECRET = CiphertextColumn("relying_party", "secret_ciphertext", "client_secret")
PARTY_CONTACT = CiphertextColumn("relying_party", "contact_ciphertext", "contact")
CHECK_CONSENT = CiphertextColumn("party_check", "consent_ciphertext", "consent_reference")
RECEIPT_COPY = CiphertextColumn("receipt_copy", "ciphertext", "receipt_copy")
"""A completed visit's printable receipt (full number and ICCID), kept for at most the attempt time."""

CIPHERTEXT_COLUMNS: tuple[CiphertextColumn, ...] = (
    STAFF_NAME,
    SUBSCRIBER_ID_NUMBER,
    SUBSCRIBER_NAME,
    ATTEMPT_ID_NUMBER,
    ATTEMPT_NAME,
    EVIDENCE_FRAME,
    PARTY_SECRET,
    PARTY_CONTACT,
    CHECK_CONSENT,
    RECEIPT_COPY,
)


class CheckpointSigner(Protocol):
    """Signs checkpoints and hands out public keys for offline verification (``Ed25519Signer``)."""

    @property
    def key_id(self) -> str: ...

    @property
    def known_key_ids(self) -> frozenset[str]: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, signature: bytes, key_id: str) -> bool: ...

    def public_key(self, key_id: str) -> bytes | None: ...


class AuditWitness(Protocol):
    """Keeps a copy of signed checkpoints outside the database (an external service, a file)."""

    def publish(self, checkpoint: Checkpoint) -> None:
        """Hand ``checkpoint`` over. Raises ``DependencyUnavailable`` (``audit.witness_unavailable``)."""
        ...


class WitnessLog(AuditWitness, Protocol):
    """A witness that can be read back: the append-only witness file outside the data folder."""

    def checkpoints(self) -> Sequence[Checkpoint]:
        """Every checkpoint witnessed so far, oldest first."""
        ...

    def latest(self) -> Checkpoint | None:
        """The newest witnessed checkpoint (cheap: read from the end)."""
        ...


class AuditTrail(Protocol):
    """The audit chains (``SqlAuditLog``): append in the current transaction, read in order."""

    def append(self, record: AuditRecord, occurred_at: datetime) -> AuditEvent: ...

    def events(
        self, *, chain: int | None = None, from_seq: int = 1, batch_size: int = 1000
    ) -> Iterator[AuditEvent]: ...

    def heads(self) -> Sequence[ChainHead]: ...


class AuditArchive(Protocol):
    """Signed checkpoints, and finding events by time."""

    def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Store ``checkpoint``; False (nothing stored) if one already covers that sequence number."""
        ...

    def checkpoints(self, *, first_seq: int = 0, last_seq: int | None = None) -> Sequence[Checkpoint]: ...

    def latest_checkpoint(self) -> Checkpoint | None: ...

    def seq_bounds(self, from_at: datetime, to_at: datetime) -> dict[int, tuple[int, int]]:
        """By chain, the first and last sequence numbers of events with ``from_at <= occurred_at < to_at``
        (chains without such events left out)."""
        ...


class CiphertextRepository(Protocol):
    def count(self, column: CiphertextColumn) -> int:
        """Rows whose ``column`` holds a ciphertext."""
        ...

    def batch(self, column: CiphertextColumn, *, after_row_id: str, limit: int) -> Sequence[tuple[str, bytes]]:
        """(row id, ciphertext) of rows after ``after_row_id`` in row-id order, skipping empty cells."""
        ...

    def replace(self, column: CiphertextColumn, row_id: str, old: bytes, new: bytes) -> bool:
        """Write ``new`` only if the cell still holds ``old`` (a concurrent writer wins); True if written."""
        ...


@dataclass(frozen=True, slots=True)
class DueRow:
    """A row whose personal data is due for deletion, with the reference the audit log records."""

    row_id: str
    reference: str


class RetentionRepository(Protocol):
    """Finds and clears what retention policy says is due. ``after`` pages by row id."""

    def attempts_due(self, cutoff: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        """Attempts created before ``cutoff`` still holding an ID ciphertext, not under open review."""
        ...

    def clear_attempts(self, row_ids: Sequence[str]) -> int: ...

    def subscribers_due(self, cutoff: datetime, *, after: str, limit: int) -> Sequence[DueRow]:
        """Subscribers holding no number whose service ended (or, never served, who were created) before
        ``cutoff`` and who still have personal data."""
        ...

    def clear_subscribers(self, row_ids: Sequence[str], cutoff: datetime) -> int:
        """Clear personal data of those rows that are still due (re-checked in the same statement)."""
        ...

    def evidence_due(self, now: datetime, *, after: str, limit: int) -> Sequence[DueRow]: ...

    def delete_evidence(self, row_ids: Sequence[str]) -> int: ...


class EvidenceRepository(Protocol):
    def add(
        self, evidence_id: str, attempt_id: str, ciphertext: bytes, created_at: datetime, delete_after: datetime
    ) -> None: ...

    def ciphertext(self, evidence_id: str) -> bytes | None: ...


class PrivacyUnitOfWork(Transaction, Protocol):
    audit: AuditTrail
    archive: AuditArchive
    ciphertexts: CiphertextRepository
    retention: RetentionRepository
    evidence: EvidenceRepository


class PrivacyUnitOfWorkFactory(Protocol):
    def __call__(self) -> PrivacyUnitOfWork: ...


def keep_evidence(
    uow: PrivacyUnitOfWorkFactory,
    *,
    policy: Policy,
    cipher: FieldCipher,
    clock: Clock,
    ids: IdGenerator,
    attempt_id: str,
    frame_jpeg: bytes,
) -> str | None:
    """Keep the best live frame as regulated evidence, encrypted, only if ``policy.keep_evidence`` is on.

    Returns the evidence id, or None when the policy keeps no evidence (the default).
    """
    if not policy.keep_evidence:
        return None
    evidence_id = ids.new_id()
    now = clock.now()
    ciphertext = cipher.encrypt(frame_jpeg, EVIDENCE_FRAME.context(evidence_id))
    with uow() as work:
        work.evidence.add(
            evidence_id, attempt_id, ciphertext, now, now + timedelta(days=policy.evidence_retention_days)
        )
        work.audit.append(
            AuditRecord(
                action="evidence.kept",
                actor="system",
                outlet=None,
                subject=f"attempt:{attempt_id}",
                details={"evidence": evidence_id, "retention_days": policy.evidence_retention_days},
            ),
            now,
        )
        work.commit()
    return evidence_id
