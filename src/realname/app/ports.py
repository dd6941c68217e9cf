"""Ports the use cases own. Adapters implement them; tests use typed fakes of them.

Face, liveness and document ports live next to their use cases (``app/matching.py``,
``app/liveness.py``); this module holds the cross-cutting ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A fresh, unguessable identifier (e.g. a UUID4 hex)."""
        ...


class RandomSource(Protocol):
    def token_bytes(self, n: int) -> bytes: ...

    def shuffle(self, items: list[str]) -> list[str]:
        """A new list with ``items`` in a uniformly random order."""
        ...


class BlindIndexer(Protocol):
    """Keyed one-way index (HMAC-SHA-256) used to find a subscriber by ID number without storing it."""

    def index(self, normalised_id_number: str) -> str: ...


@dataclass(frozen=True, slots=True)
class EncryptionContext:
    """Associated data binding a ciphertext to where it lives: a ciphertext moved elsewhere fails."""

    table: str
    row_id: str
    purpose: str

    def as_bytes(self) -> bytes:
        return f"realname/v1|{self.table}|{self.row_id}|{self.purpose}".encode()


class FieldCipher(Protocol):
    """Envelope encryption of personal data (fresh data key per record, wrapped by a KEK)."""

    def encrypt(self, plaintext: bytes, context: EncryptionContext) -> bytes: ...

    def decrypt(self, ciphertext: bytes, context: EncryptionContext) -> bytes: ...


class Signer(Protocol):
    """Signs audit checkpoints (Ed25519)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...

    def verify(self, message: bytes, signature: bytes, key_id: str) -> bool: ...


class SecretHasher(Protocol):
    """Hashes staff credentials (argon2id)."""

    def hash(self, secret: str) -> str: ...

    def verify(self, hashed: str, secret: str) -> bool: ...
