"""A missing or swapped key file, as an operator meets it at the command line (the installed `realname`
script in a subprocess): never regenerated, refused by `init`, `serve` and every command with exit 6,
brought back with `keys backup` / `keys restore`."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from tests.e2e.test_cli_registry import run

PASSPHRASE = "an offline passphrase of some length"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    for args in (
        ("init",),
        ("outlet", "add", "BJ-001", "Beijing Xidan"),
        ("staff", "add", "Li Lei", "--role", "clerk", "--outlet", "BJ-001"),
        ("numbers", "import", "--prefix", "1390000", "--from", "00", "--to", "09"),
    ):
        result = run(folder, *args)
        assert result.returncode == 0, result.stderr
    return folder


def refused(data_dir: Path, code: str, *args: str) -> str:
    result = run(data_dir, *args)
    assert result.returncode == 6, (args, result.stdout, result.stderr)
    assert f"[{code}]" in result.stderr and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_a_moved_key_file_is_never_regenerated(data_dir: Path) -> None:
    key_file = data_dir / "keys.json"
    moved = data_dir.parent / "keys.json.moved"
    key_file.rename(moved)
    for args in (("init",), ("serve", "--port", "8765"), ("outlet", "list"), ("numbers", "list"), ("audit", "verify")):
        message = refused(data_dir, "keys.missing", *args)
        assert "realname keys restore" in message
        assert not key_file.exists(), f"{args} created a new key file"
    moved.rename(key_file)
    assert run(data_dir, "outlet", "list").returncode == 0


def test_a_swapped_key_file_is_refused_by_init_serve_and_every_command(data_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    assert run(other, "init").returncode == 0
    shutil.copy2(other / "keys.json", data_dir / "keys.json")
    for args in (
        ("init",),
        ("serve", "--port", "8766"),
        ("outlet", "list"),
        ("staff", "add", "Wang Fang", "--role", "clerk", "--outlet", "BJ-001"),
        ("audit", "verify"),
        ("keys", "rotate"),
    ):
        message = refused(data_dir, "keys.mismatch", *args)
        assert "KEK version 1 is not the one the data was written with" in message


def test_a_swapped_blind_index_key_alone_is_refused(data_dir: Path) -> None:
    key_file = data_dir / "keys.json"
    document = json.loads(key_file.read_text(encoding="utf-8"))
    document["blind_index_key"] = document["token_key"]  # well-formed, 32 bytes, the wrong key
    key_file.write_text(json.dumps(document), encoding="utf-8")
    message = refused(data_dir, "keys.mismatch", "outlet", "list")
    assert "the blind-index key is not the one" in message


def test_backup_and_restore_bring_the_key_file_back(data_dir: Path, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    backup = tmp_path / "offline" / "realname-keys.backup"
    backup.parent.mkdir()
    made = run(data_dir, "keys", "backup", str(backup), "--passphrase-file", str(passphrase_file))
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    key_file = data_dir / "keys.json"
    original = json.loads(key_file.read_text(encoding="utf-8"))
    assert original["blind_index_key"] not in backup.read_text(encoding="utf-8")

    key_file.unlink()
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase, though long\n", encoding="utf-8")
    bad = run(data_dir, "keys", "restore", str(backup), "--passphrase-file", str(wrong))
    assert bad.returncode == 2 and "[keys.backup_passphrase]" in bad.stderr and not key_file.exists()
    restored = run(data_dir, "keys", "restore", str(backup), "--passphrase-file", str(passphrase_file))
    assert restored.returncode == 0, restored.stderr
    assert json.loads(key_file.read_text(encoding="utf-8")) == original
    listed = run(data_dir, "outlet", "list")
    assert listed.returncode == 0 and "BJ-001" in listed.stdout
    verified = run(data_dir, "audit", "verify")
    assert verified.returncode == 0, verified.stderr


def test_rotation_keeps_the_database_and_key_file_in_step(data_dir: Path, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "passphrase.txt"
    passphrase_file.write_text(PASSPHRASE, encoding="utf-8")
    before = tmp_path / "before-rotation.backup"
    assert run(data_dir, "keys", "backup", str(before), "--passphrase-file", str(passphrase_file)).returncode == 0
    rotated = run(data_dir, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert run(data_dir, "outlet", "list").returncode == 0
    (data_dir / "keys.json").unlink()
    stale = run(data_dir, "keys", "restore", str(before), "--passphrase-file", str(passphrase_file))
    assert stale.returncode == 6 and "KEK version 2 is missing" in stale.stderr


def test_serve_says_the_database_is_unavailable_when_it_is_down(tmp_path: Path) -> None:
    down = {"REALNAME_DATABASE_URL": "postgresql://realname@127.0.0.1:9/realname"}
    for args in (("serve", "--port", "8767"), ("init",)):
        result = run(tmp_path / "data", *args, env=down)
        assert result.returncode == 6, result.stderr
        assert "[database.unavailable]" in result.stderr and "migrat" not in result.stderr
