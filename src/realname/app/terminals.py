"""Terminal enrollment and the check of what an enrolled terminal's card reader signed.

An admin enrolls a kiosk's Ed25519 public key to one outlet (``realname terminal add``); from then on the
requests that carry what its reader read (the ID fields, the chip portrait) are signed by it and checked
here: the terminal is known, not revoked, of the attempt's outlet; the signature is valid over the
canonical message (``domain/terminals.py``); the time is fresh; the nonce is new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

from realname.app.actors import Actor
from realname.app.ports import Clock, IdGenerator
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.audit import AuditRecord
from realname.domain.errors import NotFound, RealnameError
from realname.domain.organisation import OutletCode, Role
from realname.domain.terminals import (
    READER_MAX_AGE_SECONDS,
    CardFrontUnsigned,
    ReaderReplayed,
    ReaderSignature,
    ReaderSignatureInvalid,
    Terminal,
    TerminalRevoked,
    TerminalUnknown,
    TerminalWrongOutlet,
    check_fresh,
    check_nonce,
    portrait_slot,
    reader_message,
)


class SignatureVerifier(Protocol):
    """Verifies a terminal's Ed25519 signatures and reads the public keys admins enroll."""

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True only for a valid signature of ``message`` by ``public_key`` (raw 32 bytes)."""
        ...

    def public_key_from(self, data: bytes) -> bytes:
        """The raw 32-byte key from PEM (SubjectPublicKeyInfo), base64/base64url of raw or DER, or raw bytes.

        Raises:
            InvalidInput: ``terminal.key_invalid``.
        """
        ...


def verify_reader_read(
    uow: UnitOfWork,
    verifier: SignatureVerifier,
    *,
    reader: ReaderSignature,
    outlet_code: str,
    attempt_id: str,
    portrait_sha256: str,
    id_fields_sha256: str,
    now_clock: Clock,
    card_front_sha256: str | None = None,
) -> Terminal:
    """Check one signed reader read inside the caller's transaction and claim its nonce.

    With ``card_front_sha256`` (the request carries a card front) the signature must be the v2 message, whose
    portrait slot covers the card front too; a v1 signature over the chip portrait alone is told apart
    (``reader.card_front_unsigned``) from a signature that does not verify at all.

    Raises:
        TerminalUnknown, TerminalRevoked, TerminalWrongOutlet, ReaderSignatureInvalid, CardFrontUnsigned,
        ReaderStale, ReaderReplayed.
    """
    now = now_clock.now()
    terminal = uow.terminals.get(reader.terminal_id)
    if terminal is None:
        raise TerminalUnknown("this terminal is not enrolled; ask an admin to run `realname terminal add`")
    if not terminal.active:
        raise TerminalRevoked("this terminal's enrollment was revoked")
    if terminal.outlet_code != outlet_code:
        raise TerminalWrongOutlet("this terminal is enrolled to another outlet")
    check_nonce(reader.nonce)

    def signed(slot: str, with_card_front: bool) -> bool:
        message = reader_message(
            terminal_id=terminal.id,
            attempt_id=attempt_id,
            nonce=reader.nonce,
            timestamp=reader.timestamp,
            portrait_sha256=slot,
            id_fields_sha256=id_fields_sha256,
            with_card_front=with_card_front,
        )
        return verifier.verify(terminal.public_key, message, reader.signature)

    if card_front_sha256 is None:
        if not signed(portrait_sha256, False):
            raise ReaderSignatureInvalid("the terminal's signature does not match what was sent")
    elif not signed(portrait_slot(portrait_sha256, card_front_sha256), True):
        if signed(portrait_sha256, False):
            raise CardFrontUnsigned(
                "the card front is not covered by the terminal's signature (sign it as realname.reader.v2)"
            )
        raise ReaderSignatureInvalid("the terminal's signature does not match what was sent")
    check_fresh(reader.timestamp, now)
    uow.terminals.forget_nonces_before(now - timedelta(seconds=4 * READER_MAX_AGE_SECONDS))
    if not uow.terminals.claim_nonce(terminal.id, reader.nonce, now):
        raise ReaderReplayed("this signed read was used before")
    return terminal


def audit_refused_read(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    actor: Actor,
    outlet: str | None,
    attempt_id: str,
    error: RealnameError,
) -> None:
    """Record a refused reader read in its own transaction (the refused request's work is rolled back)."""
    with uow_factory() as uow:
        uow.audit.append(
            AuditRecord("reader.refused", actor.ref, outlet, f"attempt:{attempt_id}", {"code": error.code}),
            clock.now(),
        )
        uow.commit()


class Terminals:
    """Admin use cases: enroll, list and revoke terminals."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, verifier: SignatureVerifier) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._verifier = verifier

    def enroll(self, actor: Actor, outlet_code: str, name: str, public_key: bytes) -> Terminal:
        """Register a terminal's public key (any accepted encoding) to an outlet; return it with its new id.

        Raises:
            InvalidInput: malformed key or name. NotFound: no such outlet. Conflict: key already enrolled.
        """
        actor.require(Role.ADMIN)
        raw = self._verifier.public_key_from(public_key)
        now = self._clock.now()
        with self._uow() as uow:
            if uow.outlets.get(OutletCode(outlet_code)) is None:
                raise NotFound(f"no outlet {outlet_code!r}", code="outlet.not_found")
            terminal = Terminal(self._ids.new_id(), outlet_code, name.strip(), raw, now, actor.ref)
            uow.terminals.add(terminal)
            uow.audit.append(
                AuditRecord(
                    "terminal.enrolled",
                    actor.ref,
                    outlet_code,
                    f"terminal:{terminal.id}",
                    {"key": terminal.key_fingerprint},
                ),
                now,
            )
            uow.commit()
        return terminal

    def list(self, actor: Actor) -> Sequence[Terminal]:
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._uow() as uow:
            return uow.terminals.list()

    def revoke(self, actor: Actor, terminal_id: str) -> Terminal:
        """Revoke a terminal: its signatures are refused from now on (``terminal.revoked``).

        Raises:
            NotFound: unknown or already revoked terminal.
        """
        actor.require(Role.ADMIN)
        now = self._clock.now()
        with self._uow() as uow:
            if not uow.terminals.revoke(terminal_id, now):
                raise NotFound("no active terminal with this id", code="terminal.not_found")
            terminal = uow.terminals.get(terminal_id)
            assert terminal is not None
            uow.audit.append(
                AuditRecord("terminal.revoked", actor.ref, terminal.outlet_code, f"terminal:{terminal.id}", {}),
                now,
            )
            uow.commit()
        return terminal
