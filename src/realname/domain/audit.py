"""The audit chains: append-only events, each hashed over its predecessor's hash and its own content.

The log is a fixed number of independent chains (``chain`` 0, 1, …) so that writers in parallel
transactions append to different chains instead of queueing for one head; each chain numbers its own
events from 1. ``hash_n = SHA-256(hash_{n-1} || canonical_json(event_n))`` with ``hash_0 = 64 × "0"``.
Editing, deleting, inserting or reordering any stored event breaks its chain at that sequence number;
signed checkpoints (``audit_checkpoints``) commit to every chain's head at once. An event of chain 0
hashes exactly as before chains existed (its payload names no chain), so a log written with one chain
verifies unchanged; events of other chains name their chain in the hashed payload.
Audit events reference subjects (``sub:…``, ``number:138****0000``), never plaintext personal data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What a use case wants recorded; the chain gives it a sequence number and hashes."""

    action: str
    actor: str
    outlet: str | None
    subject: str | None
    details: Mapping[str, JsonValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    seq: int
    occurred_at: datetime
    action: str
    actor: str
    outlet: str | None
    subject: str | None
    details: Mapping[str, JsonValue]
    prev_hash: str
    hash: str
    chain: int = 0

    def payload(self) -> dict[str, JsonValue]:
        return event_payload(
            self.seq,
            self.occurred_at,
            self.action,
            self.actor,
            self.outlet,
            self.subject,
            self.details,
            chain=self.chain,
        )


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_payload(
    seq: int,
    occurred_at: datetime,
    action: str,
    actor: str,
    outlet: str | None,
    subject: str | None,
    details: Mapping[str, JsonValue],
    *,
    chain: int = 0,
) -> dict[str, JsonValue]:
    if chain < 0:
        raise ValueError("audit chains are numbered from 0")
    payload: dict[str, JsonValue] = {} if chain == 0 else {"chain": chain}
    return payload | {
        "seq": seq,
        "at": _timestamp(occurred_at),
        "action": action,
        "actor": actor,
        "outlet": outlet,
        "subject": subject,
        "details": dict(details),
    }


def canonical_json(payload: Mapping[str, JsonValue]) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def chain_hash(prev_hash: str, payload: Mapping[str, JsonValue]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(payload)).encode("utf-8")).hexdigest()


def next_event(
    prev_seq: int, prev_hash: str, record: AuditRecord, occurred_at: datetime, *, chain: int = 0
) -> AuditEvent:
    """Build the event that follows ``(prev_seq, prev_hash)`` in chain ``chain``."""
    seq = prev_seq + 1
    payload = event_payload(
        seq, occurred_at, record.action, record.actor, record.outlet, record.subject, record.details, chain=chain
    )
    return AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        action=record.action,
        actor=record.actor,
        outlet=record.outlet,
        subject=record.subject,
        details=dict(record.details),
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, payload),
        chain=chain,
    )


@dataclass(frozen=True, slots=True)
class ChainVerification:
    intact: bool
    events_checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last_hash: str = GENESIS_HASH
    first_bad_chain: int | None = None


def verify_chain(
    events: Iterable[AuditEvent], *, start_seq: int = 1, start_hash: str = GENESIS_HASH
) -> ChainVerification:
    """Walk one chain's events in stored order; report the first sequence number where it breaks."""
    expected_seq = start_seq
    prev_hash = start_hash
    checked = 0
    chain: int | None = None
    for event in events:
        if chain is None:
            chain = event.chain
        if event.chain != chain:
            return ChainVerification(False, checked, event.seq, "event of another chain", prev_hash)
        if event.seq != expected_seq:
            problem = "missing event" if event.seq > expected_seq else "event out of order or duplicated"
            return ChainVerification(False, checked, expected_seq, problem, prev_hash)
        if event.prev_hash != prev_hash:
            return ChainVerification(False, checked, event.seq, "link to the previous event broken", prev_hash)
        if chain_hash(prev_hash, event.payload()) != event.hash:
            return ChainVerification(False, checked, event.seq, "content does not match its hash", prev_hash)
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    return ChainVerification(True, checked, None, None, prev_hash)
