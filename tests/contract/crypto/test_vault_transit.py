"""VaultTransitKeyProvider specifics against the fake Vault: wire format, outages and refusals fail closed."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable

import httpx
import pytest

from realname.adapters.crypto.envelope import EnvelopeCipher
from realname.adapters.crypto.vault import VaultTransitKeyProvider
from realname.app.keys import KekStatus, WrappedKey
from realname.app.ports import EncryptionContext
from realname.domain.errors import Conflict, DependencyUnavailable
from tests.contract.crypto.fake_vault_transit import VAULT_KEY, VAULT_URL, FakeVaultTransit

CONTEXT = EncryptionContext("subscribers", "sub-1", "address")


def _code(call: Callable[[], object]) -> str:
    with pytest.raises(DependencyUnavailable) as caught:
        call()
    return caught.value.code


def test_the_wrapped_key_is_vaults_ciphertext_without_its_prefix(
    vault_provider: VaultTransitKeyProvider, fake_vault: FakeVaultTransit
) -> None:
    data_key = secrets.token_bytes(32)
    wrapped = vault_provider.wrap(data_key)
    assert len(wrapped.ciphertext) == 12 + 32 + 16
    vault_text = f"vault:v1:{base64.b64encode(wrapped.ciphertext).decode()}"
    assert fake_vault.keys[VAULT_KEY].decrypt(vault_text) == data_key


def test_a_wrong_token_is_refused(fake_vault: FakeVaultTransit) -> None:
    provider = VaultTransitKeyProvider(VAULT_URL, "s.wrong", VAULT_KEY, transport=fake_vault.transport())
    assert _code(lambda: provider.wrap(b"k" * 32)) == "keys.forbidden"


def test_an_unreachable_vault_fails_closed(
    vault_provider: VaultTransitKeyProvider, fake_vault: FakeVaultTransit
) -> None:
    cipher = EnvelopeCipher(vault_provider)
    stored = cipher.encrypt(b"address", CONTEXT)
    fake_vault.reachable = False
    assert _code(lambda: cipher.encrypt(b"address", CONTEXT)) == "keys.unavailable"
    assert _code(lambda: cipher.decrypt(stored, CONTEXT)) == "keys.unavailable"
    fake_vault.reachable = True
    assert cipher.decrypt(stored, CONTEXT) == b"address"


def test_a_vault_server_error_fails_closed(
    vault_provider: VaultTransitKeyProvider, fake_vault: FakeVaultTransit
) -> None:
    fake_vault.fail_with_status = 503
    assert _code(vault_provider.current_kek_version) == "keys.unavailable"


def test_a_malformed_answer_fails_closed() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": {"ciphertext": "nope"}}))
    provider = VaultTransitKeyProvider(VAULT_URL, "t", VAULT_KEY, transport=transport)
    assert _code(lambda: provider.wrap(b"k" * 32)) == "keys.unavailable"
    garbage = httpx.MockTransport(lambda request: httpx.Response(200, content=b"<html>"))
    provider = VaultTransitKeyProvider(VAULT_URL, "t", VAULT_KEY, transport=garbage)
    assert _code(lambda: provider.unwrap(WrappedKey(1, b"x" * 40))) == "keys.unavailable"


def test_retiring_in_vault_raises_the_minimum_decryption_version(
    vault_provider: VaultTransitKeyProvider, fake_vault: FakeVaultTransit
) -> None:
    vault_provider.rotate()
    vault_provider.rotate()
    vault_provider.retire(2)
    assert fake_vault.keys[VAULT_KEY].min_decryption_version == 3
    assert [v.status for v in vault_provider.kek_versions()] == [KekStatus.RETIRED] * 2 + [KekStatus.ACTIVE]
    vault_provider.retire(1)  # already retired with 2: nothing to do
    assert fake_vault.keys[VAULT_KEY].min_decryption_version == 3
    with pytest.raises(Conflict):
        vault_provider.retire(3)
    assert _code(lambda: vault_provider.retire(9)) == "keys.unknown_version"


def test_rewrap_happens_inside_vault(vault_provider: VaultTransitKeyProvider, fake_vault: FakeVaultTransit) -> None:
    cipher = EnvelopeCipher(vault_provider)
    stored = cipher.encrypt(b"address", CONTEXT)
    vault_provider.rotate()
    before = fake_vault.requests_seen
    moved = cipher.rewrap(stored)
    assert fake_vault.requests_seen - before == 2  # read the current version, then one rewrap call
    assert cipher.kek_version_of(moved) == 2
    assert cipher.decrypt(moved, CONTEXT) == b"address"


def test_bad_names_are_refused() -> None:
    with pytest.raises(ValueError):
        VaultTransitKeyProvider(VAULT_URL, "t", "../sys/seal")
