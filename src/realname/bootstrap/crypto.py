"""Builds the crypto adapters for the composition root: key provider, cipher, indexer, signer, hasher.

The local key file is the default key provider and the only source of the blind-index, signing and
token keys; a Vault transit key can replace it for KEKs only.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from pathlib import Path

import httpx

from realname.adapters.crypto.blind_index import HmacBlindIndexer
from realname.adapters.crypto.envelope import EnvelopeCipher
from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.adapters.crypto.passwords import Argon2SecretHasher
from realname.adapters.crypto.signing import Ed25519Signer
from realname.adapters.crypto.tokens import HmacTokenIssuer
from realname.adapters.crypto.vault import VaultTransitKeyProvider
from realname.app.keys import KeyProvider, RewrappingCipher, SecretMaterial, TokenIssuer
from realname.app.ports import BlindIndexer, SecretHasher, Signer
from realname.domain.errors import Conflict

MIN_TOKEN_SECRET_CHARS = 16


def ensure_key_file(path: Path) -> bool:
    """Create the key file (0600) unless it exists. Returns True if this call created it."""
    if path.exists():
        return False
    try:
        create_key_file(path)
    except Conflict:  # another process created it first
        return False
    return True


def build_key_provider(key_file: Path) -> LocalKeyFileProvider:
    """The local key file provider (``KeyProvider`` and ``SecretMaterial``); fails if the file is absent."""
    return LocalKeyFileProvider(key_file)


def build_vault_key_provider(
    base_url: str,
    token: str,
    key_name: str,
    *,
    mount: str = "transit",
    transport: httpx.BaseTransport | None = None,
) -> VaultTransitKeyProvider:
    """A Vault transit ``KeyProvider`` for KEKs (the other keys still come from the key file)."""
    return VaultTransitKeyProvider(base_url, token, key_name, mount=mount, transport=transport)


def build_cipher(provider: KeyProvider) -> RewrappingCipher:
    return EnvelopeCipher(provider)


def build_blind_indexer(material: SecretMaterial, purpose: str = "id_number") -> BlindIndexer:
    return HmacBlindIndexer(material.blind_index_key(), purpose)


def build_signer(material: SecretMaterial) -> Signer:
    keys = material.signing_keys()
    return Ed25519Signer(keys.private_key, keys.public_keys)


def build_secret_hasher() -> SecretHasher:
    return Argon2SecretHasher()


def build_token_issuer(source: SecretMaterial | str, ttl_minutes: int) -> TokenIssuer:
    """A token issuer keyed by the key file's token key, or by a configured secret string.

    A configured string (``REALNAME_TOKEN_SECRET``) is stretched to 32 bytes with SHA-256 under a
    domain label; it adds no entropy, so it must be long and random (the settings refuse the dev
    default in prod).
    """
    return HmacTokenIssuer(token_key(source), timedelta(minutes=ttl_minutes))


def token_key(source: SecretMaterial | str) -> bytes:
    if isinstance(source, str):
        if len(source) < MIN_TOKEN_SECRET_CHARS:
            raise ValueError(f"a token secret has at least {MIN_TOKEN_SECRET_CHARS} characters")
        return hashlib.sha256(b"realname/token-key/v1|" + source.encode("utf-8")).digest()
    return source.token_key()


def stream_relay_key(source: SecretMaterial | str) -> bytes:
    """The key that seals a streamed clip's owner into its stream id: derived from the token key, so every host
    that accepts the same staff tokens (``REALNAME_TOKEN_SECRET`` or the same key file) can relay to the others."""
    return hmac.new(token_key(source), b"realname/stream-relay/v1", hashlib.sha256).digest()
