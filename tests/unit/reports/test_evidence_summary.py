"""The evidence summary reads the same whatever order the audit events come in (an export lists chain after chain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from realname.domain.audit import AuditEvent, JsonValue
from realname.domain.evidence import summarise

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def event(chain: int, seq: int, minute: int, action: str, details: dict[str, JsonValue]) -> AuditEvent:
    return AuditEvent(
        seq,
        AT + timedelta(minutes=minute),
        action,
        "staff:c",
        "BJ-001",
        "sub:ab",
        {"attempt": "a1", **details},
        "0" * 64,
        "1" * 64,
        chain,
    )


def test_the_summary_follows_time_not_chain_order() -> None:
    events = [
        event(0, 7, 0, "attempt.started", {"purpose": "register", "device": "k"}),
        event(0, 9, 3, "verification.decided", {"outcome": "approved", "similarity": 0.7}),
        event(1, 2, 1, "verification.decided", {"outcome": "rejected", "reasons": ["face.mismatch"]}),
        event(2, 5, 4, "number.assigned", {"number": "139****0001"}),
    ]
    forward, backward = summarise("a1", events), summarise("a1", list(reversed(events)))
    assert forward == backward
    assert forward["decision"] == "approved"
    assert forward["event_chains"] == [0, 1, 0, 2] and forward["event_seqs"] == [7, 2, 9, 5]
