"""The privacy CLI commands over the real builder (``bootstrap.privacy``), a real key file and database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from realname.adapters.cli.privacy_commands import (
    PrivacyServices,
    audit_admin_commands,
    audit_verify_command,
    keys_group,
    purge_command,
)
from realname.adapters.storage import tables as t
from realname.app.actors import OPERATOR_CLI
from realname.bootstrap.privacy import PrivacyJobs, build_privacy_services
from realname.domain.policy import Policy
from tests.integration.privacy_world import PrivacyWorld, build_world
from tests.integration.tamper import drop_audit_guards


@dataclass
class Wiring:
    """Stands in for the Container: provides exactly what ``PrivacyCliWiring`` asks for."""

    world: PrivacyWorld

    def privacy_services(self) -> PrivacyServices:
        return build_privacy_services(
            engine=self.world.engine,
            keys=self.world.keys,
            material=self.world.keys,
            cipher=self.world.cipher,
            clock=self.world.clock,
            policy=Policy(),
            checkpoint_every=1000,
        )


@click.group()
def root() -> None:
    """Test root."""


@click.group("audit")
def audit() -> None:
    """Audit."""


for command in (*audit_admin_commands, audit_verify_command):
    audit.add_command(command)
for command in (audit, keys_group, purge_command):
    root.add_command(command)


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    world = build_world(engine, tmp_path)
    for i in range(3):
        world.add_subscriber(f"sub-{i}", f"11010519491231{i:04d}", f"Name {i}")
    world.append_events(12)
    return world


def invoke(world: PrivacyWorld, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(root, list(args), obj=Wiring(world))
    return result.exit_code, result.stdout, result.stderr


def test_keys_rotate_reports_progress_on_stderr_and_retires(world: PrivacyWorld) -> None:
    code, out, err = invoke(world, "keys", "rotate", "--batch-size", "2")
    assert code == 0, err
    assert "current KEK version 2" in out and "retired versions: 1" in out
    assert "subscriber.name_ciphertext" in err and "3/3" in err
    code, out, _ = invoke(world, "keys", "status")
    assert code == 0 and "v1\tretired" in out and "v2: 3" in out


def test_audit_checkpoint_verify_and_export(world: PrivacyWorld, tmp_path: Path) -> None:
    code, out, _ = invoke(world, "audit", "checkpoint")
    assert code == 0 and "sequence number 12" in out
    code, out, _ = invoke(world, "audit", "verify")
    assert code == 0 and "12 events, 1 signed checkpoints" in out
    target = tmp_path / "export.jsonl"
    code, _, err = invoke(
        world, "audit", "export", "--from", "2026-11-22T00:00:00", "--to", "2026-11-23", "--out", str(target)
    )
    assert code == 0, err
    lines = target.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["type"] == "header" and len(lines) == 1 + 12 + 1
    code, out, _ = invoke(world, "audit", "verify-export", str(target))
    assert code == 0 and "signed through 12" in out


def test_audit_verify_fails_with_the_first_bad_sequence_number(world: PrivacyWorld) -> None:
    invoke(world, "audit", "checkpoint")
    with world.engine.begin() as c:
        drop_audit_guards(c)
        c.execute(t.audit_event.update().where(t.audit_event.c.seq == 7).values(actor="cli:someone-else"))
    code, _, err = invoke(world, "audit", "verify")
    assert code == 1 and "sequence number 7" in err


def test_purge_dry_run_says_nothing_was_deleted(world: PrivacyWorld) -> None:
    code, out, err = invoke(world, "purge", "--dry-run")
    assert code == 0 and "subscribers due:" in out and "nothing was deleted" in err


def test_scheduled_jobs_checkpoint_when_due_and_purge_at_their_interval(world: PrivacyWorld) -> None:
    services = build_privacy_services(
        engine=world.engine,
        keys=world.keys,
        material=world.keys,
        cipher=world.cipher,
        clock=world.clock,
        policy=Policy(retention_days_after_service=1),
        checkpoint_every=5,
    )
    nonce_purges: list[float] = []

    def forget_nonces() -> int:
        nonce_purges.append(world.clock.now().timestamp())
        return 0

    receipt_copy_sweeps: list[float] = []

    def forget_receipt_copies() -> int:
        receipt_copy_sweeps.append(world.clock.now().timestamp())
        return 0

    jobs = PrivacyJobs(
        services, purge_every_seconds=60, forget_nonces=forget_nonces, forget_receipt_copies=forget_receipt_copies
    )
    world.clock.advance(days=2)  # the three never-served subscribers are now due
    jobs.run_once(monotonic_now=0.0)
    with world.uow() as work:
        assert [c.seq for c in work.archive.checkpoints()] == [12]
        purged = [e for e in work.audit.events() if e.action == "retention.purged"]
    assert len(purged) == 1 and purged[0].details["count"] == 3 and purged[0].actor == "system"
    world.add_subscriber("sub-late", "110105194912319999", "Late", created_at=world.clock.now() - timedelta(days=5))
    jobs.run_once(monotonic_now=30.0)  # purge not due yet by its interval
    assert services.retention.purge(OPERATOR_CLI, dry_run=True).subscribers == 1
    jobs.run_once(monotonic_now=61.0)
    assert services.retention.purge(OPERATOR_CLI, dry_run=True).subscribers == 0
    assert len(nonce_purges) == 2  # relying parties' stale nonces are forgotten with each purge, not in between
    assert len(receipt_copy_sweeps) == 3  # printable receipt copies: every run, they are due within minutes
