"""The customer's visit at a kiosk, as the server keeps it: the clerk's open attempt on that kiosk and the step it has
reached, so that a reloaded page, or the clerk signing in again, picks the visit up where it was; and ending a visit
on purpose, which gives back the numbers it held reserved.

The visit is the attempt: its state, decision, review case and reservations are all on the server already. The
step is derived from them (:func:`step_of`); nothing of the customer (document, photo) is kept for a restore, so a
visit restored before its face check reads the ID card again. A visit that completed its service stays the current
one, at its receipt (masked), until the clerk ends it or starts the next customer; the full number and SIM of its
printed copy come from the encrypted receipt copy (:mod:`realname.app.receipt_copies`), which ending the visit
deletes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from realname.app.actors import Actor
from realname.app.attempts import NUMBER_STAFF, AttemptAccess, AttemptDeps, Receipt
from realname.app.receipt_copies import ReceiptCopy, receipt_copy
from realname.app.unit_of_work import UnitOfWork
from realname.domain.attempts import TERMINAL_STATES, Attempt, AttemptState, Outcome, Purpose
from realname.domain.numbers import PhoneNumber
from realname.domain.reviews import ATTEMPT_REVIEW_KINDS, ENDED_STATES, ReviewCase


class VisitStep(enum.StrEnum):
    """Where the kiosk resumes a visit."""

    DOCUMENT = "document"
    """Read the ID card (again): no valid document yet, or one checked without consent given."""
    FACE_CHECK = "face_check"
    """Consent was given: read the card again for its chip portrait, then the challenge."""
    DECISION = "decision"
    """The face check was rejected: try again or ask for a review."""
    REVIEW_WAIT = "review_wait"
    """A review case about the visit is open; the kiosk follows it."""
    MANUAL_REVIEW = "manual_review"
    """The customer declined biometric consent: the attended manual path."""
    NUMBERS = "numbers"
    """Verified for a new number: choose one."""
    SIM = "sim"
    """Verified, a number held: scan the SIM."""
    SERVICE = "service"
    """Verified owner: do the service (surrender, SIM replacement, re-verification)."""
    RECEIPT = "receipt"
    """The service was done: its receipt (masked), until the clerk ends the visit or starts the next customer."""


@dataclass(frozen=True, slots=True)
class CurrentVisit:
    attempt: Attempt
    step: VisitStep
    reserved: Sequence[PhoneNumber]
    """Numbers the visit holds reserved now, newest reservation last."""
    review: ReviewCase | None
    receipt: Receipt | None = None
    """At the receipt step: the completed service's receipt, masked as the API answered it."""
    printed: ReceiptCopy | None = None
    """At the receipt step: the full number and SIM for the customer's printed receipt (for this clerk only)."""


@dataclass(frozen=True, slots=True)
class EndedVisit:
    attempt: Attempt
    released: Sequence[PhoneNumber]
    """Numbers the visit held reserved, given back to the pool."""


def step_of(attempt: Attempt, reserved: Sequence[PhoneNumber], review: ReviewCase | None) -> VisitStep:
    """The kiosk step an open attempt is at."""
    if attempt.state is AttemptState.MANUAL_REVIEW:
        return VisitStep.MANUAL_REVIEW
    if review is not None and review.state not in ENDED_STATES and attempt.outcome is not Outcome.APPROVED:
        return VisitStep.REVIEW_WAIT
    if attempt.state in (AttemptState.STARTED, AttemptState.DOCUMENT_CHECKED):
        return VisitStep.DOCUMENT
    if attempt.state in (AttemptState.CONSENTED, AttemptState.CHALLENGED):
        return VisitStep.FACE_CHECK
    if attempt.outcome is not Outcome.APPROVED:
        return VisitStep.DECISION
    if attempt.purpose is not Purpose.REGISTER:
        return VisitStep.SERVICE
    return VisitStep.SIM if reserved else VisitStep.NUMBERS


