"""Retention purge on real databases with an injected clock: what is due goes, what is not stays, and
the audit log records what went by reference only."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.privacy_repositories import evidence
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.retention import Retention
from realname.domain.errors import Forbidden
from realname.domain.organisation import Role
from realname.domain.policy import Policy
from tests.integration.privacy_world import PrivacyWorld, build_world

POLICY = Policy(attempt_ttl_minutes=30, retention_days_after_service=730, keep_evidence=True)
NAMES = {"sub-old": "Old Customer", "sub-recent": "Recent Customer", "sub-active": "Active Customer"}
IDS = {
    "sub-old": "110105194912310011",
    "sub-recent": "110105194912310022",
    "sub-active": "110105194912310033",
    "sub-never": "110105194912310044",
}


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    world = build_world(engine, tmp_path)
    now = world.clock.now()
    world.add_subscriber("sub-old", IDS["sub-old"], NAMES["sub-old"], last_service_ended_at=now - timedelta(days=731))
    world.add_subscriber(
        "sub-recent", IDS["sub-recent"], NAMES["sub-recent"], last_service_ended_at=now - timedelta(days=100)
    )
    world.add_subscriber(
        "sub-active",
        IDS["sub-active"],
        NAMES["sub-active"],
        held_numbers=1,
        last_service_ended_at=now - timedelta(days=1000),
    )
    world.add_subscriber("sub-never", IDS["sub-never"], "Never Served", created_at=now - timedelta(days=800))
    world.add_attempt("att-old", IDS["sub-old"], created_at=now - timedelta(minutes=120))
    world.add_attempt("att-fresh", IDS["sub-recent"], created_at=now - timedelta(minutes=60))
    world.add_attempt("att-review", IDS["sub-active"], created_at=now - timedelta(days=3))
    with world.engine.begin() as connection:
        connection.execute(
            t.review_case.insert().values(
                id="case-1", kind="manual", state="open", attempt_id="att-review", opened_at=now
            )
        )
    world.add_evidence("ev-due", "att-old", b"frame-1", now - timedelta(seconds=1))
    world.add_evidence("ev-kept", "att-fresh", b"frame-2", now + timedelta(days=10))
    return world


def personal_data(engine: sa.Engine) -> dict[str, bool]:
    with engine.connect() as c:
        subscribers = {
            r.id: r.id_ciphertext is not None and r.name_ciphertext is not None
            for r in c.execute(sa.select(t.subscriber))
        }
        attempts = {r.id: r.id_ciphertext is not None for r in c.execute(sa.select(t.attempt))}
        kept = {r.id: True for r in c.execute(sa.select(evidence.c.id))}
    return {**subscribers, **attempts, **{k: kept.get(k, False) for k in ("ev-due", "ev-kept")}}


def test_dry_run_counts_what_is_due_and_changes_nothing(world: PrivacyWorld) -> None:
    before = personal_data(world.engine)
    with world.uow() as work:
        head_before = work.audit.heads()
    report = world.retention(POLICY).purge(OPERATOR_CLI, dry_run=True)
    assert (report.attempts, report.evidence, report.subscribers) == (1, 1, 2)
    assert report.dry_run
    assert personal_data(world.engine) == before
    with world.uow() as work:
        assert work.audit.heads() == head_before


def test_purge_deletes_only_what_is_due(world: PrivacyWorld) -> None:
    report = world.retention(POLICY).purge(OPERATOR_CLI)
    assert (report.attempts, report.evidence, report.subscribers) == (1, 1, 2)
    assert personal_data(world.engine) == {
        "sub-old": False,
        "sub-never": False,
        "sub-recent": True,
        "sub-active": True,
        "att-old": False,
        "att-fresh": True,
        "att-review": True,
        "ev-due": False,
        "ev-kept": True,
    }
    with world.engine.connect() as c:
        old = c.execute(sa.select(t.attempt).where(t.attempt.c.id == "att-old")).one()
        cleared = c.execute(sa.select(t.subscriber).where(t.subscriber.c.id == "sub-old")).one()
    assert old.outcome == "rejected" and old.id_index  # the fact stays, the personal data goes
    assert cleared.id_ciphertext is None and cleared.name_ciphertext is None and cleared.id_index


def test_purge_is_audited_by_reference_without_plaintext(world: PrivacyWorld) -> None:
    world.retention(POLICY).purge(OPERATOR_CLI)
    with world.uow() as work:
        events = [e for e in work.audit.events() if e.action == "retention.purged"]
    kinds = {e.details["kind"]: e.details for e in events}
    assert set(kinds) == {"attempt.id_number", "evidence.live_frame", "subscriber.personal_data"}
    assert kinds["attempt.id_number"]["subjects"] == ["attempt:att-old"]
    assert kinds["evidence.live_frame"]["subjects"] == ["evidence:ev-due/attempt:att-old"]
    subjects = kinds["subscriber.personal_data"]["subjects"]
    assert isinstance(subjects, list) and len(subjects) == 2
    assert all(str(s).startswith("sub:") for s in subjects)
    text = repr([e.payload() for e in events])
    for value in [*IDS.values(), *NAMES.values()]:
        assert value not in text


def test_what_was_not_due_becomes_due_as_the_clock_moves(world: PrivacyWorld) -> None:
    retention = world.retention(POLICY)
    retention.purge(OPERATOR_CLI)
    world.clock.advance(days=700)
    report = retention.purge(OPERATOR_CLI)
    assert (report.attempts, report.evidence, report.subscribers) == (1, 1, 1)  # att-fresh, ev-kept, sub-recent
    assert personal_data(world.engine)["sub-active"] is True  # still holds a number
    assert personal_data(world.engine)["att-review"] is True  # still under review


def test_attempt_grace_period_is_respected(world: PrivacyWorld) -> None:
    # att-fresh is 60 minutes old: past the 30-minute attempt TTL but inside TTL + 60 minutes of grace.
    world.clock.advance(minutes=29)
    assert world.retention(POLICY).purge(OPERATOR_CLI, dry_run=True).attempts == 1
    world.clock.advance(minutes=2)
    assert world.retention(POLICY).purge(OPERATOR_CLI, dry_run=True).attempts == 2


def test_only_admins_purge(world: PrivacyWorld) -> None:
    with pytest.raises(Forbidden):
        world.retention(POLICY).purge(Actor("staff:c", Role.CLERK, "BJ-001"), dry_run=True)


def test_purge_pages_through_more_rows_than_one_batch(world: PrivacyWorld) -> None:
    long_ago = world.clock.now() - timedelta(days=2)
    for i in range(12):
        world.add_attempt(f"att-bulk-{i:02d}", f"1101051949123100{i:02d}", created_at=long_ago)
    report = Retention(world.uow, world.clock, POLICY, batch_size=5).purge(OPERATOR_CLI)
    assert report.attempts == 13
