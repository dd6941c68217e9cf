"""EnvelopeCipher: round trips, binding to table/row/purpose, tamper detection, rotation by re-wrapping."""

from __future__ import annotations

import pytest

from realname.adapters.crypto.envelope import MAGIC, NONCE_BYTES, TAG_BYTES, EnvelopeCipher
from realname.app.keys import KeyProvider
from realname.app.ports import EncryptionContext
from realname.domain.errors import DependencyUnavailable

CONTEXT = EncryptionContext(table="subscribers", row_id="sub-0001", purpose="id_number")
PLAINTEXT = b"110101199003077777"


@pytest.fixture
def cipher(provider: KeyProvider) -> EnvelopeCipher:
    return EnvelopeCipher(provider)


@pytest.mark.parametrize("plaintext", [b"", PLAINTEXT, "张三 / 北京市东城区".encode(), bytes(range(256)) * 64])
def test_round_trip(cipher: EnvelopeCipher, plaintext: bytes) -> None:
    stored = cipher.encrypt(plaintext, CONTEXT)
    assert stored.startswith(MAGIC)
    if plaintext:
        assert plaintext not in stored
    assert cipher.decrypt(stored, CONTEXT) == plaintext


def test_each_record_gets_a_fresh_data_key_and_nonce(cipher: EnvelopeCipher) -> None:
    first, second = cipher.encrypt(PLAINTEXT, CONTEXT), cipher.encrypt(PLAINTEXT, CONTEXT)
    assert first != second
    payload_length = len(PLAINTEXT) + TAG_BYTES + NONCE_BYTES
    assert first[-payload_length:] != second[-payload_length:]


@pytest.mark.parametrize(
    "elsewhere",
    [
        EncryptionContext(table="subscribers", row_id="sub-0002", purpose="id_number"),
        EncryptionContext(table="staff", row_id="sub-0001", purpose="id_number"),
        EncryptionContext(table="subscribers", row_id="sub-0001", purpose="name"),
    ],
    ids=["other-row", "other-table", "other-purpose"],
)
def test_ciphertext_moved_elsewhere_fails_to_decrypt(cipher: EnvelopeCipher, elsewhere: EncryptionContext) -> None:
    stored = cipher.encrypt(PLAINTEXT, CONTEXT)
    with pytest.raises(DependencyUnavailable) as caught:
        cipher.decrypt(stored, elsewhere)
    assert caught.value.code == "crypto.decrypt_failed"


def test_every_tampered_byte_is_detected(cipher: EnvelopeCipher) -> None:
    stored = cipher.encrypt(PLAINTEXT, CONTEXT)
    for position in range(len(stored)):
        damaged = bytearray(stored)
        damaged[position] ^= 0x80
        with pytest.raises(DependencyUnavailable):
            cipher.decrypt(bytes(damaged), CONTEXT)


@pytest.mark.parametrize("cut", [0, 1, 9, 20, -1, -16])
def test_truncated_ciphertext_is_detected(cipher: EnvelopeCipher, cut: int) -> None:
    stored = cipher.encrypt(PLAINTEXT, CONTEXT)
    with pytest.raises(DependencyUnavailable) as caught:
        cipher.decrypt(stored[:cut], CONTEXT)
    assert caught.value.code in {"crypto.decrypt_failed"}


def test_rotation_keeps_old_records_readable_and_rewrap_moves_them(
    cipher: EnvelopeCipher, provider: KeyProvider
) -> None:
    stored = cipher.encrypt(PLAINTEXT, CONTEXT)
    assert cipher.kek_version_of(stored) == 1
    provider.rotate()
    assert cipher.decrypt(stored, CONTEXT) == PLAINTEXT

    moved = cipher.rewrap(stored, CONTEXT)
    assert cipher.kek_version_of(moved) == 2
    payload_length = len(PLAINTEXT) + TAG_BYTES + NONCE_BYTES
    assert moved[-payload_length:] == stored[-payload_length:]  # the payload was not re-encrypted
    assert cipher.decrypt(moved, CONTEXT) == PLAINTEXT
    assert cipher.rewrap(moved) == moved

    provider.retire(1)
    assert cipher.decrypt(moved, CONTEXT) == PLAINTEXT
    with pytest.raises(DependencyUnavailable) as caught:
        cipher.decrypt(stored, CONTEXT)
    assert caught.value.code == "keys.retired_version"


def test_rewrap_with_context_refuses_a_misplaced_record(cipher: EnvelopeCipher, provider: KeyProvider) -> None:
    stored = cipher.encrypt(PLAINTEXT, CONTEXT)
    provider.rotate()
    with pytest.raises(DependencyUnavailable) as caught:
        cipher.rewrap(stored, EncryptionContext("subscribers", "sub-0009", "id_number"))
    assert caught.value.code == "crypto.decrypt_failed"


def test_new_records_use_the_current_version(cipher: EnvelopeCipher, provider: KeyProvider) -> None:
    provider.rotate()
    provider.rotate()
    assert cipher.kek_version_of(cipher.encrypt(PLAINTEXT, CONTEXT)) == 3
