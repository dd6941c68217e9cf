"""Audit checkpoints witnessed outside the database, on SQLite and PostgreSQL: the three truncation attacks
that passed `audit verify` before (events deleted after the newest checkpoint with the head fixed up,
events rewritten after it, checkpoint rows deleted) now fail it; checkpoints come every N minutes while
serving; the external witness is an HTTP endpoint (a small local server here)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.audit_witness import FileAuditWitness, HttpAuditWitness
from realname.adapters.storage import tables as t
from realname.adapters.storage.privacy_repositories import audit_checkpoint
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.audit_admin import AuditAdmin, checkpoint_from_line
from realname.app.privacy import AuditWitness
from realname.bootstrap.privacy import PrivacyJobs, build_privacy_services
from realname.domain.audit import AuditRecord, canonical_json, next_event
from realname.domain.audit_checkpoints import TrailVerification
from realname.domain.errors import DependencyUnavailable
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from tests.integration.privacy_world import PrivacyWorld, build_world
from tests.integration.tamper import drop_audit_guards, insert_forged_event

AUDITOR = Actor("staff:auditor-1", Role.AUDITOR, None)


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    return build_world(engine, tmp_path)


@pytest.fixture
def witness(tmp_path: Path) -> FileAuditWitness:
    return FileAuditWitness(tmp_path / "witness")


def admin(
    world: PrivacyWorld,
    witness: FileAuditWitness | None,
    *,
    every_events: int = 1000,
    every_minutes: float | None = None,
    remote: tuple[AuditWitness, ...] = (),
) -> AuditAdmin:
    return AuditAdmin(
        world.uow,
        world.signer,
        world.clock,
        every_events=every_events,
        every_minutes=every_minutes,
        witness=witness,
        remote_witnesses=remote,
    )


def checkpointed(world: PrivacyWorld, witness: FileAuditWitness) -> None:
    """Events 1..20 with witnessed checkpoints at 10 and 20."""
    world.append_events(10)
    admin(world, witness).checkpoint(OPERATOR_CLI)
    world.append_events(10)
    admin(world, witness).checkpoint(OPERATOR_CLI)
    assert [c.seq for c in witness.checkpoints()] == [10, 20]


def rewrite_events_after(world: PrivacyWorld, seq: int, *, actor: str) -> None:
    """Replace every event after ``seq`` with a consistently re-hashed forgery and fix the head up."""
    with world.engine.begin() as c:
        rows = c.execute(sa.select(t.audit_event).where(t.audit_event.c.seq > seq).order_by(t.audit_event.c.seq)).all()
        prev_seq, prev_hash = (
            seq,
            c.execute(sa.select(t.audit_event.c.hash).where(t.audit_event.c.seq == seq)).scalar_one(),
        )
        c.execute(t.audit_event.delete().where(t.audit_event.c.seq > seq))
        for row in rows:
            forged = next_event(
                prev_seq, prev_hash, AuditRecord(row.action, actor, row.outlet, row.subject), row.occurred_at
            )
            insert_forged_event(c, forged)
            prev_seq, prev_hash = forged.seq, forged.hash
        c.execute(t.audit_head.update().where(t.audit_head.c.chain == 0).values(last_seq=prev_seq, last_hash=prev_hash))


def verified(world: PrivacyWorld, witness: FileAuditWitness | None) -> TrailVerification:
    return admin(world, witness).verify(AUDITOR)


def test_an_intact_chain_verifies_against_its_witness(world: PrivacyWorld, witness: FileAuditWitness) -> None:
    checkpointed(world, witness)
    world.append_events(3)
    result = verified(world, witness)
    assert result.intact, result.problem
    assert (result.signed_through_seq, result.witnessed_through_seq) == (20, 20)
    assert witness.path.parent != world.keys.path.parent and oct(witness.path.stat().st_mode)[-3:] == "600"


def test_events_deleted_after_the_newest_checkpoint_with_the_head_fixed_up_fail_verification(
    world: PrivacyWorld, witness: FileAuditWitness
) -> None:
    checkpointed(world, witness)
    with world.engine.begin() as c:
        drop_audit_guards(c)
        kept = c.execute(sa.select(t.audit_event.c.hash).where(t.audit_event.c.seq == 15)).scalar_one()
        c.execute(t.audit_event.delete().where(t.audit_event.c.seq > 15))
        c.execute(audit_checkpoint.delete().where(audit_checkpoint.c.seq > 15))
        c.execute(t.audit_head.update().where(t.audit_head.c.chain == 0).values(last_seq=15, last_hash=kept))
    assert verified(world, None).intact  # what `audit verify` saw before: the database agrees with itself
    result = verified(world, witness)
    assert not result.intact and result.first_bad_seq == 16
    assert "below the witnessed checkpoint at 20: events were deleted" in (result.problem or "")


def test_events_rewritten_after_the_newest_checkpoint_fail_verification(
    world: PrivacyWorld, witness: FileAuditWitness
) -> None:
    checkpointed(world, witness)
    with world.engine.begin() as c:
        drop_audit_guards(c)
        c.execute(audit_checkpoint.delete().where(audit_checkpoint.c.seq > 10))
    rewrite_events_after(world, 10, actor="staff:ghost")
    assert verified(world, None).intact
    result = verified(world, witness)
    assert not result.intact and result.first_bad_seq == 20
    assert "the witnessed checkpoint at 20" in (result.problem or "")


def test_deleted_checkpoint_rows_fail_verification(world: PrivacyWorld, witness: FileAuditWitness) -> None:
    checkpointed(world, witness)
    with world.engine.begin() as c:
        drop_audit_guards(c)
        c.execute(audit_checkpoint.delete())
    assert verified(world, None).intact
    result = verified(world, witness)
    assert not result.intact and result.first_bad_seq == 10
    assert "witnessed checkpoint at 10 is missing from the database: checkpoint rows were deleted" in (
        result.problem or ""
    )


def test_a_forged_line_in_the_witness_file_is_reported(world: PrivacyWorld, witness: FileAuditWitness) -> None:
    checkpointed(world, witness)
    lines = witness.path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[-1])
    record["hash"] = "0" * 64
    with witness.path.open("a", encoding="utf-8") as handle:
        handle.write(canonical_json(record) + "\n")
    result = verified(world, witness)
    assert not result.intact and result.first_bad_seq == 20 and "invalid signature" in (result.problem or "")


def test_a_line_torn_by_a_crash_is_skipped_and_the_next_one_stays_readable(
    world: PrivacyWorld, witness: FileAuditWitness
) -> None:
    world.append_events(5)
    admin(world, witness).checkpoint(OPERATOR_CLI)
    with witness.path.open("ab") as handle:
        handle.write(b'{"type":"checkpoint","seq":')  # a crash mid-write
    assert [c.seq for c in witness.checkpoints()] == [5]
    world.append_events(5)
    admin(world, witness).checkpoint(OPERATOR_CLI)
    assert [c.seq for c in witness.checkpoints()] == [5, 10]
    assert verified(world, witness).intact


def test_a_checkpoint_is_witnessed_later_if_the_witness_was_unavailable(world: PrivacyWorld, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the witness folder should be", encoding="utf-8")
    unavailable = FileAuditWitness(blocked)
    world.append_events(5)
    with pytest.raises(DependencyUnavailable) as caught:
        admin(world, unavailable).checkpoint(OPERATOR_CLI)
    assert caught.value.code == "audit.witness_unavailable" and "stored but not witnessed" in caught.value.message
    with world.uow() as work:
        assert [c.seq for c in work.archive.checkpoints()] == [5]  # stored all the same
    witness = FileAuditWitness(tmp_path / "witness")
    result = verified(world, witness)
    assert result.intact and result.witnessed_through_seq == 0 and result.newest_stored_seq == 5
    assert admin(world, witness).checkpoint_if_due() is None  # nothing new to sign, but it catches up
    assert [c.seq for c in witness.checkpoints()] == [5]


def test_a_checkpoint_is_taken_every_n_minutes_while_serving_not_only_every_n_events(
    world: PrivacyWorld, witness: FileAuditWitness
) -> None:
    services = build_privacy_services(
        engine=world.engine,
        keys=world.keys,
        material=world.keys,
        cipher=world.cipher,
        clock=world.clock,
        policy=Policy(),
        checkpoint_every=1000,
        checkpoint_minutes=5,
        witness=witness,
    )
    jobs = PrivacyJobs(services, purge_every_seconds=3600)
    world.append_events(3)
    jobs.run_once(monotonic_now=0.0)  # no checkpoint yet: the first is due at once
    assert [c.seq for c in witness.checkpoints()] == [3]
    world.append_events(2)
    world.clock.advance(minutes=4)
    jobs.run_once(monotonic_now=30.0)
    assert [c.seq for c in witness.checkpoints()] == [3]  # 2 events, 4 minutes: not yet
    world.clock.advance(minutes=1)
    jobs.run_once(monotonic_now=60.0)
    assert [c.seq for c in witness.checkpoints()] == [3, 5]
    world.clock.advance(minutes=30)
    jobs.run_once(monotonic_now=90.0)
    assert [c.seq for c in witness.checkpoints()] == [3, 5]  # nothing appended: nothing to sign


class _WitnessServer:
    """A local HTTP witness that keeps what it is sent (or answers ``status``)."""

    def __init__(self) -> None:
        self.received: list[dict[str, object]] = []
        self.status = 201
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                outer.received.append(json.loads(self.rfile.read(length)))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/checkpoints"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def witness_server() -> Iterator[_WitnessServer]:
    server = _WitnessServer()
    yield server
    server.close()


def test_each_checkpoint_is_posted_to_the_external_witness(
    world: PrivacyWorld, witness: FileAuditWitness, witness_server: _WitnessServer
) -> None:
    remote = HttpAuditWitness(witness_server.url)
    world.append_events(4)
    first = admin(world, witness, remote=(remote,)).checkpoint(OPERATOR_CLI)
    world.append_events(4)
    second = admin(world, witness, remote=(remote,)).checkpoint(OPERATOR_CLI)
    assert first is not None and second is not None
    received = [checkpoint_from_line(json.dumps(body)) for body in witness_server.received]
    assert received == [first, second]
    assert all(world.signer.verify(c.message(), c.signature, c.key_id) for c in received)
    remote.close()


def test_an_external_witness_that_refuses_is_reported_and_the_file_still_witnesses(
    world: PrivacyWorld, witness: FileAuditWitness, witness_server: _WitnessServer
) -> None:
    witness_server.status = 500
    remote = HttpAuditWitness(witness_server.url)
    world.append_events(4)
    with pytest.raises(DependencyUnavailable) as caught:
        admin(world, witness, remote=(remote,)).checkpoint(OPERATOR_CLI)
    assert caught.value.code == "audit.witness_unavailable" and "answered 500" in caught.value.message
    assert [c.seq for c in witness.checkpoints()] == [4]
    unreachable = HttpAuditWitness("http://127.0.0.1:9/checkpoints", timeout_seconds=1.0)
    world.append_events(1)
    with pytest.raises(DependencyUnavailable):
        admin(world, witness, remote=(unreachable,)).checkpoint(OPERATOR_CLI)
    assert [c.seq for c in witness.checkpoints()] == [4, 5]
    remote.close()
    unreachable.close()
