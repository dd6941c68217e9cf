"""Enrolled terminals: store kiosks whose card reader is trusted, and what their signatures cover.

A chip portrait is a trusted reference only when a card reader at an enrolled terminal read it: the
terminal holds an Ed25519 key (its public half enrolled by an admin to one outlet) and signs every
request that carries what its reader read. The signed message is a canonical JSON array of the
message version, the terminal id, the attempt id, a single-use nonce, the time (Unix seconds), the
SHA-256 of the chip portrait bytes (empty when the request carries none) and the SHA-256 of the ID
fields. Both ends build it the same way: ``JSON.stringify`` in the kiosk page, :func:`reader_message`
here.

A request that also carries the document camera's card front is signed as ``realname.reader.v2``: its
portrait slot is the chip portrait's SHA-256 and the card front's joined by ``:`` (:func:`portrait_slot`),
so a card front the terminal did not deliver cannot ride along with a signed chip portrait. ``v1`` stays
the message of every request without a card front.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from realname.domain.errors import Forbidden, InvalidInput, Unauthenticated

READER_MESSAGE_VERSION = "realname.reader.v1"
READER_MESSAGE_VERSION_WITH_CARD_FRONT = "realname.reader.v2"
READER_MAX_AGE_SECONDS = 120
"""A signed read older (or further in the future) than this is refused as stale."""

NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TERMINAL_NAME_MAX = 80
PUBLIC_KEY_BYTES = 32


class TerminalUnknown(Unauthenticated):
    code = "terminal.unknown"


class TerminalRevoked(Forbidden):
    code = "terminal.revoked"


class TerminalWrongOutlet(Forbidden):
    code = "terminal.outlet_mismatch"


class ReaderRequired(Unauthenticated):
    code = "reader.required"


class ReaderSignatureInvalid(Unauthenticated):
    code = "reader.signature_invalid"


class ReaderStale(Unauthenticated):
    code = "reader.stale"


class ReaderReplayed(Unauthenticated):
    code = "reader.replayed"


class CardFrontUnsigned(Forbidden):
    """A card front sent with a chip portrait whose signature (``v1``) does not cover it."""

    code = "reader.card_front_unsigned"


class PortraitUntrusted(Forbidden):
    """A reference portrait that no enrolled terminal's reader signed for this attempt."""

    code = "reader.portrait_untrusted"


@dataclass(frozen=True, slots=True)
class Terminal:
    """A kiosk enrolled to one outlet. ``public_key`` is the raw 32-byte Ed25519 key."""

    id: str
    outlet_code: str
    name: str
    public_key: bytes
    enrolled_at: datetime
    enrolled_by: str
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def key_fingerprint(self) -> str:
        """SHA-256 of the public key, first 16 hex characters (shown by ``terminal list``)."""
        return hashlib.sha256(self.public_key).hexdigest()[:16]

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_BYTES:
            raise InvalidInput("an Ed25519 public key is 32 bytes", code="terminal.key_invalid")
        name = self.name.strip()
        if not name or len(name) > TERMINAL_NAME_MAX or not name.isprintable():
            raise InvalidInput(
                f"a terminal name is 1–{TERMINAL_NAME_MAX} printable characters", code="terminal.name_invalid"
            )


@dataclass(frozen=True, slots=True)
class ReaderSignature:
    """What a terminal sends with a request that carries reader data (signature raw, 64 bytes).

    ``id_fields_sha256`` is sent with the chip portrait (the fields themselves went with the document
    step); the document step's fields hash is computed from the fields it carries."""

    terminal_id: str
    nonce: str
    timestamp: int
    signature: bytes
    id_fields_sha256: str = ""


def fields_sha256(fields: Sequence[str | None]) -> str:
    """SHA-256 (hex) of the ID fields as the reader read them, as a compact JSON array."""
    encoded = json.dumps(list(fields), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def portrait_slot(chip_sha256: str, card_front_sha256: str | None) -> str:
    """The signed portrait slot: the chip portrait's SHA-256, and with a card front ``chip:card_front`` (v2)."""
    return chip_sha256 if card_front_sha256 is None else f"{chip_sha256}:{card_front_sha256}"


def reader_message(
    *,
    terminal_id: str,
    attempt_id: str,
    nonce: str,
    timestamp: int,
    portrait_sha256: str,
    id_fields_sha256: str,
    with_card_front: bool = False,
) -> bytes:
    """The exact bytes a terminal signs for one request carrying reader data (``with_card_front``: the v2
    message, whose ``portrait_sha256`` is :func:`portrait_slot` of the chip portrait and the card front)."""
    parts: list[str | int] = [
        READER_MESSAGE_VERSION_WITH_CARD_FRONT if with_card_front else READER_MESSAGE_VERSION,
        terminal_id,
        attempt_id,
        nonce,
        timestamp,
        portrait_sha256,
        id_fields_sha256,
    ]
    return json.dumps(parts, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def check_fresh(timestamp: int, now: datetime, max_age_seconds: int = READER_MAX_AGE_SECONDS) -> None:
    """Raise :class:`ReaderStale` unless ``timestamp`` is within ``max_age_seconds`` of ``now``."""
    if abs(now.timestamp() - timestamp) > max_age_seconds:
        raise ReaderStale(f"the reader's signature is older than {max_age_seconds} s (or the terminal's clock is off)")


def check_nonce(nonce: str) -> None:
    if not NONCE_PATTERN.fullmatch(nonce):
        raise ReaderSignatureInvalid("the reader nonce is 16–64 letters, digits, '-' or '_'")
