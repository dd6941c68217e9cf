"""Signed audit checkpoints on real databases with a real Ed25519 key: tampering with checkpoints or
with the chain around them is detected, and exports verify offline with public keys only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.cli.privacy_commands import ed25519_valid
from realname.adapters.storage import tables as t
from realname.adapters.storage.privacy_repositories import audit_checkpoint
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.audit_admin import ExportRange, verify_export
from realname.domain.audit import AuditRecord, next_event
from realname.domain.errors import Forbidden
from realname.domain.organisation import Role
from tests.integration.privacy_world import PrivacyWorld, build_world
from tests.integration.tamper import drop_audit_guards, insert_forged_event

AUDITOR = Actor("staff:auditor-1", Role.AUDITOR, None)


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    world = build_world(engine, tmp_path)
    world.append_events(20)
    checkpoint = world.audit_admin().checkpoint(OPERATOR_CLI)
    assert checkpoint is not None and checkpoint.seq == 20
    world.append_events(5)
    return world


def test_chain_with_signed_checkpoint_verifies(world: PrivacyWorld) -> None:
    result = world.audit_admin().verify(AUDITOR)
    assert result.intact, result.problem
    assert (result.events_checked, result.checkpoints_checked, result.signed_through_seq) == (25, 1, 20)


def test_checkpoint_again_without_new_events_returns_the_same_one(world: PrivacyWorld) -> None:
    admin = world.audit_admin()
    first = admin.checkpoint(OPERATOR_CLI)
    again = admin.checkpoint(OPERATOR_CLI)
    assert first is not None and again is not None and first.seq == again.seq == 25
    with world.uow() as work:
        assert [c.seq for c in work.archive.checkpoints()] == [20, 25]


def test_only_admins_take_checkpoints(world: PrivacyWorld) -> None:
    with pytest.raises(Forbidden):
        world.audit_admin().checkpoint(AUDITOR)


def test_edited_checkpoint_signature_is_detected(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        drop_audit_guards(c)
        c.execute(audit_checkpoint.update().where(audit_checkpoint.c.seq == 20).values(signature=b"\x00" * 64))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and result.first_bad_seq == 20
    assert "invalid signature" in (result.problem or "")


def test_edited_checkpoint_hash_is_detected(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        drop_audit_guards(c)
        c.execute(audit_checkpoint.update().where(audit_checkpoint.c.seq == 20).values(last_hash="0" * 64))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and result.first_bad_seq == 20


def test_events_deleted_below_the_last_checkpoint_are_detected_even_with_a_matching_head(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        drop_audit_guards(c)
        kept_hash = c.execute(sa.select(t.audit_event.c.hash).where(t.audit_event.c.seq == 15)).scalar_one()
        c.execute(t.audit_event.delete().where(t.audit_event.c.seq > 15))
        c.execute(t.audit_head.update().where(t.audit_head.c.chain == 0).values(last_seq=15, last_hash=kept_hash))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and result.first_bad_seq == 16
    assert "events were deleted" in (result.problem or "")


def test_forged_event_appended_after_the_checkpoint_is_detected(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        last_seq, last_hash = c.execute(
            sa.select(t.audit_head.c.last_seq, t.audit_head.c.last_hash).where(t.audit_head.c.chain == 0)
        ).one()
        forged = next_event(
            int(last_seq), last_hash, AuditRecord("number.assigned", "staff:ghost", "BJ-001", None), world.clock.now()
        )
        insert_forged_event(c, forged)
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and result.first_bad_seq == 26


def test_checkpoint_is_taken_automatically_every_n_events(world: PrivacyWorld) -> None:
    admin = world.audit_admin(every_events=10)
    assert admin.checkpoint_if_due() is None  # 5 events since the checkpoint at 20
    world.append_events(5)
    taken = admin.checkpoint_if_due()
    assert taken is not None and taken.seq == 30
    assert admin.checkpoint_if_due() is None


def test_export_of_a_time_range_verifies_offline_with_the_public_keys_it_carries(world: PrivacyWorld) -> None:
    world.clock.advance(seconds=0.5)
    start = world.clock.current  # after event 25
    world.append_events(10)  # seq 26..35, one second apart
    world.audit_admin().checkpoint(OPERATOR_CLI)
    lines = list(world.audit_admin().export(AUDITOR, ExportRange(from_at=start, to_at=world.clock.now())))
    records = [json.loads(line) for line in lines]
    header = records[0]
    assert header["type"] == "header" and world.signer.key_id in header["public_keys"]
    events = [r for r in records if r["type"] == "event"]
    assert [e["seq"] for e in events] == list(range(26, 35))  # `to` is exclusive
    verdict = verify_export(lines, ed25519_valid)
    assert verdict.result.intact, verdict.result.problem
    assert verdict.key_ids == {world.signer.key_id}


def test_export_with_a_forged_signature_fails_offline(world: PrivacyWorld) -> None:
    lines = list(world.audit_admin().export(AUDITOR, ExportRange(from_seq=1, to_seq=25)))
    records = [json.loads(line) for line in lines]
    for record in records:
        if record["type"] == "checkpoint":
            record["signature"] = "A" * 86 + "=="
    verdict = verify_export([json.dumps(r) for r in records], ed25519_valid)
    assert not verdict.result.intact and verdict.result.first_bad_seq == 20


def test_export_is_audited(world: PrivacyWorld) -> None:
    list(world.audit_admin().export(AUDITOR, ExportRange(from_seq=3, to_seq=7)))
    with world.uow() as work:
        last = list(work.audit.events(from_seq=26))
    assert [(e.action, e.actor, dict(e.details)) for e in last] == [
        ("audit.exported", AUDITOR.ref, {"from_seq": 3, "to_seq": 7})
    ]
