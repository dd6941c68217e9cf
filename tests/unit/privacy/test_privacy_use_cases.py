"""Key rotation and automatic checkpoints over in-memory fakes of their ports."""

from __future__ import annotations

import pytest

from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.audit_admin import AuditAdmin
from realname.app.key_rotation import KeyRotation, RotationProgress
from realname.app.keys import KekStatus
from realname.app.privacy import (
    CIPHERTEXT_COLUMNS,
    STAFF_NAME,
    SUBSCRIBER_ID_NUMBER,
    PrivacyUnitOfWork,
    PrivacyUnitOfWorkFactory,
)
from realname.domain.audit import AuditRecord
from realname.domain.errors import Conflict, Forbidden
from realname.domain.organisation import Role
from tests.fakes import FixedClock
from tests.unit.privacy.fakes import (
    FakeKeyProvider,
    HmacFakeSigner,
    InMemoryPrivacyData,
    InMemoryPrivacyUnitOfWork,
    VersionTaggedCipher,
)

CLERK = Actor("staff:c1", Role.CLERK, "BJ-001")


class FakeCheckpointSigner(HmacFakeSigner):
    known_key_ids = frozenset({"k1"})

    def verify(self, message: bytes, signature: bytes, key_id: str) -> bool:
        return key_id == self.key_id and self.sign(message) == signature

    def public_key(self, key_id: str) -> bytes | None:
        return b"key-one" if key_id == "k1" else None


@pytest.fixture
def data() -> InMemoryPrivacyData:
    return InMemoryPrivacyData()


def uow_factory(data: InMemoryPrivacyData) -> PrivacyUnitOfWorkFactory:
    def make() -> PrivacyUnitOfWork:
        return InMemoryPrivacyUnitOfWork(data)

    return make


def seeded(data: InMemoryPrivacyData, keys: FakeKeyProvider, rows: int = 7) -> VersionTaggedCipher:
    cipher = VersionTaggedCipher(keys)
    for column in (STAFF_NAME, SUBSCRIBER_ID_NUMBER):
        data.cells[column.name] = {
            f"r{i:02d}": cipher.encrypt(f"{column.name} {i}".encode(), column.context(f"r{i:02d}")) for i in range(rows)
        }
    return cipher


def test_rotation_moves_every_record_then_retires_the_old_version(data: InMemoryPrivacyData) -> None:
    keys = FakeKeyProvider()
    cipher = seeded(data, keys)
    seen: list[RotationProgress] = []
    rotation = KeyRotation(uow_factory(data), keys, cipher, FixedClock(), retire_grace_seconds=0, sleep=lambda _: None)
    report = rotation.rotate(OPERATOR_CLI, batch_size=3, on_progress=seen.append)
    assert (report.new_version, report.rewrapped, report.passes, report.retired) == (2, 14, 2, (1,))
    assert {cipher.kek_version_of(ct) for cells in data.cells.values() for ct in cells.values()} == {2}
    assert keys.versions == {1: KekStatus.RETIRED, 2: KekStatus.ACTIVE}
    staff = [p for p in seen if p.pass_number == 1 and p.column == STAFF_NAME.name]
    assert [p.done for p in staff] == [0, 3, 6, 7] and staff[-1].total == 7
    assert [e.action for e in data.events] == ["keys.rotated", "keys.retired"]


def test_a_record_that_fails_to_rewrap_stops_retirement(data: InMemoryPrivacyData) -> None:
    keys = FakeKeyProvider()
    cipher = seeded(data, keys)
    cells = data.cells[STAFF_NAME.name]
    cells["r03"] = cells["r04"]  # bound to another row
    rotation = KeyRotation(uow_factory(data), keys, cipher, FixedClock(), sleep=lambda _: None)
    with pytest.raises(Conflict):
        rotation.rotate(OPERATOR_CLI)
    assert keys.versions == {1: KekStatus.ACTIVE, 2: KekStatus.ACTIVE}
    assert data.events[-1].action == "keys.rewrap_failed"


def test_rotation_gives_up_without_retiring_when_old_records_keep_appearing(data: InMemoryPrivacyData) -> None:
    keys = FakeKeyProvider()
    cipher = seeded(data, keys)
    stale = VersionTaggedCipher(FakeKeyProvider())  # a writer stuck on version 1

    def stale_writer(step: RotationProgress) -> None:
        if step.done == step.total and step.column == STAFF_NAME.name:
            row = f"s{step.pass_number}"
            data.cells[STAFF_NAME.name][row] = stale.encrypt(b"late", STAFF_NAME.context(row))

    rotation = KeyRotation(uow_factory(data), keys, cipher, FixedClock(), max_passes=3, sleep=lambda _: None)
    with pytest.raises(Conflict):
        rotation.rotate(OPERATOR_CLI, on_progress=stale_writer)
    assert keys.versions[1] is KekStatus.ACTIVE


def test_resume_moves_records_to_the_current_version_without_a_new_one(data: InMemoryPrivacyData) -> None:
    keys = FakeKeyProvider()
    cipher = seeded(data, keys)
    keys.rotate()  # an earlier run rotated, then was interrupted
    report = KeyRotation(uow_factory(data), keys, cipher, FixedClock(), sleep=lambda _: None).rotate(
        OPERATOR_CLI, new_version=False
    )
    assert report.new_version == 2 and report.retired == (1,)
    assert set(keys.versions) == {1, 2}


def test_only_admins_rotate(data: InMemoryPrivacyData) -> None:
    keys = FakeKeyProvider()
    rotation = KeyRotation(uow_factory(data), keys, seeded(data, keys), FixedClock())
    with pytest.raises(Forbidden):
        rotation.rotate(CLERK)
    assert keys.versions == {1: KekStatus.ACTIVE}


def test_every_ciphertext_column_is_walked() -> None:
    assert {c.name for c in CIPHERTEXT_COLUMNS} == {
        "staff.name_ciphertext",
        "subscriber.id_ciphertext",
        "subscriber.name_ciphertext",
        "attempt.id_ciphertext",
        "attempt.name_ciphertext",
        "evidence.ciphertext",
        "relying_party.secret_ciphertext",
        "relying_party.contact_ciphertext",
        "party_check.consent_ciphertext",
        "receipt_copy.ciphertext",
    }


def append(data: InMemoryPrivacyData, clock: FixedClock, count: int) -> None:
    work = InMemoryPrivacyUnitOfWork(data)
    for i in range(count):
        clock.advance(seconds=1)
        work.audit.append(AuditRecord(f"test.{i}", "cli:operator", None, None), clock.now())
    work.commit()


def test_checkpoints_are_taken_every_n_events_and_verify(data: InMemoryPrivacyData) -> None:
    clock = FixedClock()
    admin = AuditAdmin(uow_factory(data), FakeCheckpointSigner(), clock, every_events=4)
    append(data, clock, 3)
    assert admin.checkpoint_if_due() is None
    append(data, clock, 1)
    first = admin.checkpoint_if_due()
    assert first is not None and first.seq == 4
    append(data, clock, 5)
    second = admin.checkpoint_if_due()
    assert second is not None and second.seq == 9
    result = admin.verify(OPERATOR_CLI)
    assert result.intact and result.signed_through_seq == 9


def test_empty_chain_has_nothing_to_sign(data: InMemoryPrivacyData) -> None:
    admin = AuditAdmin(uow_factory(data), FakeCheckpointSigner(), FixedClock())
    assert admin.checkpoint(OPERATOR_CLI) is None
    with pytest.raises(Forbidden):
        admin.verify(CLERK)
