"""The local key file: 0600 on creation, refusal of wider permissions and damaged files, atomic changes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.domain.errors import Conflict, DependencyUnavailable


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _load_error_code(path: Path) -> str:
    with pytest.raises(DependencyUnavailable) as caught:
        LocalKeyFileProvider(path)
    return caught.value.code


def test_created_file_is_0600_in_a_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "keys.json"
    create_key_file(path)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


def test_created_file_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        create_key_file(tmp_path / "keys.json")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "keys.json") == 0o600


def test_an_existing_file_is_never_overwritten(key_file: Path) -> None:
    before = key_file.read_bytes()
    with pytest.raises(Conflict) as caught:
        create_key_file(key_file)
    assert caught.value.code == "keys.exists"
    assert key_file.read_bytes() == before


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_readable_by_others_is_refused(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    assert _load_error_code(key_file) == "keys.permissions"


def test_a_stricter_file_is_accepted(key_file: Path) -> None:
    key_file.chmod(0o400)
    assert LocalKeyFileProvider(key_file).current_kek_version() == 1


def test_missing_file(tmp_path: Path) -> None:
    assert _load_error_code(tmp_path / "absent.json") == "keys.missing"


def test_a_symlink_is_not_followed(key_file: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(key_file)
    assert _load_error_code(link) == "keys.unreadable"


def _write_0600(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o600)


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],
        lambda text: "",
        lambda text: "[]",
        lambda text: "\xff\xfe not json",
        lambda text: text.replace('"realname-keys/1"', '"realname-keys/9"'),
        lambda text: json.dumps({**json.loads(text), "blind_index_key": "c2hvcnQ="}),
        lambda text: json.dumps({**json.loads(text), "token_key": "not base64!"}),
        lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "signing"}),
        lambda text: json.dumps({**json.loads(text), "kek": {**json.loads(text)["kek"], "current": 7}}),
    ],
    ids=[
        "truncated",
        "empty",
        "wrong-shape",
        "not-json",
        "unknown-format",
        "short-key",
        "bad-base64",
        "missing-section",
        "missing-current-kek",
    ],
)
def test_a_damaged_file_is_refused_as_corrupt(key_file: Path, damage: Callable[[str], str]) -> None:
    _write_0600(key_file, damage(key_file.read_text()))
    assert _load_error_code(key_file) == "keys.corrupt"


def test_a_signing_key_that_does_not_match_its_id_is_refused(key_file: Path) -> None:
    document = json.loads(key_file.read_text())
    document["signing"]["keys"][0]["key_id"] = "0" * 16
    _write_0600(key_file, json.dumps(document))
    assert _load_error_code(key_file) == "keys.corrupt"


def test_keys_are_distinct_and_of_full_length(local_provider: LocalKeyFileProvider) -> None:
    blind, token = local_provider.blind_index_key(), local_provider.token_key()
    signing = local_provider.signing_keys()
    assert len(blind) == len(token) == len(signing.private_key) == 32
    assert len({blind, token, signing.private_key}) == 3


def test_rotation_persists_keeps_0600_and_leaves_no_temporary_files(
    key_file: Path, local_provider: LocalKeyFileProvider
) -> None:
    local_provider.rotate()
    assert _mode(key_file) == 0o600
    assert sorted(p.name for p in key_file.parent.iterdir()) == ["keys.json", "keys.json.lock"]
    assert LocalKeyFileProvider(key_file).current_kek_version() == 2


def test_retirement_erases_the_key_bytes_from_the_file(key_file: Path, local_provider: LocalKeyFileProvider) -> None:
    local_provider.rotate()
    local_provider.retire(1)
    versions = {v["version"]: v for v in json.loads(key_file.read_text())["kek"]["versions"]}
    assert versions[1]["status"] == "retired" and versions[1]["key"] is None
    assert versions[1]["retired_at"] is not None
    assert versions[2]["status"] == "active" and versions[2]["key"] is not None


def test_retiring_an_unknown_version_is_a_typed_error(local_provider: LocalKeyFileProvider) -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        local_provider.retire(5)
    assert caught.value.code == "keys.unknown_version"


def test_another_process_sees_a_rotation_without_restarting(
    key_file: Path, local_provider: LocalKeyFileProvider
) -> None:
    other = LocalKeyFileProvider(key_file)  # e.g. `realname keys rotate` next to a running server
    other.rotate()
    wrapped = other.wrap(b"d" * 32)
    assert wrapped.kek_version == 2
    assert local_provider.unwrap(wrapped) == b"d" * 32
    assert local_provider.wrap(b"e" * 32).kek_version == 2


def test_the_key_file_disappearing_fails_closed(key_file: Path, local_provider: LocalKeyFileProvider) -> None:
    key_file.unlink()
    with pytest.raises(DependencyUnavailable) as caught:
        local_provider.wrap(b"d" * 32)
    assert caught.value.code == "keys.missing"


def test_signing_key_rotation_erases_the_old_private_key_but_keeps_its_public_key(
    key_file: Path, local_provider: LocalKeyFileProvider
) -> None:
    before = local_provider.signing_keys()
    new_id = local_provider.rotate_signing_key()
    after = local_provider.signing_keys()
    assert new_id in after.public_keys and len(after.public_keys) == 2
    assert after.private_key != before.private_key
    stored = json.loads(key_file.read_text())["signing"]["keys"]
    assert [k["private_key"] is None for k in stored] == [True, False]


def test_key_values_do_not_print_their_secrets(local_provider: LocalKeyFileProvider) -> None:
    signing = local_provider.signing_keys()
    wrapped = local_provider.wrap(b"d" * 32)
    assert signing.private_key.hex() not in repr(signing) and str(signing.private_key) not in repr(signing)
    assert str(wrapped.ciphertext) not in repr(wrapped)
