"""Fixtures for the crypto contract tests: a fresh key file, and KEK providers (local file, fake Vault)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.adapters.crypto.vault import VaultTransitKeyProvider
from realname.app.keys import KeyProvider
from tests.contract.crypto.fake_vault_transit import VAULT_KEY, VAULT_URL, FakeVaultTransit


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "keys.json"
    create_key_file(path)
    return path


@pytest.fixture
def local_provider(key_file: Path) -> LocalKeyFileProvider:
    return LocalKeyFileProvider(key_file)


@pytest.fixture
def fake_vault() -> FakeVaultTransit:
    return FakeVaultTransit()


@pytest.fixture
def vault_provider(fake_vault: FakeVaultTransit) -> Iterator[VaultTransitKeyProvider]:
    provider = VaultTransitKeyProvider(VAULT_URL, fake_vault.token, VAULT_KEY, transport=fake_vault.transport())
    provider.ensure_key()
    yield provider
    provider.close()


@pytest.fixture(params=["local_file", "vault_transit"])
def provider(request: pytest.FixtureRequest) -> KeyProvider:
    """Each KEK provider in turn: the contract tests hold for all of them."""
    name = "local_provider" if request.param == "local_file" else "vault_provider"
    found: KeyProvider = request.getfixturevalue(name)
    return found
