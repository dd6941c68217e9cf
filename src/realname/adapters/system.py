"""The real clock, identifier generator and randomness."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class Uuid4Ids:
    def new_id(self) -> str:
        return uuid.uuid4().hex


class SecretsRandom:
    """Cryptographically secure randomness (nonces, credentials, challenge order)."""

    def token_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)

    def shuffle(self, items: list[str]) -> list[str]:
        pool = list(items)
        shuffled: list[str] = []
        while pool:
            shuffled.append(pool.pop(secrets.randbelow(len(pool))))
        return shuffled
