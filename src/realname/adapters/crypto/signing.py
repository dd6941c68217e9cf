"""Ed25519 signatures for audit checkpoints (and, later, terminal evidence).

A key id is the first 16 hex characters of SHA-256 over the raw 32-byte public key. The signer keeps
the public keys of retired signing keys, so checkpoints signed before a signing-key rotation still
verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from realname.domain.errors import DependencyUnavailable

KEY_ID_HEX_CHARS = 16
SIGNATURE_BYTES = 64


def key_id_for(public_key: bytes) -> str:
    """The key id of a raw Ed25519 public key."""
    return hashlib.sha256(public_key).hexdigest()[:KEY_ID_HEX_CHARS]


class Ed25519Signer:
    """``Signer`` over one current private key and every known public key."""

    def __init__(self, private_key: bytes, public_keys: Mapping[str, bytes] | None = None) -> None:
        try:
            self._private = Ed25519PrivateKey.from_private_bytes(private_key)
        except ValueError as exc:
            raise DependencyUnavailable("the signing key is malformed", code="keys.corrupt") from exc
        public_raw = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self._key_id = key_id_for(public_raw)
        verifiers: dict[str, Ed25519PublicKey] = {}
        for key_id, raw in (public_keys or {}).items():
            if key_id_for(raw) != key_id:
                raise DependencyUnavailable(f"public key {key_id} does not match its id", code="keys.corrupt")
            verifiers[key_id] = Ed25519PublicKey.from_public_bytes(raw)
        verifiers[self._key_id] = self._private.public_key()
        self._verifiers = verifiers

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def known_key_ids(self) -> frozenset[str]:
        return frozenset(self._verifiers)

    def public_key(self, key_id: str) -> bytes | None:
        """The raw public key for ``key_id`` (for inspectors verifying an export offline)."""
        verifier = self._verifiers.get(key_id)
        return None if verifier is None else verifier.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    def verify(self, message: bytes, signature: bytes, key_id: str) -> bool:
        """True only for a valid signature by the key ``key_id``; unknown key ids are False."""
        verifier = self._verifiers.get(key_id)
        if verifier is None or len(signature) != SIGNATURE_BYTES:
            return False
        try:
            verifier.verify(signature, message)
        except InvalidSignature:
            return False
        return True
