"""The audit hash chain detects edits, deletions, insertions and reordering."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from realname.domain.audit import GENESIS_HASH, AuditEvent, AuditRecord, next_event, verify_chain

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    seq, prev = 0, GENESIS_HASH
    for i in range(n):
        event = next_event(
            seq,
            prev,
            AuditRecord(f"act.{i}", "staff:1", "BJ-001", f"sub:{i:016d}", {"i": i}),
            T0 + timedelta(seconds=i),
        )
        events.append(event)
        seq, prev = event.seq, event.hash
    return events


def test_intact_chain_verifies_and_counts() -> None:
    result = verify_chain(chain(10))
    assert result.intact and result.events_checked == 10 and result.first_bad_seq is None


def test_edited_event_is_named() -> None:
    events = chain(10)
    events[4] = dataclasses.replace(events[4], actor="staff:2")
    result = verify_chain(events)
    assert not result.intact and result.first_bad_seq == 5


def test_edited_details_are_detected() -> None:
    events = chain(5)
    events[2] = dataclasses.replace(events[2], details={"i": 99})
    assert verify_chain(events).first_bad_seq == 3


def test_deleted_event_is_detected() -> None:
    events = chain(10)
    del events[6]
    assert verify_chain(events).first_bad_seq == 7


def test_reordered_events_are_detected() -> None:
    events = chain(10)
    events[3], events[4] = events[4], events[3]
    assert verify_chain(events).first_bad_seq == 4


def test_inserted_event_is_detected() -> None:
    events = chain(6)
    forged = next_event(3, events[2].hash, AuditRecord("forged", "x", None, None), T0)
    events.insert(3, forged)
    assert verify_chain(events).first_bad_seq == 5


def test_renumbered_chain_after_insertion_is_detected() -> None:
    events = chain(6)
    forged = next_event(3, events[2].hash, AuditRecord("forged", "x", None, None), T0)
    renumbered = [dataclasses.replace(e, seq=e.seq + 1) for e in events[3:]]
    assert verify_chain([*events[:3], forged, *renumbered]).first_bad_seq == 5


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        next_event(0, GENESIS_HASH, AuditRecord("a", "b", None, None), datetime(2026, 1, 1))
