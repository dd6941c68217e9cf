"""The operator CLI as a user runs it: the installed `realname` script in a subprocess."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.tamper import drop_audit_guards_in_file

REALNAME = Path(sys.executable).with_name("realname")


def run(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "REALNAME_DATA_DIR": str(data_dir), "REALNAME_LOG_LEVEL": "WARNING"}
    environment.pop("REALNAME_DATABASE_URL", None)
    environment.update(env or {})
    return subprocess.run(
        [str(REALNAME), *args], capture_output=True, text=True, env=environment, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "data"
    result = run(folder, "init")
    assert result.returncode == 0, result.stderr
    return folder


def test_init_creates_a_private_key_file_and_database(data_dir: Path) -> None:
    key_file = data_dir / "keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert (data_dir / "realname.db").exists()
    again = run(data_dir, "init")
    assert again.returncode == 0 and "kept" in again.stdout


def test_outlets_staff_and_numbers(data_dir: Path, tmp_path: Path) -> None:
    assert run(data_dir, "outlet", "add", "BJ-001", "Beijing Xidan").returncode == 0
    added = run(data_dir, "staff", "add", "Li Lei", "--role", "clerk", "--outlet", "BJ-001")
    assert added.returncode == 0
    assert "staff code" in added.stdout and "password" in added.stdout and "shown only once" in added.stderr

    imported = run(data_dir, "numbers", "import", "--prefix", "1390000", "--from", "0000", "--to", "0099")
    assert imported.returncode == 0 and "imported 100 new numbers" in imported.stdout
    csv_file = tmp_path / "numbers.csv"
    csv_file.write_text("msisdn\n13900000099\n13900000100\n+86 139 0000 0101\n", encoding="utf-8")
    from_csv = run(data_dir, "numbers", "import", str(csv_file))
    assert from_csv.returncode == 0 and "imported 2 new numbers (1 already in the pool)" in from_csv.stdout

    listed = run(data_dir, "numbers", "list", "--prefix", "1390000010", "--state", "available")
    assert listed.stdout.split() == ["13900000100", "available", "13900000101", "available"]

    verified = run(data_dir, "audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("outlet", "add", "bad code!", "x"), 2, "outlet.code_invalid"),
        (("staff", "add", "X", "--role", "clerk", "--outlet", "NOPE-1"), 3, "outlet.not_found"),
        (("numbers", "import", "--prefix", "139", "--from", "9", "--to", "1"), 2, "numbers.range"),
        (("numbers", "import"), 2, "numbers.source"),
    ],
)
def test_bad_input_is_one_line_and_a_typed_exit_code(
    data_dir: Path, args: tuple[str, ...], code: int, text: str
) -> None:
    result = run(data_dir, *args)
    assert result.returncode == code
    assert text in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_commands_before_init_say_so(tmp_path: Path) -> None:
    result = run(tmp_path / "empty", "numbers", "list")
    assert result.returncode == 6 and "realname init" in result.stderr


def test_audit_verify_catches_a_row_edited_by_hand(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run(data_dir, "init").returncode == 0
    for code in ("AA-1", "BB-2", "CC-3"):
        assert run(data_dir, "outlet", "add", code, f"Store {code}").returncode == 0
    with pytest.raises(sqlite3.IntegrityError, match="append-only"), sqlite3.connect(data_dir / "realname.db") as db:
        db.execute("UPDATE audit_event SET outlet = 'ZZ-9' WHERE seq = 2")
    drop_audit_guards_in_file(data_dir / "realname.db")  # what only the database file's owner can do
    with sqlite3.connect(data_dir / "realname.db") as db:
        db.execute("UPDATE audit_event SET outlet = 'ZZ-9' WHERE seq = 2")
    result = run(data_dir, "audit", "verify")
    assert result.returncode == 1
    assert "sequence number 2" in result.stderr


def test_audit_verify_catches_a_deleted_last_row(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run(data_dir, "init")
    run(data_dir, "outlet", "add", "AA-1", "Store")
    run(data_dir, "outlet", "add", "BB-2", "Store")
    drop_audit_guards_in_file(data_dir / "realname.db")
    with sqlite3.connect(data_dir / "realname.db") as db:
        db.execute("DELETE FROM audit_event WHERE seq = 2")
    result = run(data_dir, "audit", "verify")
    assert result.returncode == 1 and "sequence number 2" in result.stderr


def test_outlet_names_cannot_smuggle_terminal_control_characters(data_dir: Path) -> None:
    refused = run(data_dir, "outlet", "add", "ESC-1", "Store\x1b[2J\x1b[31m")
    assert refused.returncode == 2 and "outlet.name_invalid" in refused.stderr
    with sqlite3.connect(data_dir / "realname.db") as db:  # one written before names were checked
        db.execute(
            "INSERT INTO outlet (code, name, created_at) VALUES "
            "('OLD-1', 'Old' || char(27) || '[2J' || char(10) || 'FAKE-9' || char(9) || 'x' || char(8238) || 'gnp', "
            "'2026-01-01 00:00:00')"
        )
    listed = run(data_dir, "outlet", "list")
    assert listed.returncode == 0
    line = next(line for line in listed.stdout.splitlines() if line.startswith("OLD-1"))
    assert line == "OLD-1\tOld\\x1b[2J\\nFAKE-9\\tx\\u202egnp\tAsia/Shanghai"
    assert "\x1b" not in listed.stdout and "\u202e" not in listed.stdout


def test_an_outlet_keeps_its_time_zone_and_an_unknown_one_is_refused(data_dir: Path) -> None:
    added = run(data_dir, "outlet", "add", "UR-001", "Urumqi", "--time-zone", "Asia/Urumqi")
    assert added.returncode == 0 and "Asia/Urumqi" in added.stdout
    assert run(data_dir, "outlet", "add", "BJ-009", "Beijing").returncode == 0
    refused = run(data_dir, "outlet", "add", "XX-001", "Nowhere", "--time-zone", "Mars/Olympus")
    assert refused.returncode == 2 and "outlet.time_zone_invalid" in refused.stderr
    listed = run(data_dir, "outlet", "list").stdout.splitlines()
    assert "UR-001\tUrumqi\tAsia/Urumqi" in listed and "BJ-009\tBeijing\tAsia/Shanghai" in listed
    assert not any(line.startswith("XX-001") for line in listed)


def test_an_absurd_number_range_is_refused_before_anything_is_built(data_dir: Path) -> None:
    result = run(data_dir, "numbers", "import", "--prefix", "13", "--from", "000000000", "--to", "999999999")
    assert result.returncode == 2 and "numbers.too_many" in result.stderr and "1,000,000" in result.stderr
    too_long = run(data_dir, "numbers", "import", "--prefix", "1390000", "--from", "000000000", "--to", "000000009")
    assert too_long.returncode == 2 and "number.invalid" in too_long.stderr
