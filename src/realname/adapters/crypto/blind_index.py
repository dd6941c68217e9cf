"""Blind indexes: HMAC-SHA-256 under a key of their own, so ID numbers are found without being stored.

Each indexer serves one purpose (``id_number`` by default); the purpose is part of the MAC input, so
the same value indexed for two purposes gives unrelated indexes and one cannot be joined to the other.
"""

from __future__ import annotations

import hashlib
import hmac
import re

MIN_KEY_BYTES = 32
_PURPOSE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_DOMAIN = b"realname/blind-index/v1"


class HmacBlindIndexer:
    """``BlindIndexer``: lower-case hex HMAC-SHA-256 of ``domain | purpose | value``."""

    def __init__(self, key: bytes, purpose: str = "id_number") -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a blind-index key has at least {MIN_KEY_BYTES} bytes")
        if not _PURPOSE.fullmatch(purpose):
            raise ValueError("a blind-index purpose is a short lower-case name")
        self._key = key
        self._prefix = _DOMAIN + b"|" + purpose.encode("ascii") + b"|"
        self.purpose = purpose

    def __repr__(self) -> str:
        return f"HmacBlindIndexer(purpose={self.purpose!r})"

    def for_purpose(self, purpose: str) -> HmacBlindIndexer:
        """An indexer with the same key for another purpose (e.g. ``msisdn``)."""
        return HmacBlindIndexer(self._key, purpose)

    def index(self, normalised_id_number: str) -> str:
        message = self._prefix + normalised_id_number.encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
