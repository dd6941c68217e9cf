"""The wire format of a terminal's signature: ``X-Terminal-Id``, ``X-Reader-*`` headers.

A request that carries what an enrolled terminal's card reader read (the document step: the ID fields;
the liveness step: the chip portrait, and the document camera's card front when there is one) has these headers; the message signed is built by
``domain.terminals.reader_message``. :func:`signed_reader_headers` is what a terminal (the demo, the
tests, a native kiosk) sends; the kiosk page builds the same in ``terminal.js``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Header

from realname.domain.terminals import (
    ReaderSignature,
    ReaderSignatureInvalid,
    fields_sha256,
    portrait_slot,
    reader_message,
)

TERMINAL_ID = "X-Terminal-Id"
NONCE = "X-Reader-Nonce"
TIMESTAMP = "X-Reader-Timestamp"
SIGNATURE = "X-Reader-Signature"
FIELDS_SHA256 = "X-Reader-Fields-SHA256"


async def reader_signature(
    terminal_id: Annotated[str | None, Header(alias=TERMINAL_ID, max_length=64)] = None,
    nonce: Annotated[str | None, Header(alias=NONCE, max_length=64)] = None,
    timestamp: Annotated[str | None, Header(alias=TIMESTAMP, max_length=20)] = None,
    signature: Annotated[str | None, Header(alias=SIGNATURE, max_length=200)] = None,
    id_fields_sha256: Annotated[str | None, Header(alias=FIELDS_SHA256, max_length=64)] = None,
) -> ReaderSignature | None:
    """The terminal's signature headers, or None when the request carries none (refused where required).
    async because it does no I/O: run on the event loop, not sent to the thread pool."""
    if terminal_id is None and signature is None:
        return None
    if not terminal_id or not nonce or not timestamp or not signature:
        raise ReaderSignatureInvalid(f"a signed read needs {TERMINAL_ID}, {NONCE}, {TIMESTAMP} and {SIGNATURE}")
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        when = int(timestamp)
    except (binascii.Error, ValueError) as exc:
        raise ReaderSignatureInvalid("the reader signature headers are malformed") from exc
    return ReaderSignature(terminal_id, nonce, when, raw, (id_fields_sha256 or "").lower())


def signed_reader_headers(
    private_key: Ed25519PrivateKey,
    terminal_id: str,
    attempt_id: str,
    *,
    fields: Sequence[str | None],
    portrait: bytes | None = None,
    card_front: bytes | None = None,
    now: datetime,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers a terminal sends: for the document step (``portrait`` None) or with the chip portrait, and
    with the card front the document camera delivered along with it (``card_front``: the v2 message)."""
    if card_front is not None and portrait is None:
        raise ValueError("a card front is signed together with the chip portrait")
    digest = fields_sha256(fields)
    nonce = nonce or secrets.token_urlsafe(16)
    timestamp = int(now.timestamp())
    message = reader_message(
        terminal_id=terminal_id,
        attempt_id=attempt_id,
        nonce=nonce,
        timestamp=timestamp,
        portrait_sha256=portrait_slot(
            hashlib.sha256(portrait).hexdigest() if portrait is not None else "",
            hashlib.sha256(card_front).hexdigest() if card_front is not None else None,
        ),
        id_fields_sha256=digest,
        with_card_front=card_front is not None,
    )
    headers = {
        TERMINAL_ID: terminal_id,
        NONCE: nonce,
        TIMESTAMP: str(timestamp),
        SIGNATURE: base64.urlsafe_b64encode(private_key.sign(message)).rstrip(b"=").decode(),
    }
    if portrait is not None:
        headers[FIELDS_SHA256] = digest
    return headers


def document_fields(body: dict[str, object]) -> list[str | None]:
    """The signed ID fields of a document request body (JSON as sent), in the signed order."""
    order = ("kind", "value", "expiry", "issued", "birth_date", "sex", "name")
    defaults: dict[str, str | None] = {"kind": "auto"}
    return [str(body[k]) if body.get(k) is not None else defaults.get(k) for k in order]
