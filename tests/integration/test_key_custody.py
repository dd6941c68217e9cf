"""Key custody on real databases and real key files: a missing, swapped or stale key file is refused, a
database written before custody is adopted only by the key file that opens its data, rotation keeps the
records current, and backups restore only onto the database they belong to."""

from __future__ import annotations

import json
import secrets
import stat
from base64 import b64encode
from pathlib import Path

import pytest
import sqlalchemy as sa

from realname.adapters.crypto.blind_index import HmacBlindIndexer
from realname.adapters.crypto.key_custody import KeyFileBackups, KeyFileKeys
from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.adapters.storage import tables as t
from realname.app.actors import OPERATOR_CLI
from realname.app.key_custody import KeyCustody, KeyKind, KeyMismatch
from realname.app.key_rotation import KeyRotation
from realname.app.privacy import ATTEMPT_ID_NUMBER, SUBSCRIBER_ID_NUMBER
from realname.bootstrap.privacy import build_key_custody
from realname.domain.errors import Conflict, InvalidInput
from tests.integration.privacy_world import PrivacyWorld, build_world

ID_NUMBER = "11010519491231002X"
PASSPHRASE = "correct horse battery staple"


class Keys:
    """The key file custody loads, wherever it currently is (tests move it around)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._provider: LocalKeyFileProvider | None = None

    def load(self) -> KeyFileKeys:
        if self._provider is None:
            self._provider = LocalKeyFileProvider(self.path)
        return KeyFileKeys(self._provider)

    def forget(self) -> None:
        """As a new process would: load the file afresh next time."""
        self._provider = None


@pytest.fixture
def world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    return build_world(engine, tmp_path)


@pytest.fixture
def keys(world: PrivacyWorld) -> Keys:
    return Keys(world.keys.path)


def custody(world: PrivacyWorld, keys: Keys) -> KeyCustody:
    return build_key_custody(world.engine, world.clock, keys.load)


def add_registered_subscriber(world: PrivacyWorld, number: str = ID_NUMBER) -> None:
    """A subscriber and an attempt as the product writes them: real ciphertexts, real blind index."""
    index = HmacBlindIndexer(world.keys.blind_index_key()).index(number)
    with world.engine.begin() as c:
        c.execute(
            t.subscriber.insert().values(
                id="sub-1",
                id_index=index,
                id_ciphertext=world.cipher.encrypt(number.encode(), SUBSCRIBER_ID_NUMBER.context("sub-1")),
                held_numbers=5,
                created_at=world.clock.now(),
            )
        )
    world.add_attempt("att-1", number)
    with world.engine.begin() as c:
        c.execute(t.attempt.update().where(t.attempt.c.id == "att-1").values(id_index=index))
    world.append_events(3)


def another_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / f"keys-{secrets.token_hex(3)}.json"
    create_key_file(path)
    return path


def swap_in(keys: Keys, replacement: Path) -> None:
    """Put another well-formed key file where the key file was (what an unlucky operator does)."""
    replacement.replace(keys.path)
    keys.forget()


def recorded_kinds(world: PrivacyWorld) -> set[tuple[str, str]]:
    with world.engine.begin() as c:
        return {(r.kind, r.key_id) for r in c.execute(sa.select(t.key_fingerprint))}


def test_fingerprints_are_recorded_once_and_reveal_no_key(world: PrivacyWorld, keys: Keys) -> None:
    added = custody(world, keys).record(OPERATOR_CLI)
    assert {k.kind for k in added} == {KeyKind.KEK, KeyKind.BLIND_INDEX, KeyKind.SIGNING}
    assert custody(world, keys).record(OPERATOR_CLI) == ()
    raw = keys.path.read_text(encoding="utf-8")
    document = json.loads(raw)
    secrets_in_file = [document["blind_index_key"], document["token_key"], document["kek"]["versions"][0]["key"]]
    with world.engine.begin() as c:
        stored = " ".join(r.fingerprint for r in c.execute(sa.select(t.key_fingerprint)))
    assert all(secret not in stored for secret in secrets_in_file)
    custody(world, keys).check()


def test_a_swapped_key_file_is_refused(world: PrivacyWorld, keys: Keys, tmp_path: Path) -> None:
    custody(world, keys).record(OPERATOR_CLI)
    add_registered_subscriber(world)
    swap_in(keys, another_key_file(tmp_path))
    with pytest.raises(KeyMismatch) as caught:
        custody(world, keys).check()
    assert caught.value.code == "keys.mismatch"
    assert "KEK version 1 is not the one" in caught.value.message
    assert "keys restore" in caught.value.message
    with pytest.raises(KeyMismatch):
        custody(world, keys).record(OPERATOR_CLI)


def test_a_swapped_but_well_formed_blind_index_key_is_refused(world: PrivacyWorld, keys: Keys) -> None:
    custody(world, keys).record(OPERATOR_CLI)
    document = json.loads(keys.path.read_text(encoding="utf-8"))
    document["blind_index_key"] = b64encode(secrets.token_bytes(32)).decode()
    replacement = keys.path.with_name("edited.json")
    replacement.write_text(json.dumps(document), encoding="utf-8")
    replacement.chmod(0o600)
    swap_in(keys, replacement)
    with pytest.raises(KeyMismatch) as caught:
        custody(world, keys).check()
    assert "the blind-index key is not the one the data was written with" in caught.value.message


def test_a_running_process_refuses_a_key_file_swapped_under_it(world: PrivacyWorld, keys: Keys, tmp_path: Path) -> None:
    live = keys.load()
    custody(world, keys).record(OPERATOR_CLI)
    another_key_file(tmp_path).replace(keys.path)
    with pytest.raises(KeyMismatch):
        world.keys.wrap(b"k" * 32)  # the loaded provider never takes up the other file
    with pytest.raises(KeyMismatch):
        live.key_fingerprints()


def test_a_database_written_before_custody_is_adopted_by_the_key_file_that_opens_it(
    world: PrivacyWorld, keys: Keys
) -> None:
    add_registered_subscriber(world)
    assert recorded_kinds(world) == set()
    custody(world, keys).record(OPERATOR_CLI)
    assert ("blind_index", "current") in recorded_kinds(world)
    custody(world, keys).check()


def test_a_database_written_before_custody_refuses_a_key_file_that_does_not_open_it(
    world: PrivacyWorld, keys: Keys, tmp_path: Path
) -> None:
    add_registered_subscriber(world)
    with pytest.raises(KeyMismatch):  # nothing recorded yet: never adopted silently by `check`
        custody(world, keys).check()
    swap_in(keys, another_key_file(tmp_path))
    with pytest.raises(KeyMismatch) as caught:
        custody(world, keys).record(OPERATOR_CLI)
    assert "does not decrypt" in caught.value.message
    assert recorded_kinds(world) == set()


def test_adoption_refuses_a_key_file_whose_blind_index_key_differs(world: PrivacyWorld, keys: Keys) -> None:
    add_registered_subscriber(world)
    document = json.loads(keys.path.read_text(encoding="utf-8"))
    document["blind_index_key"] = b64encode(secrets.token_bytes(32)).decode()
    replacement = keys.path.with_name("edited.json")
    replacement.write_text(json.dumps(document), encoding="utf-8")
    replacement.chmod(0o600)
    swap_in(keys, replacement)
    with pytest.raises(KeyMismatch) as caught:
        custody(world, keys).record(OPERATOR_CLI)
    assert "blind-index key does not find the stored ID numbers" in caught.value.message


def test_rotation_records_the_new_kek_and_the_retirement(world: PrivacyWorld, keys: Keys, tmp_path: Path) -> None:
    custody(world, keys).record(OPERATOR_CLI)
    add_registered_subscriber(world)
    before_rotation = tmp_path / "keys-before-rotation.json"
    before_rotation.write_bytes(keys.path.read_bytes())
    before_rotation.chmod(0o600)
    rotation = KeyRotation(
        world.uow, world.keys, world.cipher, world.clock, retire_grace_seconds=0, custody=custody(world, keys)
    )
    report = rotation.rotate(OPERATOR_CLI)
    assert report.retired == (1,)
    with world.engine.begin() as c:
        rows = {
            r.key_id: r.retired_at
            for r in c.execute(sa.select(t.key_fingerprint).where(t.key_fingerprint.c.kind == "kek"))
        }
    assert set(rows) == {"1", "2"} and rows["1"] is not None and rows["2"] is None
    keys.forget()
    custody(world, keys).check()  # the rotated file matches
    swap_in(keys, before_rotation)
    with pytest.raises(KeyMismatch) as caught:  # a copy from before the rotation lacks KEK 2
        custody(world, keys).check()
    assert "KEK version 2 is missing" in caught.value.message


def test_backup_is_sealed_0600_and_restores_onto_its_own_database(
    world: PrivacyWorld, keys: Keys, tmp_path: Path
) -> None:
    custody(world, keys).record(OPERATOR_CLI)
    add_registered_subscriber(world)
    backups = KeyFileBackups(keys.path, scrypt_n=2**14)
    backup = tmp_path / "offsite" / "keys.backup"
    backup.parent.mkdir()
    custody(world, keys).backup(OPERATOR_CLI, backups, backup, PASSPHRASE)
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    document = json.loads(keys.path.read_text(encoding="utf-8"))
    sealed = backup.read_text(encoding="utf-8")
    assert document["blind_index_key"] not in sealed and document["kek"]["versions"][0]["key"] not in sealed
    with pytest.raises(Conflict):
        custody(world, keys).backup(OPERATOR_CLI, backups, backup, PASSPHRASE)  # never overwrites

    original = keys.path.read_bytes()
    keys.path.unlink()
    keys.forget()
    with pytest.raises(InvalidInput) as wrong:
        custody(world, keys).restore(OPERATOR_CLI, backups, backup, "not the passphrase at all")
    assert wrong.value.code == "keys.backup_passphrase" and not keys.path.exists()
    report = custody(world, keys).restore(OPERATOR_CLI, backups, backup, PASSPHRASE)
    assert report.key_file_moved_to is None
    assert json.loads(keys.path.read_bytes()) == json.loads(original)
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    custody(world, keys).check()
    assert [p.name for p in keys.path.parent.iterdir() if "restore" in p.name] == []
    with world.uow() as work:
        actions = [e.action for e in work.audit.events()]
    assert "keys.backed_up" in actions and "keys.restored" in actions


def test_a_backup_of_another_deployment_is_not_restored(world: PrivacyWorld, keys: Keys, tmp_path: Path) -> None:
    custody(world, keys).record(OPERATOR_CLI)
    add_registered_subscriber(world)
    foreign_key_file = another_key_file(tmp_path)
    foreign_backup = tmp_path / "foreign.backup"
    KeyFileBackups(foreign_key_file, scrypt_n=2**14).write(foreign_backup, PASSPHRASE)
    backups = KeyFileBackups(keys.path, scrypt_n=2**14)
    with pytest.raises(KeyMismatch):
        custody(world, keys).restore(OPERATOR_CLI, backups, foreign_backup, PASSPHRASE, replace_existing=True)
    custody(world, keys).check()  # the right key file is still in place, untouched
    assert [p.name for p in keys.path.parent.iterdir() if "restore" in p.name or "replaced" in p.name] == []


def test_restoring_over_a_wrong_key_file_moves_it_aside(world: PrivacyWorld, keys: Keys, tmp_path: Path) -> None:
    custody(world, keys).record(OPERATOR_CLI)
    backups = KeyFileBackups(keys.path, scrypt_n=2**14)
    backup = tmp_path / "keys.backup"
    backups.write(backup, PASSPHRASE)
    wrong = another_key_file(tmp_path)
    wrong_bytes = wrong.read_bytes()
    swap_in(keys, wrong)
    with pytest.raises(Conflict) as exists:
        custody(world, keys).restore(OPERATOR_CLI, backups, backup, PASSPHRASE)
    assert exists.value.code == "keys.exists"
    report = custody(world, keys).restore(OPERATOR_CLI, backups, backup, PASSPHRASE, replace_existing=True)
    assert report.key_file_moved_to is not None and report.key_file_moved_to.read_bytes() == wrong_bytes
    keys.forget()
    custody(world, keys).check()


def test_a_weak_passphrase_is_refused(world: PrivacyWorld, keys: Keys, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        KeyFileBackups(keys.path).write(tmp_path / "b", "short")
    assert caught.value.code == "keys.passphrase_weak" and not (tmp_path / "b").exists()


def test_an_empty_database_holds_no_data_until_something_is_written(world: PrivacyWorld, keys: Keys) -> None:
    assert not custody(world, keys).holds_data()
    world.append_events(1)
    assert custody(world, keys).holds_data()


def test_a_record_that_does_not_open_blocks_adoption(world: PrivacyWorld, keys: Keys) -> None:
    add_registered_subscriber(world)
    with world.engine.begin() as c:  # an attempt ciphertext moved to another row no longer opens
        ciphertext = c.execute(sa.select(t.attempt.c.id_ciphertext)).scalar_one()
    world.add_attempt("att-0", ID_NUMBER)
    with world.engine.begin() as c:
        c.execute(t.attempt.update().where(t.attempt.c.id == "att-0").values(id_ciphertext=ciphertext))
    with pytest.raises(KeyMismatch) as caught:
        custody(world, keys).record(OPERATOR_CLI)
    assert ATTEMPT_ID_NUMBER.name in caught.value.message
