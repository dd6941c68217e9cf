"""Staff credentials hashed with argon2id (argon2-cffi).

Defaults follow RFC 9106's second recommended profile (t=3, m=64 MiB, p=4). Stored hashes carry their
parameters, so ``needs_rehash`` tells the sign-in use case when to upgrade a hash after a successful
verification.
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

DEFAULT_TIME_COST = 3
DEFAULT_MEMORY_KIB = 64 * 1024
DEFAULT_PARALLELISM = 4
MAX_SECRET_CHARS = 1024


class Argon2SecretHasher:
    """``SecretHasher`` with argon2id. Cheaper parameters are for tests only."""

    def __init__(
        self,
        time_cost: int = DEFAULT_TIME_COST,
        memory_kib: int = DEFAULT_MEMORY_KIB,
        parallelism: int = DEFAULT_PARALLELISM,
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )

    def hash(self, secret: str) -> str:
        if not secret or len(secret) > MAX_SECRET_CHARS:
            raise ValueError(f"a secret has 1–{MAX_SECRET_CHARS} characters")
        hashed: str = self._hasher.hash(secret)
        return hashed

    def verify(self, hashed: str, secret: str) -> bool:
        """True if ``secret`` matches; False for a wrong secret or a malformed stored hash."""
        if not secret or len(secret) > MAX_SECRET_CHARS:
            return False
        try:
            return bool(self._hasher.verify(hashed, secret))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        """True if ``hashed`` was made with other parameters than this hasher's."""
        try:
            return bool(self._hasher.check_needs_rehash(hashed))
        except (InvalidHashError, ValueError):
            return True
