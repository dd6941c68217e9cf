"""Subscribers: people who hold numbers, known to the registry by a keyed blind index of their ID number.

The ID number and name themselves are stored only as ciphertext (envelope encryption, see
``adapters/crypto``); the domain never needs them in clear to apply its rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from realname.domain.errors import InvalidInput

_BLIND_INDEX = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class BlindIndex:
    """HMAC-SHA-256 of a normalised ID number under the blind-index key, as 64 hex characters."""

    value: str

    def __post_init__(self) -> None:
        if not _BLIND_INDEX.fullmatch(self.value):
            raise InvalidInput("a blind index is 64 lower-case hex characters", code="subscriber.index_invalid")

    @property
    def reference(self) -> str:
        """Short reference safe for audit events and logs (a prefix of a keyed hash)."""
        return f"sub:{self.value[:16]}"

    def __repr__(self) -> str:
        return f"BlindIndex({self.reference})"


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: str
    id_index: BlindIndex
    created_at: datetime
    held_numbers: int = 0
    last_service_ended_at: datetime | None = None
