"""Services for the verified owner of a number: surrender, SIM replacement and re-verification. Each proves the
owner again (document, liveness, match against the ID photo) and ends on a masked receipt; none changes a
number's owner."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from realname.app.actors import Actor
from realname.app.attempts import (
    AttemptAccess,
    AttemptDeps,
    Receipt,
    hash_request,
    remember_receipt,
    replayed_receipt,
)
from realname.app.notices import deliver_notices
from realname.app.receipt_copies import keep_receipt_copy
from realname.app.unit_of_work import UnitOfWork
from realname.domain.attempts import Attempt, Purpose
from realname.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from realname.domain.notices import NoticeKind
from realname.domain.numbers import Binding, Msisdn, NumberState, PhoneNumber
from realname.domain.sim import Iccid


class OwnerServices:
    """After an approved verification with purpose ``surrender``, ``sim_replacement`` or ``reverify``."""

    def __init__(self, deps: AttemptDeps) -> None:
        self._d = deps
        self._access = AttemptAccess(deps)

    def _owner_attempt(self, uow: UnitOfWork, actor: Actor, attempt_id: str, purpose: Purpose) -> Attempt:
        attempt = self._access.load(uow, actor, attempt_id)
        if attempt.purpose is not purpose:
            raise Conflict(f"this attempt is not for {purpose.value}", code="attempt.wrong_purpose")
        attempt.require_approved(self._d.clock.now())
        return attempt

    def _owned_binding(self, uow: UnitOfWork, attempt: Attempt, msisdn: Msisdn) -> tuple[PhoneNumber, Binding, str]:
        """The number, its active binding and the subscriber id, if the verified person holds it."""
        number = uow.numbers.get(msisdn, for_update=True)
        binding = uow.bindings.active_for(msisdn)
        subscriber = uow.subscribers.find(attempt.id_index) if attempt.id_index else None
        if number is None or binding is None or subscriber is None or binding.subscriber_id != subscriber.id:
            raise NotFound("the verified person holds no such number", code="number.not_held")
        return number, binding, subscriber.id

    def complete_surrender(
        self, actor: Actor, attempt_id: str, msisdn: Msisdn, idempotency_key: str | None = None
    ) -> Receipt:
        """The verified owner gives the number up; it cools off before anyone else can have it.

        With an idempotency key, a retry returns the first receipt (as for every owner service)."""
        now = self._d.clock.now()
        request_hash = hash_request(Purpose.SURRENDER.value, attempt_id, str(msisdn))
        with self._d.uow() as uow:
            replayed = replayed_receipt(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._owner_attempt(uow, actor, attempt_id, Purpose.SURRENDER)
            number, binding, subscriber_id = self._owned_binding(uow, attempt, msisdn)
            number.surrender(now, self._d.policy.cooling_off_days)
            uow.numbers.save(number)
            uow.bindings.end(binding.id, now, "surrendered")
            uow.subscribers.free_quota_slot(subscriber_id, now)
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            self._access.audit(uow, actor, "number.surrendered", attempt, {"number": msisdn.masked})
            held = len(uow.bindings.active_of_subscriber(subscriber_id))
            receipt = _owner_receipt(attempt, msisdn, number, binding.iccid, held, now)
            remember_receipt(uow, idempotency_key, actor, request_hash, receipt, now)
            keep_receipt_copy(
                uow, self._d.cipher, receipt, msisdn, Iccid(binding.iccid), self._d.policy.attempt_ttl_minutes
            )
            notices = self._access.queue_notices(uow, actor, attempt, NoticeKind.SURRENDERED, msisdn, subscriber_id)
            uow.commit()
        deliver_notices(self._d.notices, notices, self._d.uow, self._d.clock, actor.ref)
        return receipt

    def replace_sim(
        self, actor: Actor, attempt_id: str, msisdn: Msisdn, iccid: Iccid, idempotency_key: str | None = None
    ) -> Receipt:
        """Bind a new SIM to the verified owner's number; the old SIM's binding ends (the card is dead)."""
        now = self._d.clock.now()
        request_hash = hash_request(Purpose.SIM_REPLACEMENT.value, attempt_id, str(msisdn), iccid.digits)
        with self._d.uow() as uow:
            replayed = replayed_receipt(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._owner_attempt(uow, actor, attempt_id, Purpose.SIM_REPLACEMENT)
            number, binding, subscriber_id = self._owned_binding(uow, attempt, msisdn)
            if number.state is not NumberState.ACTIVE:
                raise Conflict("a suspended number must be re-verified first", code="number.suspended")
            if binding.iccid == iccid.digits:
                raise InvalidInput("this SIM is the one already bound", code="iccid.same")
            uow.bindings.end(binding.id, now, "sim_replaced")
            uow.bindings.add(
                replace(
                    binding,
                    id=self._d.ids.new_id(),
                    iccid=iccid.digits,
                    started_at=now,
                    outlet_code=attempt.outlet_code,
                )
            )
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            self._access.keep_name(uow, attempt, subscriber_id)
            self._access.audit(uow, actor, "sim.replaced", attempt, {"number": msisdn.masked, "iccid": iccid.masked})
            held = len(uow.bindings.active_of_subscriber(subscriber_id))
            receipt = _owner_receipt(attempt, msisdn, number, iccid.digits, held, now)
            remember_receipt(uow, idempotency_key, actor, request_hash, receipt, now)
            keep_receipt_copy(
                uow, self._d.cipher, receipt, msisdn, Iccid(iccid.digits), self._d.policy.attempt_ttl_minutes
            )
            notices = self._access.queue_notices(uow, actor, attempt, NoticeKind.SIM_REPLACED, msisdn, subscriber_id)
            uow.commit()
        deliver_notices(self._d.notices, notices, self._d.uow, self._d.clock, actor.ref)
        return receipt

    def complete_reverification(
        self, actor: Actor, attempt_id: str, msisdn: Msisdn, idempotency_key: str | None = None
    ) -> Receipt:
        """The verified owner of a suspended number re-verified in person: the number is active again."""
        now = self._d.clock.now()
        request_hash = hash_request(Purpose.REVERIFY.value, attempt_id, str(msisdn))
        with self._d.uow() as uow:
            replayed = replayed_receipt(uow, idempotency_key, actor, request_hash)
            if replayed is not None:
                return replayed
            attempt = self._owner_attempt(uow, actor, attempt_id, Purpose.REVERIFY)
            number, binding, subscriber_id = self._owned_binding(uow, attempt, msisdn)
            number.reinstate()
            uow.numbers.save(number)
            attempt.complete(now, str(msisdn))
            uow.attempts.save(attempt)
            self._access.keep_name(uow, attempt, subscriber_id)
            self._access.audit(uow, actor, "number.reverified", attempt, {"number": msisdn.masked})
            held = len(uow.bindings.active_of_subscriber(subscriber_id))
            receipt = _owner_receipt(attempt, msisdn, number, binding.iccid, held, now)
            remember_receipt(uow, idempotency_key, actor, request_hash, receipt, now)
            keep_receipt_copy(
                uow, self._d.cipher, receipt, msisdn, Iccid(binding.iccid), self._d.policy.attempt_ttl_minutes
            )
            uow.commit()
        return receipt


def _owner_receipt(
    attempt: Attempt, msisdn: Msisdn, number: PhoneNumber, iccid_digits: str, held: int, now: datetime
) -> Receipt:
    """The masked receipt of an owner service; ``iccid_digits`` is the SIM now serving (or taken back from) it."""
    return Receipt(
        attempt.id,
        msisdn.masked,
        Iccid.parse(iccid_digits).masked,
        attempt.outlet_code,
        held,
        now.isoformat(timespec="seconds"),
        number.state.value,
        number.cooling_until.isoformat(timespec="seconds") if number.cooling_until else None,
    )
