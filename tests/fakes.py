"""Typed fakes of the cross-cutting ports, for unit tests of the core (never used by the product)."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta

from realname.app.ports import EncryptionContext


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 22, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class SequentialIds:
    def __init__(self, prefix: str = "id") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}{next(self._counter):06d}"


class FixedRandom:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def token_bytes(self, n: int) -> bytes:
        seed = str(next(self._counter)).encode()
        return (hashlib.sha256(seed).digest() * (n // 32 + 1))[:n]

    def shuffle(self, items: list[str]) -> list[str]:
        return list(reversed(items))


class FakeBlindIndexer:
    def index(self, normalised_id_number: str) -> str:
        return hashlib.sha256(b"fake-key|" + normalised_id_number.encode()).hexdigest()


class ReversibleFakeCipher:
    """Binds ciphertext to its context like the real cipher does, without real cryptography."""

    def encrypt(self, plaintext: bytes, context: EncryptionContext) -> bytes:
        return context.as_bytes() + b"\x00" + plaintext[::-1]

    def decrypt(self, ciphertext: bytes, context: EncryptionContext) -> bytes:
        prefix = context.as_bytes() + b"\x00"
        if not ciphertext.startswith(prefix):
            raise ValueError("context mismatch")
        return ciphertext[len(prefix) :][::-1]


class PlainFakeHasher:
    def hash(self, secret: str) -> str:
        return "fake$" + hashlib.sha256(secret.encode()).hexdigest()

    def verify(self, hashed: str, secret: str) -> bool:
        return hashed == self.hash(secret)
