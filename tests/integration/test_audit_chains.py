"""The audit log as several hash chains (migration 0008): concurrent writers land on different chains,
checkpoints commit to every chain's head through a Merkle root, and tampering with one chain is caught
by verification, by checkpoints and in exports. A single-chain database upgrades into chain 0."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.cli.privacy_commands import ed25519_valid
from realname.adapters.storage import tables as t
from realname.adapters.storage.database import create_database_engine
from realname.adapters.storage.migrate import upgrade
from realname.adapters.storage.privacy_repositories import audit_checkpoint
from realname.adapters.storage.report_repositories import SqlActivityReader
from realname.adapters.storage.repositories import SqlAuditLog
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.audit_admin import ExportRange, verify_export
from realname.domain.audit import GENESIS_HASH, AuditRecord, canonical_json, next_event
from realname.domain.audit_checkpoints import Checkpoint
from realname.domain.organisation import Role
from tests.integration.conftest import _postgres_engine
from tests.integration.privacy_world import OUTLET, PrivacyWorld, build_world
from tests.integration.tamper import drop_audit_guards, insert_forged_event

AUDITOR = Actor("staff:auditor-1", Role.AUDITOR, None)
OTHER = 3


def append_to(world: PrivacyWorld, chain: int, count: int) -> None:
    """Append ``count`` events in one transaction to ``chain`` (what a writer that found chain 0 busy does)."""
    with world.engine.begin() as connection:
        log = SqlAuditLog(connection, preferred_chain=chain)
        for i in range(count):
            world.clock.advance(seconds=1)
            event = log.append(
                AuditRecord("test.event", "cli:operator", OUTLET, f"attempt:c{chain}-{i}"), world.clock.now()
            )
            assert event.chain == chain


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    """Chain 0 and chain 3 with 10 events each under a signed checkpoint, then 2 more in each."""
    world = build_world(engine, tmp_path)
    append_to(world, 0, 10)
    append_to(world, OTHER, 10)
    checkpoint = world.audit_admin().checkpoint(OPERATOR_CLI)
    assert checkpoint is not None and checkpoint.seq == 20 and len(checkpoint.heads) == t.AUDIT_CHAINS
    append_to(world, 0, 2)
    append_to(world, OTHER, 2)
    return world


def test_several_chains_with_a_merkle_checkpoint_verify(world: PrivacyWorld) -> None:
    result = world.audit_admin().verify(AUDITOR)
    assert result.intact, result.problem
    assert (result.events_checked, result.signed_through_seq, result.chains_checked) == (24, 20, t.AUDIT_CHAINS)
    with world.uow() as work:
        heads = {h.chain: h.seq for h in work.audit.heads() if h.seq}
    assert heads == {0: 12, OTHER: 12}


def test_an_event_edited_in_one_chain_is_found_in_that_chain(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        drop_audit_guards(c)
        e = t.audit_event
        c.execute(e.update().where(e.c.chain == OTHER, e.c.seq == 4).values(actor="staff:evil"))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and (result.first_bad_chain, result.first_bad_seq) == (OTHER, 4)
    assert "content does not match its hash" in (result.problem or "")


def test_one_chain_rewritten_below_the_checkpoint_with_its_head_fixed_up_is_found(world: PrivacyWorld) -> None:
    """The attacker re-hashes chain 3 from event 5 on and moves its head: the chain and head agree, but
    the checkpoint's Merkle root pins chain 3 at 10 with the old hash."""
    with world.engine.begin() as c:
        drop_audit_guards(c)
        e = t.audit_event
        rows = c.execute(sa.select(e).where(e.c.chain == OTHER).order_by(e.c.seq)).all()
        c.execute(e.delete().where(e.c.chain == OTHER, e.c.seq >= 5))
        prev_seq, prev_hash = 4, rows[3].hash
        for row in rows[4:]:
            forged = next_event(
                prev_seq,
                prev_hash,
                AuditRecord(row.action, "staff:ghost", row.outlet, row.subject, json.loads(row.details)),
                row.occurred_at,
                chain=OTHER,
            )
            insert_forged_event(c, forged)
            prev_seq, prev_hash = forged.seq, forged.hash
        h = t.audit_head
        c.execute(h.update().where(h.c.chain == OTHER).values(last_seq=prev_seq, last_hash=prev_hash))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and (result.first_bad_chain, result.first_bad_seq) == (OTHER, 10)
    assert "differ from the signed checkpoint" in (result.problem or "")


