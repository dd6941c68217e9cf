"""Key-management ports and their values: key-encryption keys, secret material, staff tokens.

``KeyProvider`` wraps per-record data keys under a versioned key-encryption key (KEK) that can be
rotated and, once nothing depends on it any more, retired. ``SecretMaterial`` hands out the other
long-lived secrets (blind-index key, audit-signing key, token key). ``TokenIssuer`` issues and checks
short-lived staff tokens. Adapters live in ``realname.adapters.crypto``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from realname.app.ports import EncryptionContext, FieldCipher
from realname.domain.organisation import OutletCode, Role


@dataclass(frozen=True, slots=True)
class WrappedKey:
    """A data key encrypted under KEK version ``kek_version``; ``ciphertext`` is provider-specific."""

    kek_version: int
    ciphertext: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if self.kek_version < 1:
            raise ValueError("KEK versions start at 1")


class KekStatus(enum.StrEnum):
    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class KekVersion:
    version: int
    status: KekStatus
    created_at: datetime | None


class KeyProvider(Protocol):
    """Versioned key-encryption keys. Reads keep working across ``rotate``; ``retire`` is final."""

    def current_kek_version(self) -> int: ...

    def kek_versions(self) -> tuple[KekVersion, ...]: ...

    def wrap(self, data_key: bytes) -> WrappedKey:
        """Encrypt ``data_key`` under the current KEK."""
        ...

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """The data key. Raises ``DependencyUnavailable`` (``keys.*``) for unknown or retired versions."""
        ...

    def rewrap(self, wrapped: WrappedKey) -> WrappedKey:
        """The same data key wrapped under the current KEK (a no-op copy if already current)."""
        ...

    def rotate(self) -> int:
        """Create a new KEK version, make it current and return it."""
        ...

    def retire(self, version: int) -> None:
        """Make ``version`` unusable for good. Call only once no stored data key is wrapped under it."""
        ...


class RewrappingCipher(FieldCipher, Protocol):
    """A ``FieldCipher`` whose records can move to the current KEK without re-encrypting the payload."""

    def rewrap(self, ciphertext: bytes, context: EncryptionContext | None = None) -> bytes:
        """The record with its data key wrapped under the current KEK (unchanged if already current)."""
        ...

    def kek_version_of(self, ciphertext: bytes) -> int: ...


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The current Ed25519 private key (raw 32 bytes) and every public key ever used, by key id."""

    private_key: bytes = field(repr=False)
    public_keys: Mapping[str, bytes]


class SecretMaterial(Protocol):
    """Long-lived secrets other than KEKs, each used for one purpose only."""

    def blind_index_key(self) -> bytes: ...

    def signing_keys(self) -> SigningKeys: ...

    def token_key(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class RewrapProgress:
    """How far a re-wrap of stored data keys under the current KEK has come."""

    target_version: int
    done: int
    total: int

    @property
    def finished(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified staff token says. Times are aware UTC datetimes."""

    staff_id: str
    role: Role
    outlet_code: OutletCode
    issued_at: datetime
    expires_at: datetime
    token_id: str
    signed_in_at: datetime | None = None
    """When the member typed their password: renewed tokens carry it on, so a session cannot be renewed forever."""


class TokenIssuer(Protocol):
    """Issues and verifies short-lived, signed staff tokens."""

    def issue(
        self,
        staff_id: str,
        role: Role,
        outlet_code: OutletCode,
        now: datetime,
        ttl: timedelta | None = None,
        signed_in_at: datetime | None = None,
    ) -> str: ...

    def verify(self, token: str, now: datetime) -> TokenClaims:
        """The claims. Raises ``Unauthenticated`` (``auth.token_expired`` / ``auth.token_invalid``)."""
        ...
