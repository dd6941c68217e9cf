"""Self-service at home (一证通查): identity by ID number, name and a one-time code; records; "not mine".

No reference portrait is accepted here (a photo the caller uploads proves nothing). After the ID document
step (``Verification.submit_document`` on the session's attempt), the subscriber asks for a code with
their name; if the ID has a subscriber whose recorded name matches and who holds an active number, a
code goes to that number. The answer is the same either way, so the page reveals nothing about who is
registered. A right code verifies the attempt; wrong codes count against the session and the device.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from realname.app.actors import Actor
from realname.app.ports import BlindIndexer, Clock, EncryptionContext, FieldCipher, IdGenerator, RandomSource
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.attempts import Attempt, Outcome, Purpose, ReasonCategory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import Conflict, NotFound, TooManyRequests
from realname.domain.lockout import lockout_periods
from realname.domain.numbers import Binding, Msisdn, NumberState
from realname.domain.organisation import SELF_SERVICE_OUTLET, Role
from realname.domain.policy import Policy
from realname.domain.reviews import CaseKind
from realname.domain.self_service import (
    CODE_TTL_SECONDS,
    CODES_PER_DEVICE_PER_HOUR,
    CODES_PER_ID_PER_HOUR,
    RATE_WINDOW,
    SESSIONS_PER_DEVICE_PER_HOUR,
    CodeNotRequested,
    OneTimeCode,
    code_from_bytes,
    normalise_name,
    refuse_if_throttled,
)

LOCKOUT_HISTORY = timedelta(days=30)
"""How far back ``/me`` lists lock-outs on the subscriber's ID."""


