"""Hypothesis fuzzing of EnvelopeCipher.decrypt: any input either decrypts or raises the typed error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realname.adapters.crypto.envelope import MAGIC, EnvelopeCipher
from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.app.ports import EncryptionContext
from realname.domain.errors import DependencyUnavailable

CONTEXT = EncryptionContext("subscribers", "sub-42", "id_number")
PLAINTEXT = b"110101199003077777"
FUZZ_EXAMPLES = 1500


@pytest.fixture(scope="module")
def cipher(tmp_path_factory: pytest.TempPathFactory) -> EnvelopeCipher:
    path: Path = tmp_path_factory.mktemp("fuzz") / "keys.json"
    create_key_file(path)
    return EnvelopeCipher(LocalKeyFileProvider(path))


@pytest.fixture(scope="module")
def stored(cipher: EnvelopeCipher) -> bytes:
    return cipher.encrypt(PLAINTEXT, CONTEXT)


def _only_typed_errors(cipher: EnvelopeCipher, data: bytes) -> bytes | None:
    try:
        return cipher.decrypt(data, CONTEXT)
    except DependencyUnavailable:
        return None


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(data=st.binary(max_size=400) | st.binary(max_size=200).map(lambda tail: MAGIC + b"\x01" + tail))
def test_random_bytes_only_raise_the_typed_error(cipher: EnvelopeCipher, data: bytes) -> None:
    assert _only_typed_errors(cipher, data) is None


_STORED_LENGTH = 3 + 1 + 4 + 2 + 60 + 12 + len(PLAINTEXT) + 16  # with the local key file provider


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(
    edits=st.lists(st.tuples(st.integers(0, _STORED_LENGTH - 1), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, _STORED_LENGTH),
    extra=st.binary(max_size=8),
)
def test_mutated_ciphertexts_never_decrypt_to_something_else(
    cipher: EnvelopeCipher, stored: bytes, edits: list[tuple[int, int]], cut: int, extra: bytes
) -> None:
    assert len(stored) == _STORED_LENGTH
    damaged = bytearray(stored)
    for position, value in edits:
        damaged[position] = value
    candidate = bytes(damaged[:cut]) + extra
    result = _only_typed_errors(cipher, candidate)
    assert result is None or (candidate == stored and result == PLAINTEXT)
