"""Signed checkpoints over the audit chain: every kind of tampering is reported at the right place."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from realname.app.audit_admin import checkpoint_line, event_line, verify_export
from realname.domain.audit import GENESIS_HASH, AuditEvent, AuditRecord, chain_hash, next_event
from realname.domain.audit_checkpoints import Checkpoint, checkpoint_due, checkpoint_message, verify_trail
from tests.unit.privacy.fakes import HmacFakeSigner

START = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


def chain(count: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    seq, prev = 0, GENESIS_HASH
    for i in range(count):
        event = next_event(
            seq,
            prev,
            AuditRecord(f"test.action{i % 3}", "cli:operator", None, f"attempt:{i}"),
            START + timedelta(seconds=i),
        )
        events.append(event)
        seq, prev = event.seq, event.hash
    return events


def sign_at(events: list[AuditEvent], seq: int, signer: HmacFakeSigner | None = None) -> Checkpoint:
    signer = signer or HmacFakeSigner()
    at = START + timedelta(hours=1, seconds=seq)
    message = checkpoint_message(seq, events[seq - 1].hash, at, signer.key_id)
    return Checkpoint(seq, events[seq - 1].hash, at, signer.key_id, signer.sign(message))


SIGNER = HmacFakeSigner()


def test_intact_chain_with_checkpoints_verifies_and_reports_signed_prefix() -> None:
    events = chain(30)
    checkpoints = [sign_at(events, 10), sign_at(events, 20)]
    result = verify_trail(events, checkpoints, SIGNER.valid, head=(30, events[-1].hash))
    assert result.intact
    assert (result.events_checked, result.checkpoints_checked, result.signed_through_seq) == (30, 2, 20)


def test_edited_checkpoint_signature_is_reported_at_its_sequence_number() -> None:
    events = chain(30)
    good = sign_at(events, 20)
    forged = dataclasses.replace(good, signature=bytes(32))
    result = verify_trail(events, [sign_at(events, 10), forged], SIGNER.valid, head=(30, events[-1].hash))
    assert not result.intact
    assert result.first_bad_seq == 20
    assert "invalid signature" in (result.problem or "")


def test_edited_checkpoint_hash_breaks_its_signature() -> None:
    events = chain(30)
    edited = dataclasses.replace(sign_at(events, 20), last_hash=events[5].hash)
    result = verify_trail(events, [edited], SIGNER.valid)
    assert not result.intact
    assert result.first_bad_seq == 20


def test_checkpoint_from_an_unknown_key_is_rejected() -> None:
    events = chain(5)
    stranger = HmacFakeSigner("k1")
    checkpoint = dataclasses.replace(sign_at(events, 5, stranger), key_id="k9")
    assert verify_trail(events, [checkpoint], SIGNER.valid).first_bad_seq == 5


def test_rewritten_chain_that_rehashes_consistently_disagrees_with_the_signed_checkpoint() -> None:
    events = chain(30)
    checkpoint = sign_at(events, 20)
    # An attacker with database access edits event 12 and recomputes every later hash: the chain
    # alone verifies, the signed checkpoint does not.
    rewritten = events[:11]
    seq, prev = 11, events[10].hash
    for original in events[11:]:
        details = {"edited": True} if original.seq == 12 else original.details
        payload = dict(original.payload(), details=dict(details))
        new_hash = chain_hash(prev, payload)
        rewritten.append(dataclasses.replace(original, details=details, prev_hash=prev, hash=new_hash))
        seq, prev = original.seq, new_hash
    result = verify_trail(rewritten, [checkpoint], SIGNER.valid, head=(seq, prev))
    assert not result.intact
    assert result.first_bad_seq == 20
    assert "differ from the signed checkpoint" in (result.problem or "")


def test_events_deleted_below_the_last_checkpoint_are_detected() -> None:
    events = chain(30)
    checkpoint = sign_at(events, 25)
    truncated = events[:18]
    result = verify_trail(truncated, [checkpoint], SIGNER.valid, head=(18, truncated[-1].hash))
    assert not result.intact
    assert result.first_bad_seq == 19
    assert "events were deleted" in (result.problem or "")


def test_forged_event_with_a_wrong_link_after_the_checkpoint_is_detected() -> None:
    events = chain(20)
    forged = next_event(20, "f" * 64, AuditRecord("registration.approved", "staff:x", "BJ-001", None), START)
    result = verify_trail([*events, forged], [sign_at(events, 20)], SIGNER.valid, head=(20, events[-1].hash))
    assert result.first_bad_seq == 21


def test_well_formed_event_appended_beyond_the_writers_head_is_detected() -> None:
    events = chain(20)
    forged = next_event(20, events[-1].hash, AuditRecord("registration.approved", "staff:x", "BJ-001", None), START)
    result = verify_trail([*events, forged], [sign_at(events, 20)], SIGNER.valid, head=(20, events[-1].hash))
    assert not result.intact
    assert result.first_bad_seq == 21
    assert "beyond the writer's head" in (result.problem or "")


def test_the_earliest_problem_wins() -> None:
    events = chain(30)
    broken = [*events[:4], dataclasses.replace(events[4], action="edited"), *events[5:]]
    bad_signature = dataclasses.replace(sign_at(events, 20), signature=b"x" * 32)
    result = verify_trail(broken, [bad_signature], SIGNER.valid)
    assert result.first_bad_seq == 5


def test_checkpoint_is_due_after_every_n_events() -> None:
    assert not checkpoint_due(head_seq=999, last_checkpoint_seq=0, every_events=1000)
    assert checkpoint_due(head_seq=1000, last_checkpoint_seq=0, every_events=1000)
    assert not checkpoint_due(head_seq=1500, last_checkpoint_seq=1000, every_events=1000)


def test_checkpoint_is_due_every_n_minutes_once_anything_was_appended() -> None:
    def due(head: int, last: int, last_at: datetime | None, minutes_later: float) -> bool:
        now = START + timedelta(minutes=minutes_later)
        return checkpoint_due(head, last, 1000, last_checkpoint_at=last_at, now=now, every_minutes=5)

    assert due(3, 0, None, 0)  # the first events are signed at once
    assert not due(12, 10, START, 4.9)
    assert due(12, 10, START, 5)
    assert not due(10, 10, START, 60)  # nothing appended since: nothing to sign
    assert not checkpoint_due(12, 10, 1000, last_checkpoint_at=START, now=START + timedelta(hours=9))  # no minutes


def test_witnessed_checkpoints_pin_the_chain_and_must_be_in_the_database() -> None:
    events = chain(30)
    stored, witnessed = [sign_at(events, 10)], [sign_at(events, 10), sign_at(events, 20)]
    result = verify_trail(events, stored, SIGNER.valid, head=(30, events[-1].hash), witnessed=witnessed)
    assert not result.intact and result.first_bad_seq == 20
    assert "missing from the database: checkpoint rows were deleted" in (result.problem or "")
    both = verify_trail(events, witnessed, SIGNER.valid, head=(30, events[-1].hash), witnessed=witnessed)
    assert both.intact and (both.signed_through_seq, both.witnessed_through_seq, both.newest_stored_seq) == (20, 20, 20)
    truncated = verify_trail(events[:15], stored, SIGNER.valid, head=(15, events[14].hash), witnessed=witnessed)
    assert not truncated.intact and truncated.first_bad_seq == 16
    assert "below the witnessed checkpoint at 20" in (truncated.problem or "")


def test_checkpoint_message_is_canonical_and_needs_aware_times() -> None:
    message = checkpoint_message(3, "a" * 64, START, "k1")
    assert message == checkpoint_message(3, "a" * 64, START.astimezone(), "k1")
    with pytest.raises(ValueError):
        checkpoint_message(3, "a" * 64, START.replace(tzinfo=None), "k1")


def _export(events: list[AuditEvent], checkpoints: list[Checkpoint]) -> list[str]:
    header = '{"format":"realname-audit-export/1","public_keys":{"k1":"a2V5LW9uZQ=="},"type":"header"}'
    return [header, *(event_line(e) for e in events), *(checkpoint_line(c) for c in checkpoints)]


def _hmac_public_key_check(public: bytes, message: bytes, signature: bytes) -> bool:
    return hmac.compare_digest(hmac.new(public, message, hashlib.sha256).digest(), signature)


def test_export_of_a_middle_range_verifies_offline_from_the_checkpoint_before_it() -> None:
    events = chain(40)
    lines = _export(events[10:30], [sign_at(events, 10), sign_at(events, 25)])
    verdict = verify_export(lines, _hmac_public_key_check)
    assert verdict.result.intact, verdict.result.problem
    assert (verdict.first_seq, verdict.last_seq, verdict.result.signed_through_seq) == (11, 30, 25)


def test_export_with_an_edited_event_fails_offline() -> None:
    events = chain(40)
    lines = _export(events[10:30], [sign_at(events, 10), sign_at(events, 25)])
    lines[5] = lines[5].replace('"actor":"cli:operator"', '"actor":"cli:someone"')
    verdict = verify_export(lines, _hmac_public_key_check)
    assert not verdict.result.intact
    assert verdict.result.first_bad_seq == 15


def test_events_appended_by_the_service_during_the_walk_are_not_a_break() -> None:
    events = chain(22)
    result = verify_trail(
        events, [sign_at(events, 10)], SIGNER.valid, head=lambda: (22, events[-1].hash), head_seq_before=20
    )
    assert result.intact, result.problem


def test_events_missing_below_the_head_read_before_the_walk_are_a_break() -> None:
    events = chain(22)
    result = verify_trail(events[:19], [], SIGNER.valid, head=lambda: (22, events[-1].hash), head_seq_before=20)
    assert not result.intact and result.first_bad_seq == 20