class CodeSender(Protocol):
    """Sends a one-time code to a phone number (an SMS gateway in production)."""

    def send(self, msisdn: Msisdn, code: str, expires_at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class SelfServiceDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    random: RandomSource
    policy: Policy
    cipher: FieldCipher
    blind_index: BlindIndexer
    sender: CodeSender


@dataclass(frozen=True, slots=True)
class CodeCheck:
    attempt: Attempt
    passed: bool
    tries_left: int


@dataclass(frozen=True, slots=True)
class HeldNumber:
    """One of the verified person's numbers, masked; ``ref`` names it in a "not mine" report."""

    ref: str
    msisdn_masked: str
    state: str
    since: str
    outlet_code: str


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    at: str
    outlet_code: str
    purpose: str
    outcome: str | None
    state: str
    spoof_suspected: bool = False
    """The face check suspected a photo, screen or mask: someone may have tried to pass as the subscriber."""


@dataclass(frozen=True, slots=True)
class AccessRecord:
    at: str
    actor: str
    action: str
    outlet_code: str | None


@dataclass(frozen=True, slots=True)
class LockoutRecord:
    """A lock-out on the subscriber's ID (face mismatches against the chip portrait at an enrolled terminal)."""

    locked_from: str
    locked_until: str
    active: bool


@dataclass(frozen=True, slots=True)
class SubscriberRecords:
    numbers: tuple[HeldNumber, ...]
    attempts: tuple[AttemptRecord, ...]
    accesses: tuple[AccessRecord, ...]
    lockouts: tuple[LockoutRecord, ...] = ()


def self_actor(attempt_id: str) -> Actor:
    """The subscriber behind a self-service attempt: may act on that attempt and their own records only."""
    return Actor(f"self:{attempt_id}", Role.SUBSCRIBER, SELF_SERVICE_OUTLET)


class SelfService:
    def __init__(self, deps: SelfServiceDeps) -> None:
        self._d = deps

    # -- helpers ------------------------------------------------------------------------------------

    def _audit(
        self, uow: UnitOfWork, actor: Actor, action: str, attempt: Attempt, details: dict[str, JsonValue]
    ) -> None:
        subject = attempt.id_index.reference if attempt.id_index else f"attempt:{attempt.id}"
        uow.audit.append(
            AuditRecord(action, actor.ref, SELF_SERVICE_OUTLET, subject, {"attempt": attempt.id, **details}),
            self._d.clock.now(),
        )

    def _own(self, uow: UnitOfWork, actor: Actor, attempt_id: str) -> Attempt:
        actor.require(Role.SUBSCRIBER)
        attempt = uow.attempts.get(attempt_id, for_update=True)
        if attempt is None or attempt.purpose is not Purpose.SELF_SERVICE or actor.ref != f"self:{attempt.id}":
            raise NotFound("no such attempt", code="attempt.not_found")
        return attempt

    def _verified(self, uow: UnitOfWork, actor: Actor, attempt_id: str) -> Attempt:
        attempt = self._own(uow, actor, attempt_id)
        attempt.require_approved(self._d.clock.now())
        assert attempt.id_index is not None
        return attempt

    def _throttle(self, uow: UnitOfWork, scope: str, subject: str, limit: int, what: str, code: str) -> None:
        now = self._d.clock.now()
        uow.throttle.forget_before(scope, subject, now - RATE_WINDOW)
        refuse_if_throttled(
            uow.throttle.since(scope, subject, now - RATE_WINDOW),
            now=now,
            limit=limit,
            window=RATE_WINDOW,
            what=what,
            code=code,
        )
        uow.throttle.add(self._d.ids.new_id(), scope, subject, now)

    def _audit_refusal(self, action: str, subject: str | None, details: dict[str, JsonValue]) -> None:
        with self._d.uow() as uow:
            uow.audit.append(
                AuditRecord(action, "anonymous", SELF_SERVICE_OUTLET, subject, details), self._d.clock.now()
            )
            uow.commit()

    # -- the steps ----------------------------------------------------------------------------------

    def start(self, device_id: str) -> Attempt:
        """Open a self-service attempt (the subscriber's own page); the caller gets a token scoped to it.

        Raises:
            TooManyRequests: ``self.rate_limited`` — more than the allowed sessions from this device.
        """
        now = self._d.clock.now()
        attempt_id = self._d.ids.new_id()
        attempt = Attempt.start(
            attempt_id,
            Purpose.SELF_SERVICE,
            SELF_SERVICE_OUTLET,
            f"self:{attempt_id}",
            device_id,
            now,
            self._d.policy.attempt_ttl_minutes,
        )
        try:
            with self._d.uow() as uow:
                self._throttle(
                    uow,
                    "self.session",
                    device_id,
                    SESSIONS_PER_DEVICE_PER_HOUR,
                    "self-service sessions from this device",
                    "self.rate_limited",
                )
                uow.attempts.add(attempt)
                self._audit(uow, self_actor(attempt.id), "attempt.started", attempt, {"purpose": "self_service"})
                uow.commit()
        except TooManyRequests as exc:
            self._audit_refusal("self.session_refused", None, {"device": device_id, "code": exc.code})
            raise
        return attempt

    def request_code(self, actor: Actor, attempt_id: str, name: str) -> datetime:
        """After the ID document step: send a one-time code to a number registered under the ID, if the
        name matches the one recorded at registration. Returns when the code expires. The answer does not
        say whether a code was sent.

        Raises:
            TooManyRequests: ``self.rate_limited`` — too many codes for this ID or from this device.
            AttemptStateError: the document was not checked yet.
        """
        now = self._d.clock.now()
        expires_at = now + timedelta(seconds=CODE_TTL_SECONDS)
        code = code_from_bytes(self._d.random.token_bytes(8))
        try:
            with self._d.uow() as uow:
                attempt = self._own(uow, actor, attempt_id)
                attempt.record_code_sent(now)
                assert attempt.id_index is not None
                self._throttle(
                    uow,
                    "self.code_id",
                    attempt.id_index.value,
                    CODES_PER_ID_PER_HOUR,
                    "codes for this ID",
                    "self.rate_limited",
                )
                self._throttle(
                    uow,
                    "self.code_device",
                    attempt.device_id,
                    CODES_PER_DEVICE_PER_HOUR,
                    "codes from this device",
                    "self.rate_limited",
                )
                target, reason = self._code_target(uow, attempt, name)
                uow.codes.put(OneTimeCode(attempt.id, self._code_hash(attempt.id, code), now, expires_at))
                uow.attempts.save(attempt)
                self._audit(
                    uow,
                    actor,
                    "self.code_sent" if target else "self.code_withheld",
                    attempt,
                    {"to": target.masked if target else None, "reason": reason},
                )
                uow.commit()
        except TooManyRequests as exc:
            self._audit_refusal("self.code_refused", None, {"attempt": attempt_id, "code": exc.code})
            raise
        if target is not None:
            self._d.sender.send(target, code, expires_at)
        return expires_at

    def _code_target(self, uow: UnitOfWork, attempt: Attempt, name: str) -> tuple[Msisdn | None, str | None]:
        """The number to send the code to, or None and why not (for the audit log only)."""
        assert attempt.id_index is not None
        subscriber = uow.subscribers.find(attempt.id_index)
        if subscriber is None:
            return None, "no_subscriber"
        stored = uow.subscribers.name_ciphertext(subscriber.id)
        if stored is None:
            return None, "no_name_recorded"
        recorded = self._d.cipher.decrypt(stored, EncryptionContext("subscriber", subscriber.id, "name")).decode()
        if not hmac.compare_digest(normalise_name(recorded).encode(), normalise_name(name).encode()):
            return None, "name_mismatch"
        active = [
            b
            for b in uow.bindings.active_of_subscriber(subscriber.id)
            if (n := uow.numbers.get(b.msisdn)) is not None and n.state is NumberState.ACTIVE
        ]
        if not active:
            return None, "no_active_number"
        return min(active, key=lambda b: b.started_at).msisdn, None

    def _code_hash(self, attempt_id: str, code: str) -> str:
        return self._d.blind_index.index(f"self-code:{attempt_id}:{code}")

    def verify_code(self, actor: Actor, attempt_id: str, code: str) -> CodeCheck:
        """Check a one-time code. A right one verifies the attempt; each wrong one uses a try and counts
        against the device and the session (never the ID); the last wrong one rejects the attempt.

        Raises:
            CodeNotRequested, CodeExpired, CodeExhausted.
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._own(uow, actor, attempt_id)
            attempt.require_challenged(now)
            stored = uow.codes.get(attempt.id)
            if stored is None:
                raise CodeNotRequested("ask for a code first")
            stored.require_usable(now)
            given = code.strip()
            passed = hmac.compare_digest(stored.code_hash, self._code_hash(attempt.id, given))
            tries_left = stored.tries_left - (0 if passed else 1)
            if passed:
                uow.codes.delete(attempt.id)
                attempt.record_decision(Outcome.APPROVED, ("self.code_verified",), now)
            else:
                uow.codes.save_tries(attempt.id, tries_left)
                uow.failures.add(self._d.ids.new_id(), None, attempt.device_id, now)
                if tries_left <= 0:
                    attempt.record_decision(Outcome.REJECTED, ("self.code_invalid",), now)
            uow.attempts.save(attempt)
            self._audit(
                uow,
                actor,
                "self.code_verified" if passed else "self.code_wrong",
                attempt,
                {"tries_left": tries_left},
            )
            uow.commit()
        return CodeCheck(attempt, passed, max(0, tries_left))

    def records(self, actor: Actor, attempt_id: str) -> SubscriberRecords:
        """Everything under the verified person's ID: numbers (masked), attempts, accesses, lock-outs."""
        now = self._d.clock.now()
        policy = self._d.policy
        with self._d.uow() as uow:
            attempt = self._verified(uow, actor, attempt_id)
            assert attempt.id_index is not None
            subscriber = uow.subscribers.find(attempt.id_index)
            numbers: list[HeldNumber] = []
            if subscriber is not None:
                for binding in uow.bindings.active_of_subscriber(subscriber.id):
                    number = uow.numbers.get(binding.msisdn)
                    numbers.append(
                        HeldNumber(
                            binding.id,
                            binding.msisdn.masked,
                            number.state.value if number else "unknown",
                            binding.started_at.isoformat(timespec="seconds"),
                            binding.outlet_code,
                        )
                    )
            attempts = tuple(
                AttemptRecord(
                    a.created_at.isoformat(timespec="seconds"),
                    a.outlet_code,
                    a.purpose.value,
                    a.outcome.value if a.outcome else None,
                    a.state.value,
                    a.category is ReasonCategory.SPOOF,
                )
                for a in uow.attempts.of_subscriber(attempt.id_index)
            )
            accesses = tuple(
                AccessRecord(e.occurred_at.isoformat(timespec="seconds"), e.actor, e.action, e.outlet)
                for e in uow.audit.about(attempt.id_index.reference)
                if not e.actor.startswith("self:")
            )
            periods = lockout_periods(
                uow.failures.recent_for_id(attempt.id_index, now - LOCKOUT_HISTORY),
                max_failed=policy.max_failed_attempts,
                window_minutes=policy.lockout_window_minutes,
                lockout_minutes=policy.lockout_minutes,
            )
            lockouts = tuple(
                LockoutRecord(
                    start.isoformat(timespec="seconds"), end.isoformat(timespec="seconds"), start <= now < end
                )
                for start, end in periods
            )
            self._audit(uow, actor, "subscriber.records_viewed", attempt, {})
            uow.commit()
        return SubscriberRecords(tuple(numbers), attempts, accesses, lockouts)

    def report_not_mine(self, actor: Actor, attempt_id: str, number_ref: str) -> str:
        """The verified person says a number under their ID is not theirs: a review case is opened (the
        number stays as it is until a reviewer confirms; a report from home must not cut someone's line).
        Returns the number's state.
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._verified(uow, actor, attempt_id)
            assert attempt.id_index is not None
            subscriber = uow.subscribers.find(attempt.id_index)
            held: Sequence[Binding] = uow.bindings.active_of_subscriber(subscriber.id) if subscriber else ()
            binding = next((b for b in held if b.id == number_ref), None)
            number = uow.numbers.get(binding.msisdn) if binding else None
            if binding is None or number is None:
                raise NotFound("the verified person holds no such number", code="number.not_held")
            if any(c.kind is CaseKind.NOT_MINE and c.msisdn == str(binding.msisdn) for c in uow.reviews.pending()):
                raise Conflict("this number was reported already; a reviewer is on it", code="review.already_open")
            uow.reviews.open(
                self._d.ids.new_id(), CaseKind.NOT_MINE.value, attempt.id, attempt.id_index, str(binding.msisdn), now
            )
            self._audit(uow, actor, "number.reported_not_mine", attempt, {"number": binding.msisdn.masked})
            uow.commit()
        return number.state.value
