"""Key rotation on real databases with the real key file and EnvelopeCipher: reads never fail while
records re-wrap; afterwards every ciphertext is under the new KEK and the old versions are retired."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.privacy_repositories import SqlCiphertextRepository
from realname.app.actors import OPERATOR_CLI
from realname.app.key_rotation import RotationProgress
from realname.app.keys import KekStatus
from realname.app.privacy import (
    ATTEMPT_ID_NUMBER,
    CIPHERTEXT_COLUMNS,
    SUBSCRIBER_ID_NUMBER,
    SUBSCRIBER_NAME,
    CiphertextColumn,
)
from realname.domain.errors import Conflict
from tests.integration.privacy_world import PrivacyWorld, build_world

READERS = 2


def id_number(i: int) -> str:
    return f"110105194912{i:04d}1X"


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    world = build_world(engine, tmp_path)
    for i in range(5):
        world.add_staff(f"staff-{i:03d}", f"Clerk Number {i}")
    for i in range(30):
        world.add_subscriber(f"sub-{i:03d}", id_number(i), f"Subscriber Name {i}")
        world.add_attempt(f"att-{i:03d}", id_number(i))
    for i in range(5):
        world.add_evidence(
            f"ev-{i:03d}", f"att-{i:03d}", b"\xff\xd8\xff frame %d" % i, world.clock.now() + timedelta(days=1)
        )
    return world


def all_cells(engine: sa.Engine) -> list[tuple[CiphertextColumn, str, bytes]]:
    cells: list[tuple[CiphertextColumn, str, bytes]] = []
    with engine.connect() as connection:
        repo = SqlCiphertextRepository(connection)
        for column in CIPHERTEXT_COLUMNS:
            cells.extend((column, row_id, ct) for row_id, ct in repo.batch(column, after_row_id="", limit=10_000))
    return cells


def read_cell(engine: sa.Engine, column: CiphertextColumn, row_id: str) -> bytes:
    query = sa.text(f"SELECT {column.column} FROM {column.table} WHERE id = :id")  # names are constants
    with engine.connect() as connection:
        value = connection.execute(query, {"id": row_id}).scalar_one()
    return bytes(value)


def test_reads_never_fail_while_every_record_is_rewrapped_and_old_versions_retire(world: PrivacyWorld) -> None:
    before = {
        (c.name, row_id): world.cipher.decrypt(ct, c.context(row_id)) for c, row_id, ct in all_cells(world.engine)
    }
    assert len(before) == 5 + 30 + 30 + 30 + 5
    targets = list(before)
    columns = {c.name: c for c in CIPHERTEXT_COLUMNS}
    stop = threading.Event()
    failures: list[BaseException] = []
    reads = [0] * READERS

    def read(worker: int) -> None:
        chooser = random.Random(worker)
        while not stop.is_set():
            name, row_id = chooser.choice(targets)
            column = columns[name]
            try:
                plaintext = world.cipher.decrypt(read_cell(world.engine, column, row_id), column.context(row_id))
                assert plaintext == before[(name, row_id)]
            except BaseException as exc:  # reported by the assertion below
                failures.append(exc)
                return
            reads[worker] += 1

    progress: list[RotationProgress] = []
    threads = [threading.Thread(target=read, args=(w,)) for w in range(READERS)]
    for thread in threads:
        thread.start()
    try:
        report = world.key_rotation().rotate(OPERATOR_CLI, batch_size=7, on_progress=progress.append)
        # keep reading a little after retirement too
        for _ in range(20):
            if stop.wait(0.01):
                break
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert failures == []
    assert all(count > 0 for count in reads)
    assert report.new_version == 2 and report.retired == (1,)
    assert report.rewrapped == len(before)
    assert report.passes == 2  # the second pass found nothing left under version 1
    statuses = {v.version: v.status for v in world.keys.kek_versions()}
    assert statuses == {1: KekStatus.RETIRED, 2: KekStatus.ACTIVE}
    after = all_cells(world.engine)
    assert {world.cipher.kek_version_of(ct) for _, _, ct in after} == {2}
    assert {(c.name, r): world.cipher.decrypt(ct, c.context(r)) for c, r, ct in after} == before
    done = {p.column: p for p in progress if p.pass_number == 1 and p.done == p.total}
    assert done[SUBSCRIBER_NAME.name].rewrapped == 30


def test_rows_committed_mid_rotation_under_the_old_version_are_found_by_the_rescan(world: PrivacyWorld) -> None:
    # A writer encrypted under v1 just before the rotation and commits while it runs, after the
    # subscriber columns were already walked in the first pass.
    late_id = world.cipher.encrypt(id_number(999).encode(), SUBSCRIBER_ID_NUMBER.context("sub-999"))
    late_name = world.cipher.encrypt(b"Late Arrival", SUBSCRIBER_NAME.context("sub-999"))
    written: list[str] = []

    def write_late(step: RotationProgress) -> None:
        if step.pass_number == 1 and step.column == ATTEMPT_ID_NUMBER.name and not written:
            with world.engine.begin() as connection:
                connection.execute(
                    t.subscriber.insert().values(
                        id="sub-999",
                        id_index="late",
                        id_ciphertext=late_id,
                        name_ciphertext=late_name,
                        held_numbers=0,
                        created_at=world.clock.now(),
                    )
                )
            written.append("sub-999")

    report = world.key_rotation().rotate(OPERATOR_CLI, batch_size=10, on_progress=write_late)
    assert written and report.retired == (1,)
    assert report.passes == 3  # pass 2 moved the late row, pass 3 found nothing left
    assert {world.cipher.kek_version_of(ct) for _, _, ct in all_cells(world.engine)} == {2}
    moved = read_cell(world.engine, SUBSCRIBER_NAME, "sub-999")
    assert world.cipher.decrypt(moved, SUBSCRIBER_NAME.context("sub-999")) == b"Late Arrival"


def test_a_damaged_record_stops_retirement(world: PrivacyWorld) -> None:
    good = read_cell(world.engine, SUBSCRIBER_NAME, "sub-001")
    with world.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE subscriber SET name_ciphertext = :ct WHERE id = 'sub-002'"), {"ct": good}
        )  # moved to another row: its context no longer matches
    with pytest.raises(Conflict) as raised:
        world.key_rotation().rotate(OPERATOR_CLI)
    assert raised.value.code == "keys.rewrap_incomplete"
    assert all(v.status is KekStatus.ACTIVE for v in world.keys.kek_versions())


def test_status_counts_records_per_version(world: PrivacyWorld) -> None:
    rotation = world.key_rotation()
    before = rotation.status(OPERATOR_CLI)
    assert {u.column: u.by_version for u in before.columns}[SUBSCRIBER_NAME.name] == {1: 30}
    rotation.rotate(OPERATOR_CLI)
    after = rotation.status(OPERATOR_CLI)
    assert after.current_version == 2
    assert all(set(u.by_version) <= {2} for u in after.columns)