class Visits:
    def __init__(self, deps: AttemptDeps) -> None:
        self._d = deps
        self._access = AttemptAccess(deps)

    def current(self, actor: Actor, device_id: str) -> CurrentVisit | None:
        """The clerk's open visit on this kiosk (``device_id``), or None. An attempt past its time expires here.

        Raises:
            Forbidden: the actor is not counter staff (``auth.role_forbidden``).
        """
        actor.require(*NUMBER_STAFF)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = uow.attempts.latest_open_of(actor.ref, device_id)
            if attempt is None:
                return self._completed(uow, actor, device_id)
            if attempt.purpose is Purpose.SELF_SERVICE:
                return None
            if attempt.expire_if_due(now):
                uow.attempts.save(attempt)
                uow.commit()
                return None
            held = uow.numbers.reserved_by(attempt.id)
            reserved = sorted((n for n in held if n.reserved_until and n.reserved_until > now), key=_reserved_until)
            cases = [c for c in uow.reviews.of_attempt(attempt.id) if c.kind in ATTEMPT_REVIEW_KINDS]
            review = cases[-1] if cases else None
            return CurrentVisit(attempt, step_of(attempt, reserved, review), reserved, review)

    def _completed(self, uow: UnitOfWork, actor: Actor, device_id: str) -> CurrentVisit | None:
        """The clerk's latest visit on this kiosk if it completed a service and was not ended since: its receipt is
        shown again (for at most the attempt time after it was issued)."""
        latest = uow.attempts.latest_of(actor.ref, device_id)
        if latest is None or latest.state is not AttemptState.COMPLETED or latest.purpose is Purpose.SELF_SERVICE:
            return None
        kept, ended_at = uow.attempts.receipt_of(latest.id)
        if kept is None or ended_at is not None:
            return None
        receipt = Receipt(**json.loads(kept))
        issued = datetime.fromisoformat(receipt.issued_at)
        now = self._d.clock.now()
        if now - issued > timedelta(minutes=self._d.policy.attempt_ttl_minutes):
            return None
        printed = receipt_copy(uow, self._d.cipher, latest.id, now)
        return CurrentVisit(latest, VisitStep.RECEIPT, (), None, receipt, printed)

    def end(self, actor: Actor, attempt_id: str) -> EndedVisit:
        """End the visit: an open attempt is abandoned, and every number it holds reserved goes back to the pool
        at once (not when the reservation runs out). Ending a visit that has ended gives back what it still holds.
        One ``visit.ended`` audit event names the numbers released (masked).

        Raises:
            NotFound: another clerk's or outlet's attempt (``attempt.not_found``).
            Forbidden: the actor is not counter staff (``auth.role_forbidden``).
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._access.load(uow, actor, attempt_id)
            actor.require(*NUMBER_STAFF)  # after the scope check: another outlet's attempt still looks missing
            attempt.expire_if_due(now)
            state_before = attempt.state
            if attempt.state not in TERMINAL_STATES:
                attempt.abandon(now)
            uow.attempts.save(attempt)
            uow.attempts.end_visit(attempt.id, now)
            uow.attempts.forget_receipt_copy(attempt.id)
            released: list[PhoneNumber] = []
            for number in uow.numbers.reserved_by(attempt.id):
                number.release(attempt.id)
                uow.numbers.save(number)
                released.append(number)
            self._access.audit(
                uow,
                actor,
                "visit.ended",
                attempt,
                {"state": state_before.value, "released": [n.msisdn.masked for n in released]},
            )
            uow.commit()
        return EndedVisit(attempt, released)

    def forget_due_receipt_copies(self) -> int:
        """Delete the printable receipt copies whose time is over (``serve``'s privacy job); return how many."""
        with self._d.uow() as uow:
            forgotten = uow.attempts.forget_receipt_copies_due(self._d.clock.now())
            uow.commit()
        return forgotten


def _reserved_until(number: PhoneNumber) -> str:
    return number.reserved_until.isoformat() if number.reserved_until else ""
