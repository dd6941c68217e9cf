"""Terminal public keys (Ed25519): reading the encodings admins hand over, and verifying signatures."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)

from realname.domain.errors import InvalidInput

RAW_KEY_BYTES = 32
SIGNATURE_BYTES = 64
MAX_KEY_INPUT_BYTES = 4096


def _invalid() -> InvalidInput:
    return InvalidInput(
        "not an Ed25519 public key: give PEM (BEGIN PUBLIC KEY), or base64 of the raw 32-byte key or of its DER",
        code="terminal.key_invalid",
    )


def _raw_of(key: object) -> bytes:
    if not isinstance(key, Ed25519PublicKey):
        raise _invalid()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class Ed25519TerminalKeys:
    """``SignatureVerifier`` for terminals' Ed25519 keys."""

    def public_key_from(self, data: bytes) -> bytes:
        if len(data) > MAX_KEY_INPUT_BYTES:
            raise _invalid()
        text = data.strip()
        if text.startswith(b"-----BEGIN"):
            try:
                return _raw_of(load_pem_public_key(text))
            except (ValueError, TypeError) as exc:
                raise _invalid() from exc
        decoded: bytes | None = None
        if len(data) != RAW_KEY_BYTES:
            try:
                decoded = base64.b64decode(
                    text + b"=" * (-len(text) % 4),
                    altchars=b"-_" if b"-" in text or b"_" in text else None,
                    validate=True,
                )
            except (binascii.Error, ValueError):
                decoded = None
        candidate = data if decoded is None else decoded
        if len(candidate) == RAW_KEY_BYTES:
            try:
                return _raw_of(Ed25519PublicKey.from_public_bytes(candidate))
            except ValueError as exc:
                raise _invalid() from exc
        try:
            return _raw_of(load_der_public_key(candidate))
        except (ValueError, TypeError) as exc:
            raise _invalid() from exc

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        if len(signature) != SIGNATURE_BYTES or len(public_key) != RAW_KEY_BYTES:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True
