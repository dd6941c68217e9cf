"""`realname terminal add | list | revoke` as an operator runs them (the installed script in a subprocess)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.test_cli_registry import REALNAME, run


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli-terminal") / "data"
    assert run(folder, "init").returncode == 0
    assert run(folder, "outlet", "add", "BJ-001", "Beijing Xidan").returncode == 0
    return folder


def test_enroll_from_pem_file_or_stdin_list_and_revoke(data_dir: Path, tmp_path: Path) -> None:
    pem_key = Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "kiosk.pub"
    pem.write_bytes(pem_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    added = run(data_dir, "terminal", "add", "--outlet", "BJ-001", "--name", "Counter 1", "--public-key", str(pem))
    assert added.returncode == 0, added.stderr
    first_id = added.stdout.strip()
    assert len(first_id) == 32 and "BJ-001" in added.stderr

    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    env = {**os.environ, "REALNAME_DATA_DIR": str(data_dir), "REALNAME_LOG_LEVEL": "WARNING"}
    env.pop("REALNAME_DATABASE_URL", None)
    piped = subprocess.run(
        [str(REALNAME), "terminal", "add", "--outlet", "BJ-001", "--name", "Counter 2", "--public-key", "-"],
        input=base64.b64encode(raw) + b"\n",
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 0, piped.stderr
    second_id = piped.stdout.decode().strip()

    listed = run(data_dir, "terminal", "list").stdout.splitlines()
    rows = {line.split("\t")[0]: line.split("\t") for line in listed}
    assert rows[first_id][1:3] == ["BJ-001", "active"] and rows[first_id][-1] == "Counter 1"
    assert rows[second_id][2] == "active"

    revoked = run(data_dir, "terminal", "revoke", first_id)
    assert revoked.returncode == 0 and first_id in revoked.stdout
    rows = {line.split("\t")[0]: line.split("\t") for line in run(data_dir, "terminal", "list").stdout.splitlines()}
    assert rows[first_id][2].startswith("revoked") and rows[second_id][2] == "active"
    again = run(data_dir, "terminal", "revoke", first_id)
    assert again.returncode == 3 and "terminal.not_found" in again.stderr

    # The same key cannot be enrolled twice.
    twice = run(data_dir, "terminal", "add", "--outlet", "BJ-001", "--name", "Again", "--public-key", str(pem))
    assert twice.returncode == 4 and "terminal.key_in_use" in twice.stderr


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"not a key at all", "terminal.key_invalid"),
        (base64.b64encode(b"\x01" * 31), "terminal.key_invalid"),
        (b"A" * 5000, "terminal.key_invalid"),
    ],
)
def test_malformed_keys_are_refused_with_a_typed_exit(
    data_dir: Path, tmp_path: Path, content: bytes, code: str
) -> None:
    key = tmp_path / "bad.pub"
    key.write_bytes(content)
    result = run(data_dir, "terminal", "add", "--outlet", "BJ-001", "--name", "Bad", "--public-key", str(key))
    assert result.returncode == 2 and code in result.stderr and "Traceback" not in result.stderr


def test_unknown_outlet_missing_file_and_a_directory_are_refused(data_dir: Path, tmp_path: Path) -> None:
    raw = tmp_path / "k.pub"
    raw.write_bytes(
        base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    )
    unknown = run(data_dir, "terminal", "add", "--outlet", "NOPE-1", "--name", "X", "--public-key", str(raw))
    assert unknown.returncode == 3 and "outlet.not_found" in unknown.stderr
    for path in (tmp_path / "missing.pub", tmp_path):
        result = run(data_dir, "terminal", "add", "--outlet", "BJ-001", "--name", "X", "--public-key", str(path))
        assert (
            result.returncode == 2 and "terminal.key_unreadable" in result.stderr and "Traceback" not in result.stderr
        )
