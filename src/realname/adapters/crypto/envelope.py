"""Envelope encryption of personal data: a fresh AES-256-GCM data key per record, wrapped by a KEK.

The record's ``EncryptionContext`` (table, row, purpose) is the associated data, so a ciphertext
copied to another row, table or purpose fails to decrypt. Stored bytes are self-describing:

    magic "RNE" | format 0x01 | KEK version (u32 BE) | wrapped-key length (u16 BE) | wrapped key
    | nonce (12) | ciphertext + tag (16)

Rotation only re-wraps the 32-byte data key under the current KEK (``rewrap``); the payload is
untouched. Every failure to read a ciphertext is a ``DependencyUnavailable``: ``crypto.decrypt_failed``
for malformed or tampered bytes or a wrong context, ``keys.*`` when the KEK itself is unavailable.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from realname.app.keys import KeyProvider, WrappedKey
from realname.app.ports import EncryptionContext
from realname.domain.errors import DependencyUnavailable

MAGIC = b"RNE"
FORMAT_VERSION = 1
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_HEADER = struct.Struct(">3sBIH")


def _failed(reason: str) -> DependencyUnavailable:
    return DependencyUnavailable(f"personal data cannot be decrypted: {reason}", code="crypto.decrypt_failed")


@dataclass(frozen=True, slots=True)
class _Envelope:
    wrapped: WrappedKey
    nonce: bytes
    sealed: bytes

    def to_bytes(self) -> bytes:
        header = _HEADER.pack(MAGIC, FORMAT_VERSION, self.wrapped.kek_version, len(self.wrapped.ciphertext))
        return header + self.wrapped.ciphertext + self.nonce + self.sealed

    @classmethod
    def parse(cls, data: bytes) -> _Envelope:
        if len(data) < _HEADER.size:
            raise _failed("too short")
        magic, version, kek_version, wrapped_length = _HEADER.unpack_from(data)
        if magic != MAGIC or version != FORMAT_VERSION:
            raise _failed("not an envelope of a known format")
        if kek_version < 1 or wrapped_length == 0:
            raise _failed("bad header")
        nonce_at = _HEADER.size + wrapped_length
        sealed_at = nonce_at + NONCE_BYTES
        if len(data) < sealed_at + TAG_BYTES:
            raise _failed("truncated")
        return cls(
            WrappedKey(kek_version, bytes(data[_HEADER.size : nonce_at])),
            bytes(data[nonce_at:sealed_at]),
            bytes(data[sealed_at:]),
        )


class EnvelopeCipher:
    """``FieldCipher`` over a ``KeyProvider``; also re-wraps for key rotation."""

    def __init__(self, keys: KeyProvider) -> None:
        self._keys = keys

    def encrypt(self, plaintext: bytes, context: EncryptionContext) -> bytes:
        data_key = AESGCM.generate_key(bit_length=DATA_KEY_BYTES * 8)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext, context.as_bytes())
        return _Envelope(self._keys.wrap(data_key), nonce, sealed).to_bytes()

    def decrypt(self, ciphertext: bytes, context: EncryptionContext) -> bytes:
        envelope = _Envelope.parse(ciphertext)
        return self._open(envelope, context)

    def rewrap(self, ciphertext: bytes, context: EncryptionContext | None = None) -> bytes:
        """The same record with its data key wrapped under the current KEK; the payload is not touched.

        With ``context`` the record is first checked to decrypt, so a damaged or misplaced record is
        reported instead of being carried into the new KEK version.
        """
        envelope = _Envelope.parse(ciphertext)
        if context is not None:
            self._open(envelope, context)
        if envelope.wrapped.kek_version == self._keys.current_kek_version():
            return bytes(ciphertext)
        rewrapped = _Envelope(self._keys.rewrap(envelope.wrapped), envelope.nonce, envelope.sealed)
        return rewrapped.to_bytes()

    def kek_version_of(self, ciphertext: bytes) -> int:
        """The KEK version the record's data key is wrapped under (read from the header only)."""
        return _Envelope.parse(ciphertext).wrapped.kek_version

    def _open(self, envelope: _Envelope, context: EncryptionContext) -> bytes:
        data_key = self._keys.unwrap(envelope.wrapped)
        if len(data_key) != DATA_KEY_BYTES:
            raise _failed("bad data key")
        try:
            return AESGCM(data_key).decrypt(envelope.nonce, envelope.sealed, context.as_bytes())
        except InvalidTag as exc:
            raise _failed("tampered, or stored under another table, row or purpose") from exc
