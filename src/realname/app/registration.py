"""Registering a number to the verified customer: the available numbers, a reservation, and the registration that
binds number and SIM once (quota and number state re-checked, idempotent)."""

from __future__ import annotations

from collections.abc import Sequence

from realname.app.actors import Actor
from realname.app.attempts import (
    NUMBER_STAFF,
    AttemptAccess,
    AttemptDeps,
    Receipt,
    hash_request,
    remember_receipt,
    replayed_receipt,
)
from realname.app.notices import deliver_notices
from realname.app.ports import EncryptionContext
from realname.app.receipt_copies import keep_receipt_copy
from realname.app.registry import Assignment, bind_number
from realname.domain.attempts import Purpose
from realname.domain.audit import AuditRecord
from realname.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from realname.domain.notices import NoticeKind
from realname.domain.numbers import Msisdn, NumberState, PhoneNumber, QuotaExceeded
from realname.domain.organisation import Role
from realname.domain.relying_parties import normalise_name
from realname.domain.sim import Iccid


class Registration:
    """After an approved verification with purpose ``register``: pick, reserve and bind a number."""

    def __init__(self, deps: AttemptDeps) -> None:
        self._d = deps
        self._access = AttemptAccess(deps)

    def available_numbers(
        self, actor: Actor, *, prefix: str = "", pattern: str = "", after: str = "", limit: int = 20
    ) -> Sequence[PhoneNumber]:
        """Available numbers in order, filtered by prefix and by a digit pattern (``?`` = any digit)."""
        actor.require(Role.CLERK, Role.ADMIN)
        if prefix and not prefix.isdigit():
            raise InvalidInput("a prefix is digits only", code="numbers.prefix_invalid")
        if pattern and not all(c.isdigit() or c == "?" for c in pattern):
            raise InvalidInput("a pattern is digits and '?' only", code="numbers.pattern_invalid")
        limit = max(1, min(limit, 100))
        found: list[PhoneNumber] = []
        cursor = after
        with self._d.uow() as uow:
            while len(found) < limit:
                batch = uow.numbers.list(
                    state=None, prefix=prefix, limit=200, after=cursor, free_at=self._d.clock.now()
                )
                if not batch:
                    break
                found.extend(n for n in batch if _matches(str(n.msisdn), pattern))
                cursor = str(batch[-1].msisdn)
        return found[:limit]

    def reserve(self, actor: Actor, attempt_id: str, msisdn: Msisdn) -> PhoneNumber:
        """Hold a number for the verified customer (``reservation_ttl_seconds``); renewing one it holds is free.

        Raises:
            Forbidden: the actor is not counter staff (``auth.role_forbidden``).
            Conflict: the attempt already holds ``max_reservations_per_attempt`` numbers
                (``reservation.limit_reached``), or the number is taken.
        """
        now = self._d.clock.now()
        with self._d.uow() as uow:
            attempt = self._access.load(uow, actor, attempt_id)
            actor.require(*NUMBER_STAFF)  # after the scope check: another outlet's attempt still looks missing
            attempt.require_approved(now)
            if attempt.purpose is not Purpose.REGISTER:
                raise Conflict("numbers are reserved only when registering", code="attempt.wrong_purpose")
            number = uow.numbers.get(msisdn, for_update=True)
            if number is None:
                raise NotFound(f"number {msisdn.masked} is not in the pool", code="number.not_found")
            renewing = number.state is NumberState.RESERVED and number.reserved_by == attempt.id
            limit = self._d.policy.max_reservations_per_attempt
            if not renewing and uow.numbers.reserved_for(attempt.id, now) >= limit:
                # The attempt row is locked (or SQLite serialises writers), so two reservations at once count right.
                raise Conflict(
                    f"this attempt already holds {limit} reserved numbers; complete or let one expire",
                    code="reservation.limit_reached",
                )
            number.reserve(attempt.id, now, self._d.policy.reservation_ttl_seconds)
            uow.numbers.save(number)
            self._access.audit(uow, actor, "number.reserved", attempt, {"number": msisdn.masked})
            uow.commit()
        return number

    def complete_registration(
        self,
        actor: Actor,
        attempt_id: str,
        *,
        msisdn: Msisdn,
        iccid: Iccid,
        idempotency_key: str,
        name: str | None = None,
    ) -> Receipt:
        """Bind the number to the verified customer, once, with quota and number state re-checked.

        ``name`` (as the card reader read it) is stored encrypted with its blind index, for relying parties'
        three-element checks. A retry with the same idempotency key returns the same receipt; another payload
        with the same key is refused (``idempotency.mismatch``).
        """
        if name is not None:
            normalise_name(name)  # a malformed typed name is refused before any work
        request_hash = hash_request(attempt_id, str(msisdn), iccid.digits, *([name] if name is not None else []))
        now = self._d.clock.now()
        with self._d.uow() as uow:
            replayed = replayed_receipt(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._access.load(uow, actor, attempt_id)
            actor.require(*NUMBER_STAFF)
            if attempt.purpose is not Purpose.REGISTER:
                raise Conflict("this attempt is not a registration", code="attempt.wrong_purpose")
            attempt.require_approved(now)
            assert attempt.id_index is not None
            try:
                assignment: Assignment = bind_number(
                    uow,
                    policy=self._d.policy,
                    ids=self._d.ids,
                    now=now,
                    msisdn=msisdn,
                    attempt_id=attempt.id,
                    id_index=attempt.id_index,
                    iccid=iccid.digits,
                    outlet_code=attempt.outlet_code,
                )
            except QuotaExceeded as exc:
                uow.rollback()  # releases the write lock before the refusal is recorded on its own
                self._access.audit_refused(actor, attempt_id, exc)
                raise
            id_ct = uow.attempts.id_ciphertext(attempt.id)
            if id_ct is not None:
                clear = self._d.cipher.decrypt(id_ct, EncryptionContext("attempt", attempt.id, "id_number"))
                subscriber_id = assignment.binding.subscriber_id
                uow.subscribers.set_id_ciphertext(
                    subscriber_id,
                    self._d.cipher.encrypt(clear, EncryptionContext("subscriber", subscriber_id, "id_number")),
                )
            self._access.keep_name(uow, attempt, assignment.binding.subscriber_id, typed=name)
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            receipt = Receipt(
                attempt_id=attempt.id,
                msisdn_masked=msisdn.masked,
                iccid_masked=iccid.masked,
                outlet_code=attempt.outlet_code,
                held_numbers=assignment.held_numbers,
                issued_at=now.isoformat(timespec="seconds"),
            )
            remember_receipt(uow, idempotency_key, actor, request_hash, receipt, now)
            keep_receipt_copy(uow, self._d.cipher, receipt, msisdn, iccid, self._d.policy.attempt_ttl_minutes)
            uow.audit.append(
                AuditRecord(
                    "number.assigned",
                    actor.ref,
                    attempt.outlet_code,
                    attempt.id_index.reference,
                    {"attempt": attempt.id, "number": msisdn.masked, "iccid": iccid.masked},
                ),
                now,
            )
            notices = self._access.queue_notices(
                uow, actor, attempt, NoticeKind.REGISTERED, msisdn, assignment.binding.subscriber_id
            )
            uow.commit()
        deliver_notices(self._d.notices, notices, self._d.uow, self._d.clock, actor.ref)
        return receipt


def _matches(digits: str, pattern: str) -> bool:
    """Whether the number ends with ``pattern``, where ``?`` stands for any digit."""
    if not pattern:
        return True
    tail = digits[-len(pattern) :]
    return len(tail) == len(pattern) and all(p in ("?", d) for p, d in zip(pattern, tail, strict=True))
