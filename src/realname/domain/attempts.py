"""Attempts: one customer visit, from reading the ID document to the decision and the number.

State machine::

    started → document_checked → consented → challenged → verified ─┬→ completed
        │            │                │           │        (approved | rejected)
        └────────────┴────────────────┴───────────┴──────→ abandoned | expired
    document_checked --(consent declined)--> manual_review

A rejected verification may be retried with a new challenge until the lock-out rule stops it.
Clerks see the outcome and a reason *category*, never similarities.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from realname.domain.errors import Conflict, InvalidInput
from realname.domain.subscribers import BlindIndex

_LONG_DIGIT_RUN = re.compile(r"\d{11,}")


class AttemptState(enum.StrEnum):
    STARTED = "started"
    DOCUMENT_CHECKED = "document_checked"
    CONSENTED = "consented"
    CHALLENGED = "challenged"
    VERIFIED = "verified"
    COMPLETED = "completed"
    MANUAL_REVIEW = "manual_review"
    ABANDONED = "abandoned"
    EXPIRED = "expired"


TERMINAL_STATES = frozenset({AttemptState.COMPLETED, AttemptState.ABANDONED, AttemptState.EXPIRED})


class Purpose(enum.StrEnum):
    REGISTER = "register"
    SURRENDER = "surrender"
    SIM_REPLACEMENT = "sim_replacement"
    REVERIFY = "reverify"
    SELF_SERVICE = "self_service"


class Outcome(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class ReasonCategory(enum.StrEnum):
    """What a clerk may see about a rejection."""

    DOCUMENT = "document"
    LIVENESS = "liveness"
    SPOOF = "spoof_suspected"
    FACE_MISMATCH = "face_mismatch"
    CAPTURE_QUALITY = "capture_quality"
    LOCKED = "locked_out"
    POLICY = "policy"


def categorise(reasons: tuple[str, ...]) -> ReasonCategory | None:
    """Collapse detailed reason codes into the one category a clerk sees (most serious first)."""
    if not reasons:
        return None
    ordered = (
        (ReasonCategory.LOCKED, ("lockout.",)),
        (ReasonCategory.SPOOF, ("liveness.spoof",)),
        (ReasonCategory.DOCUMENT, ("id.", "mrz.", "document.")),
        (ReasonCategory.FACE_MISMATCH, ("face.mismatch", "liveness.identity_changed")),
        (ReasonCategory.CAPTURE_QUALITY, ("face.", "image.", "liveness.no_face", "liveness.clip")),
        (ReasonCategory.LIVENESS, ("liveness.", "challenge.")),
    )
    for category, prefixes in ordered:
        if any(r.startswith(prefixes) for r in reasons):
            return category
    return ReasonCategory.POLICY


class AttemptStateError(Conflict):
    code = "attempt.invalid_state"


class AttemptExpired(Conflict):
    code = "attempt.expired"


@dataclass(slots=True)
class Attempt:
    id: str
    purpose: Purpose
    outlet_code: str
    clerk_ref: str
    device_id: str
    created_at: datetime
    expires_at: datetime
    state: AttemptState = AttemptState.STARTED
    id_index: BlindIndex | None = None
    document_kind: str | None = None
    consent_version: str | None = None
    outcome: Outcome | None = None
    reasons: tuple[str, ...] = ()
    msisdn: str | None = None
    decided_at: datetime | None = None
    terminal_id: str | None = None
    """The enrolled terminal whose card reader read this attempt's document (signed); None at home."""
    reader_digest: str | None = None
    """Keyed digest of the ID fields that terminal's reader read (binds later reads to the same card)."""
    version: int = 0
    history: list[tuple[AttemptState, datetime]] = field(default_factory=list, repr=False)

    @classmethod
    def start(
        cls,
        attempt_id: str,
        purpose: Purpose,
        outlet_code: str,
        clerk_ref: str,
        device_id: str,
        now: datetime,
        ttl_minutes: int,
    ) -> Attempt:
        if not device_id or len(device_id) > 64 or not device_id.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput("a device id is 1–64 letters, digits, '-' or '_'", code="attempt.device_invalid")
        if _LONG_DIGIT_RUN.search(device_id):
            # Device ids are stored and audited in clear: refuse anything shaped like an ID or phone number.
            raise InvalidInput("a device id must not contain 11 or more digits in a row", code="attempt.device_invalid")
        return cls(
            id=attempt_id,
            purpose=purpose,
            outlet_code=outlet_code,
            clerk_ref=clerk_ref,
            device_id=device_id,
            created_at=now,
            expires_at=now + timedelta(minutes=ttl_minutes),
        )

    @property
    def category(self) -> ReasonCategory | None:
        return categorise(self.reasons)

    def _require(self, now: datetime, *states: AttemptState) -> None:
        if self.state not in TERMINAL_STATES and now >= self.expires_at:
            self._go(AttemptState.EXPIRED, now)
            raise AttemptExpired("this attempt has expired; start a new one")
        if self.state not in states:
            wanted = " or ".join(s.value for s in states)
            raise AttemptStateError(f"the attempt is {self.state.value}; this step needs it {wanted}")

    def _go(self, state: AttemptState, now: datetime) -> None:
        self.state = state
        self.history.append((state, now))

    def expire_if_due(self, now: datetime) -> bool:
        if self.state not in TERMINAL_STATES and now >= self.expires_at:
            self._go(AttemptState.EXPIRED, now)
            return True
        return False

    def record_document(
        self, *, valid: bool, reasons: tuple[str, ...], kind: str, id_index: BlindIndex | None, now: datetime
    ) -> None:
        """A valid document moves the attempt on; an invalid one keeps it here with its reasons."""
        self._require(now, AttemptState.STARTED, AttemptState.DOCUMENT_CHECKED)
        self.document_kind = kind
        self.reasons = reasons
        if valid:
            if id_index is None:
                raise ValueError("a valid document needs its blind index")
            self.id_index = id_index
            self._go(AttemptState.DOCUMENT_CHECKED, now)
        else:
            self.id_index = None
            self._go(AttemptState.STARTED, now)

    def record_reader(self, terminal_id: str, reader_digest: str) -> None:
        """The document was read by an enrolled terminal's card reader (its signature was verified)."""
        self.terminal_id = terminal_id
        self.reader_digest = reader_digest

    def record_code_sent(self, now: datetime) -> None:
        """Self-service: a one-time code was issued (the home counterpart of a liveness challenge)."""
        if self.purpose is not Purpose.SELF_SERVICE:
            raise AttemptStateError("one-time codes are for self-service attempts")
        self._require(now, AttemptState.DOCUMENT_CHECKED, AttemptState.CHALLENGED)
        self._go(AttemptState.CHALLENGED, now)

    def record_consent(self, *, accepted: bool, version: str, current_version: str, now: datetime) -> None:
        self._require(now, AttemptState.DOCUMENT_CHECKED)
        if version != current_version:
            raise InvalidInput(
                f"consent version {version!r} is not the current one ({current_version}); show the current text",
                code="consent.version_outdated",
            )
        if accepted:
            self.consent_version = version
            self._go(AttemptState.CONSENTED, now)
        else:
            self.consent_version = None
            self._go(AttemptState.MANUAL_REVIEW, now)

    def record_challenge(self, now: datetime) -> None:
        self._require(now, AttemptState.CONSENTED, AttemptState.CHALLENGED, AttemptState.VERIFIED)
        if self.state is AttemptState.VERIFIED and self.outcome is Outcome.APPROVED:
            raise AttemptStateError("the attempt is already approved")
        if self.consent_version is None:
            raise AttemptStateError("no biometric capture without consent")
        self._go(AttemptState.CHALLENGED, now)

    def require_capture_consent(self, now: datetime) -> None:
        """The face may be looked at (a framing preview, a challenge): biometric consent was given for this
        attempt and its face check is not approved yet."""
        self._require(now, AttemptState.CONSENTED, AttemptState.CHALLENGED, AttemptState.VERIFIED)
        if self.state is AttemptState.VERIFIED and self.outcome is Outcome.APPROVED:
            raise AttemptStateError("the attempt is already approved")
        if self.consent_version is None:
            raise AttemptStateError("no biometric capture without consent")

    def require_challenged(self, now: datetime) -> None:
        self._require(now, AttemptState.CHALLENGED)

    def record_decision(self, outcome: Outcome, reasons: tuple[str, ...], now: datetime) -> None:
        self._require(now, AttemptState.CHALLENGED)
        self.outcome = outcome
        self.reasons = reasons
        self.decided_at = now
        self._go(AttemptState.VERIFIED, now)

    def require_approved(self, now: datetime) -> None:
        self._require(now, AttemptState.VERIFIED)
        if self.outcome is not Outcome.APPROVED:
            raise AttemptStateError("the customer has not been verified")

    def complete(self, now: datetime, msisdn: str | None = None) -> None:
        self.require_approved(now)
        self.msisdn = msisdn
        self._go(AttemptState.COMPLETED, now)

    def approve_by_review(self, now: datetime) -> None:
        """A reviewer (with a second reviewer's confirmation) approves what the machine could not."""
        if self.state not in (AttemptState.MANUAL_REVIEW, AttemptState.VERIFIED) or self.outcome is Outcome.APPROVED:
            raise AttemptStateError(f"the attempt is {self.state.value}; nothing to approve")
        if self.id_index is None:
            raise AttemptStateError("the attempt has no checked document")
        self.outcome = Outcome.APPROVED
        self.reasons = ("review.approved",)
        self.decided_at = now
        self.expires_at = max(self.expires_at, now + timedelta(minutes=30))
        self._go(AttemptState.VERIFIED, now)

    def abandon(self, now: datetime) -> None:
        if self.state in TERMINAL_STATES:
            raise AttemptStateError(f"the attempt is {self.state.value} already")
        self._go(AttemptState.ABANDONED, now)