def test_a_chain_cut_short_is_found_even_with_its_head_moved_back(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        drop_audit_guards(c)
        e, h = t.audit_event, t.audit_head
        kept = c.execute(sa.select(e.c.hash).where(e.c.chain == OTHER, e.c.seq == 6)).scalar_one()
        c.execute(e.delete().where(e.c.chain == OTHER, e.c.seq > 6))
        c.execute(h.update().where(h.c.chain == OTHER).values(last_seq=6, last_hash=kept))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and (result.first_bad_chain, result.first_bad_seq) == (OTHER, 7)
    assert "below the signed checkpoint at 10" in (result.problem or "")


def test_checkpoint_heads_changed_to_match_a_rewritten_chain_break_the_merkle_root(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        drop_audit_guards(c)
        stored = json.loads(c.execute(sa.select(audit_checkpoint.c.heads)).scalar_one())
        stored[OTHER] = [OTHER, 10, "f" * 64]
        c.execute(audit_checkpoint.update().values(heads=json.dumps(stored)))
    result = world.audit_admin().verify(AUDITOR)
    assert not result.intact and result.first_bad_chain is None and result.first_bad_seq == 20
    assert "do not match its root" in (result.problem or "")


def test_an_export_of_several_chains_verifies_offline_and_tampering_in_one_chain_fails(
    world: PrivacyWorld,
) -> None:
    lines = list(world.audit_admin().export(AUDITOR, ExportRange()))
    header = json.loads(lines[0])
    assert header["chains"] == {"0": [1, 12], str(OTHER): [1, 12]}
    verdict = verify_export(lines, ed25519_valid)
    assert verdict.result.intact, verdict.result.problem
    assert (verdict.result.events_checked, verdict.result.signed_through_seq) == (24, 20)

    forged = []
    for line in lines:
        item = json.loads(line)
        if item.get("type") == "event" and item.get("chain") == OTHER and item["seq"] == 8:
            item["actor"] = "staff:evil"
        forged.append(canonical_json(item))
    broken = verify_export(forged, ed25519_valid).result
    assert not broken.intact and (broken.first_bad_chain, broken.first_bad_seq) == (OTHER, 8)

    cut = [line for line in lines if not ('"chain":3' in line and '"seq":12' in line and '"type":"event"' in line)]
    short = verify_export(cut, ed25519_valid).result
    assert not short.intact and (short.first_bad_chain, short.first_bad_seq) == (OTHER, 12)


def test_a_head_cannot_be_moved_to_an_event_of_another_chain(world: PrivacyWorld) -> None:
    with world.engine.begin() as c:
        other_hash = c.execute(
            sa.select(t.audit_event.c.hash).where(t.audit_event.c.chain == OTHER, t.audit_event.c.seq == 1)
        ).scalar_one()
    h = t.audit_head
    with pytest.raises(sa.exc.DBAPIError), world.engine.begin() as c:
        c.execute(h.update().where(h.c.chain == 5).values(last_seq=1, last_hash=other_hash))
    with pytest.raises(sa.exc.DBAPIError), world.engine.begin() as c:
        c.execute(h.insert().values(chain=15, last_seq=0, last_hash=GENESIS_HASH))


def test_report_activity_reads_every_chain_in_time_order_across_pages(engine: sa.Engine) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(30):
        with engine.begin() as connection:
            SqlAuditLog(connection, preferred_chain=i % 3).append(
                AuditRecord("test.event", "cli:operator", None, None), start + timedelta(seconds=i)
            )
    with engine.connect() as connection:
        read = list(SqlActivityReader(connection, batch_size=7).events(start, start + timedelta(hours=1), None))
    assert [e.occurred_at for e in read] == [start + timedelta(seconds=i) for i in range(30)]
    assert [e.chain for e in read[:4]] == [0, 1, 2, 0]


# -- concurrent writers spread over the chains (PostgreSQL: FOR UPDATE SKIP LOCKED) ----------------


@pytest.fixture
def postgres() -> Iterator[sa.Engine]:
    for created in _postgres_engine():
        upgrade(created)
        yield created


def test_concurrent_writers_take_different_chains_and_the_log_verifies(postgres: sa.Engine, tmp_path: Path) -> None:
    world = build_world(postgres, tmp_path)
    writers = 4
    all_in = threading.Barrier(writers, timeout=30)
    chains: list[int] = []

    def write() -> None:
        with postgres.begin() as connection:
            event = SqlAuditLog(connection).append(
                AuditRecord("test.event", "cli:operator", OUTLET, None), world.clock.now()
            )
            all_in.wait()  # every writer holds its head lock here, so none of them waited for another
            chains.append(event.chain)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(chains) == list(range(writers))
    assert world.audit_admin().checkpoint(OPERATOR_CLI) is not None
    result = world.audit_admin().verify(AUDITOR)
    assert result.intact and (result.events_checked, result.signed_through_seq) == (writers, writers)


# -- upgrading a single-chain database -------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_at_0007(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        created = create_database_engine(f"sqlite:///{tmp_path / 'old.db'}")
        upgrade(created, "0007_parties")
        yield created
        created.dispose()
        return
    for created in _postgres_engine():
        upgrade(created, "0007_parties")
        yield created


def test_a_single_chain_log_becomes_chain_0_and_its_old_checkpoint_still_verifies(
    engine_at_0007: sa.Engine, tmp_path: Path
) -> None:
    world = build_world(engine_at_0007, tmp_path)
    prev_seq, prev_hash = 0, GENESIS_HASH
    hashes: list[str] = []
    with engine_at_0007.begin() as c:  # as the single-chain service wrote them
        for _ in range(6):
            world.clock.advance(seconds=1)
            event = next_event(
                prev_seq, prev_hash, AuditRecord("test.old", "cli:operator", OUTLET, None), world.clock.now()
            )
            c.execute(
                sa.text(
                    "INSERT INTO audit_event (seq, occurred_at, action, actor, outlet, subject, details, prev_hash, hash)"
                    " VALUES (:seq, :at, :action, :actor, :outlet, NULL, '{}', :prev, :hash)"
                ),
                {
                    "seq": event.seq,
                    "at": event.occurred_at if c.dialect.name == "postgresql" else event.occurred_at.isoformat(),
                    "action": event.action,
                    "actor": event.actor,
                    "outlet": event.outlet,
                    "prev": event.prev_hash,
                    "hash": event.hash,
                },
            )
            c.execute(sa.text("UPDATE audit_head SET last_seq = :s, last_hash = :h"), {"s": event.seq, "h": event.hash})
            prev_seq, prev_hash = event.seq, event.hash
            hashes.append(event.hash)
        signed_at = world.clock.now()
        unsigned = Checkpoint(5, hashes[4], signed_at, world.signer.key_id, b"")  # format 1: the one chain
        c.execute(
            audit_checkpoint.insert().values(
                seq=5,
                last_hash=hashes[4],
                created_at=signed_at,
                key_id=unsigned.key_id,
                signature=world.signer.sign(unsigned.message()),
            )
        )

    upgrade(engine_at_0007)

    with world.uow() as work:
        heads = work.audit.heads()
        assert len(heads) == t.AUDIT_CHAINS and (heads[0].seq, heads[0].hash) == (6, prev_hash)
        assert all(h.seq == 0 and h.hash == GENESIS_HASH for h in heads[1:])
        assert {e.chain for e in work.audit.events()} == {0}
    result = world.audit_admin().verify(AUDITOR)
    assert result.intact and (result.events_checked, result.signed_through_seq) == (6, 5)
    append_to(world, 0, 1)
    append_to(world, OTHER, 2)
    new = world.audit_admin().checkpoint(OPERATOR_CLI)
    assert new is not None and new.seq == 9 and new.heads[0].seq == 7
    result = world.audit_admin().verify(AUDITOR)
    assert result.intact and (result.events_checked, result.signed_through_seq) == (9, 9)
