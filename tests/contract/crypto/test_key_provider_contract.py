"""The KeyProvider contract, run against the local key file and the Vault transit provider (fake Vault)."""

from __future__ import annotations

import secrets
from dataclasses import replace

import pytest

from realname.app.keys import KekStatus, KeyProvider
from realname.domain.errors import Conflict, DependencyUnavailable


def test_wrap_then_unwrap_returns_the_data_key(provider: KeyProvider) -> None:
    data_key = secrets.token_bytes(32)
    wrapped = provider.wrap(data_key)
    assert wrapped.kek_version == provider.current_kek_version() == 1
    assert data_key not in wrapped.ciphertext
    assert provider.unwrap(wrapped) == data_key


def test_wrapping_twice_gives_different_ciphertexts(provider: KeyProvider) -> None:
    data_key = secrets.token_bytes(32)
    assert provider.wrap(data_key).ciphertext != provider.wrap(data_key).ciphertext


def test_rotate_makes_a_new_current_version_and_old_wraps_still_open(provider: KeyProvider) -> None:
    data_key = secrets.token_bytes(32)
    old = provider.wrap(data_key)
    assert provider.rotate() == 2
    assert provider.current_kek_version() == 2
    assert provider.wrap(data_key).kek_version == 2
    assert provider.unwrap(old) == data_key


def test_rewrap_moves_a_data_key_to_the_current_version(provider: KeyProvider) -> None:
    data_key = secrets.token_bytes(32)
    old = provider.wrap(data_key)
    provider.rotate()
    moved = provider.rewrap(old)
    assert moved.kek_version == 2
    assert provider.unwrap(moved) == data_key


def test_retired_version_no_longer_unwraps(provider: KeyProvider) -> None:
    data_key = secrets.token_bytes(32)
    old = provider.wrap(data_key)
    provider.rotate()
    moved = provider.rewrap(old)
    provider.retire(1)
    with pytest.raises(DependencyUnavailable) as caught:
        provider.unwrap(old)
    assert caught.value.code == "keys.retired_version"
    assert provider.unwrap(moved) == data_key
    statuses = {v.version: v.status for v in provider.kek_versions()}
    assert statuses == {1: KekStatus.RETIRED, 2: KekStatus.ACTIVE}


def test_retiring_the_current_version_is_refused(provider: KeyProvider) -> None:
    with pytest.raises(Conflict) as caught:
        provider.retire(provider.current_kek_version())
    assert caught.value.code == "keys.retire_current"
    assert provider.unwrap(provider.wrap(b"k" * 32)) == b"k" * 32


def test_unknown_version_is_a_typed_error(provider: KeyProvider) -> None:
    wrapped = provider.wrap(secrets.token_bytes(32))
    with pytest.raises(DependencyUnavailable) as caught:
        provider.unwrap(replace(wrapped, kek_version=99))
    assert caught.value.code == "keys.unknown_version"


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_tampered_wrapped_key_fails_with_a_typed_error(provider: KeyProvider, position: int) -> None:
    wrapped = provider.wrap(secrets.token_bytes(32))
    damaged = bytearray(wrapped.ciphertext)
    damaged[position] ^= 0x01
    with pytest.raises(DependencyUnavailable) as caught:
        provider.unwrap(replace(wrapped, ciphertext=bytes(damaged)))
    assert caught.value.code == "crypto.decrypt_failed"


def test_a_wrapped_key_does_not_open_under_another_version(provider: KeyProvider) -> None:
    wrapped = provider.wrap(secrets.token_bytes(32))
    provider.rotate()
    with pytest.raises(DependencyUnavailable) as caught:
        provider.unwrap(replace(wrapped, kek_version=2))
    assert caught.value.code == "crypto.decrypt_failed"
