"""Registry use cases: outlets, staff, the number pool, assignment under quota, and the audit check.

Every use case has the same shape: check the actor, build values, open the unit of work, load, ask the
domain, record the audit event in the same transaction, commit once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from realname.app.actors import Actor
from realname.app.ports import (
    BlindIndexer,
    Clock,
    EncryptionContext,
    FieldCipher,
    IdGenerator,
    RandomSource,
    SecretHasher,
)
from realname.app.staff_accounts import claim_staff_code, new_password
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.audit import AuditRecord, ChainVerification
from realname.domain.audit_checkpoints import verify_chains
from realname.domain.errors import Conflict, InvalidInput, NotFound
from realname.domain.numbers import (
    Binding,
    Msisdn,
    NumberState,
    PhoneNumber,
    QuotaExceeded,
    check_quota,
)
from realname.domain.organisation import DEFAULT_TIME_ZONE, Outlet, OutletCode, Role, StaffMember
from realname.domain.policy import Policy
from realname.domain.subscribers import BlindIndex, Subscriber

MAX_IMPORT = 1_000_000
IMPORT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class NewStaffCredential:
    staff_id: str
    staff_code: str
    """What the member types to sign in (``LK4821``)."""
    password: str
    """Shown once; only its argon2id hash is stored."""


@dataclass(frozen=True, slots=True)
class Assignment:
    binding: Binding
    held_numbers: int


@dataclass(frozen=True, slots=True)
class RegistryDeps:
    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    random: RandomSource
    policy: Policy
    cipher: FieldCipher
    blind_index: BlindIndexer
    hasher: SecretHasher


def number_ref(msisdn: Msisdn) -> str:
    return f"number:{msisdn.masked}"


def bind_number(
    uow: UnitOfWork,
    *,
    policy: Policy,
    ids: IdGenerator,
    now: datetime,
    msisdn: Msisdn,
    attempt_id: str,
    id_index: BlindIndex,
    iccid: str,
    outlet_code: str,
) -> Assignment:
    """Inside the caller's transaction: take a quota slot, activate the number, record the binding.

    The quota is taken with a conditional increment (which creates the subscriber of a new ID) in the same
    transaction as the number's state change and the binding, so concurrent assignments cannot exceed it.

    Raises:
        QuotaExceeded: the ID holds ``policy.max_numbers_per_id`` numbers already.
        NumberUnavailable: the number is taken, cooling, or reserved by another attempt.
    """
    number = uow.numbers.get(msisdn, for_update=True)
    if number is None:
        raise NotFound(f"number {msisdn.masked} is not in the pool", code="number.not_found")
    number.activate(attempt_id, now)
    check_quota(0, policy.max_numbers_per_id)  # a limit of 0 admits nobody, not even a new ID
    subscriber = uow.subscribers.take_quota_slot(Subscriber(ids.new_id(), id_index, now), policy.max_numbers_per_id)
    if subscriber is None:
        full = uow.subscribers.find(id_index)
        check_quota(policy.max_numbers_per_id if full is None else full.held_numbers, policy.max_numbers_per_id)
        raise QuotaExceeded(f"this ID already holds {policy.max_numbers_per_id} numbers")
    uow.numbers.save(number)
    binding = Binding(
        id=ids.new_id(),
        msisdn=msisdn,
        subscriber_id=subscriber.id,
        iccid=iccid,
        outlet_code=outlet_code,
        started_at=now,
    )
    uow.bindings.add(binding)
    return Assignment(binding, subscriber.held_numbers)


def _batches(items: Iterable[Msisdn], size: int) -> Iterator[list[Msisdn]]:
    batch: list[Msisdn] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Registry:
    """Use cases of the registry core."""

    def __init__(self, deps: RegistryDeps) -> None:
        self._d = deps

    # -- organisation -------------------------------------------------------------------------------

    def add_outlet(self, actor: Actor, code: str, name: str, time_zone: str = DEFAULT_TIME_ZONE) -> Outlet:
        """Add an outlet whose clock is ``time_zone`` (an IANA name; Asia/Shanghai by default).

        Raises:
            InvalidInput: a bad code, or a name that is empty, too long or holds control characters.
            Conflict: the code exists already.
        """
        actor.require(Role.ADMIN)
        if any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in name):
            raise InvalidInput("an outlet name holds no control characters", code="outlet.name_invalid")
        outlet = Outlet(OutletCode(code.strip().upper()), name.strip(), self._d.clock.now(), time_zone.strip())
        with self._d.uow() as uow:
            if uow.outlets.get(outlet.code) is not None:
                raise Conflict(f"outlet {outlet.code} exists already", code="outlet.exists")
            uow.outlets.add(outlet)
            uow.audit.append(
                AuditRecord("outlet.added", actor.ref, str(outlet.code), f"outlet:{outlet.code}"),
                outlet.created_at,
            )
            uow.commit()
        return outlet

    def list_outlets(self, actor: Actor) -> Sequence[Outlet]:
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            return uow.outlets.list()

    def add_staff(
        self,
        actor: Actor,
        name: str,
        role: Role,
        outlet_code: str,
        code: str | None = None,
        *,
        password_change_required: bool = True,
    ) -> NewStaffCredential:
        """Create a staff member with a staff code (``code``, or a new one such as ``LK4821``) and return the code and
        a password shown once. The member chooses their own password at the first sign-in unless
        ``password_change_required`` is False (the demo and test fixtures).

        Raises:
            NotFound: the outlet does not exist. InvalidInput: ``staff.code_invalid``. Conflict: ``staff.code_in_use``.
        """
        actor.require(Role.ADMIN)
        now = self._d.clock.now()
        staff_id = self._d.ids.new_id()
        password = new_password(self._d.random)
        hashed = self._d.hasher.hash(password)
        with self._d.uow() as uow:
            member = StaffMember(
                id=staff_id,
                name=name.strip(),
                role=role,
                outlet_code=OutletCode(outlet_code.strip().upper()),
                credential_hash=hashed,
                created_at=now,
                code=claim_staff_code(uow, self._d.random, code),
                credential_changed_at=now,
                password_change_required=password_change_required,
            )
            name_ct = self._d.cipher.encrypt(member.name.encode(), EncryptionContext("staff", staff_id, "name"))
            if uow.outlets.get(member.outlet_code) is None:
                raise NotFound(f"outlet {member.outlet_code} does not exist", code="outlet.not_found")
            uow.staff.add(member, name_ct)
            uow.audit.append(
                AuditRecord(
                    "staff.added",
                    actor.ref,
                    str(member.outlet_code),
                    f"staff:{staff_id}",
                    {"role": role.value, "code": member.code or ""},
                ),
                now,
            )
            uow.commit()
        return NewStaffCredential(staff_id, member.code or "", password)

    # -- number pool --------------------------------------------------------------------------------

    def import_numbers(self, actor: Actor, msisdns: Iterable[Msisdn], *, source: str) -> tuple[int, int]:
        """Add numbers to the pool as AVAILABLE, all or none. Returns (offered, newly added); numbers already
        in the pool (or offered twice) are kept as they are.

        ``msisdns`` is read in batches of ``IMPORT_BATCH`` as they are written, so a generator over a large
        range or file is never held in memory as a whole.

        Raises:
            InvalidInput: ``numbers.empty``; ``numbers.too_many`` — more than ``MAX_IMPORT`` offered.
        """
        actor.require(Role.ADMIN)
        offered = added = 0
        with self._d.uow() as uow:
            for batch in _batches(msisdns, IMPORT_BATCH):
                offered += len(batch)
                if offered > MAX_IMPORT:
                    raise InvalidInput(f"at most {MAX_IMPORT:,} numbers per import", code="numbers.too_many")
                added += uow.numbers.add_many([PhoneNumber(m) for m in dict.fromkeys(batch)])
            if offered == 0:
                raise InvalidInput("no numbers to import", code="numbers.empty")
            uow.audit.append(
                AuditRecord(
                    "numbers.imported",
                    actor.ref,
                    None,
                    None,
                    {"offered": offered, "added": added, "source": source},
                ),
                self._d.clock.now(),
            )
            uow.commit()
        return offered, added

    def list_numbers(
        self,
        actor: Actor,
        *,
        state: NumberState | None = None,
        prefix: str = "",
        limit: int = 100,
        after: str = "",
    ) -> Sequence[PhoneNumber]:
        actor.require(Role.ADMIN, Role.AUDITOR, Role.CLERK)
        if not prefix.isdigit() and prefix:
            raise InvalidInput("a number prefix is digits only", code="numbers.prefix_invalid")
        limit = max(1, min(limit, 1000))
        with self._d.uow() as uow:
            return uow.numbers.list(state=state, prefix=prefix, limit=limit, after=after)

    def count_numbers(self, actor: Actor) -> dict[NumberState, int]:
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            return uow.numbers.count_by_state()

    def reserve_number(self, actor: Actor, msisdn: Msisdn, attempt_id: str) -> PhoneNumber:
        actor.require(Role.CLERK, Role.ADMIN)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            number = self._load(uow.numbers.get(msisdn, for_update=True), msisdn)
            number.reserve(attempt_id, now, self._d.policy.reservation_ttl_seconds)
            uow.numbers.save(number)
            uow.audit.append(
                AuditRecord(
                    "number.reserved",
                    actor.ref,
                    actor.outlet_code,
                    number_ref(msisdn),
                    {"attempt": attempt_id},
                ),
                now,
            )
            uow.commit()
        return number

    def release_number(self, actor: Actor, msisdn: Msisdn, attempt_id: str) -> None:
        actor.require(Role.CLERK, Role.ADMIN)
        with self._d.uow() as uow:
            number = self._load(uow.numbers.get(msisdn, for_update=True), msisdn)
            number.release(attempt_id)
            uow.numbers.save(number)
            uow.audit.append(
                AuditRecord(
                    "number.released",
                    actor.ref,
                    actor.outlet_code,
                    number_ref(msisdn),
                    {"attempt": attempt_id},
                ),
                self._d.clock.now(),
            )
            uow.commit()

    def assign_number(
        self,
        actor: Actor,
        *,
        msisdn: Msisdn,
        attempt_id: str,
        id_index: BlindIndex,
        iccid: str,
        outlet_code: str,
    ) -> Assignment:
        """Bind ``msisdn`` to the subscriber with ``id_index`` in one transaction (see :func:`bind_number`)."""
        actor.require(Role.CLERK, Role.ADMIN)
        actor.require_outlet(outlet_code)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            assignment = bind_number(
                uow,
                policy=self._d.policy,
                ids=self._d.ids,
                now=now,
                msisdn=msisdn,
                attempt_id=attempt_id,
                id_index=id_index,
                iccid=iccid,
                outlet_code=outlet_code,
            )
            uow.audit.append(
                AuditRecord(
                    "number.assigned",
                    actor.ref,
                    outlet_code,
                    id_index.reference,
                    {"number": msisdn.masked, "attempt": attempt_id},
                ),
                now,
            )
            uow.commit()
        return assignment

    def suspend_number(self, actor: Actor, msisdn: Msisdn, reason: str) -> None:
        actor.require(Role.REVIEWER, Role.ADMIN)
        self._change_held(actor, msisdn, "number.suspended", reason, lambda n: n.suspend())

    def reinstate_number(self, actor: Actor, msisdn: Msisdn, reason: str) -> None:
        actor.require(Role.REVIEWER, Role.ADMIN, Role.CLERK)
        self._change_held(actor, msisdn, "number.reinstated", reason, lambda n: n.reinstate())

    def _change_held(
        self, actor: Actor, msisdn: Msisdn, action: str, reason: str, change: Callable[[PhoneNumber], None]
    ) -> None:
        now = self._d.clock.now()
        with self._d.uow() as uow:
            number = self._load(uow.numbers.get(msisdn, for_update=True), msisdn)
            change(number)
            uow.numbers.save(number)
            uow.audit.append(
                AuditRecord(action, actor.ref, actor.outlet_code, number_ref(msisdn), {"reason": reason}), now
            )
            uow.commit()

    def end_service(self, actor: Actor, msisdn: Msisdn, id_index: BlindIndex, *, cancel: bool, reason: str) -> None:
        """Surrender (by the verified owner) or cancel a held number; it then cools off before reuse.

        Raises:
            Forbidden: ``id_index`` is not the owner of the number.
        """
        actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            number = self._load(uow.numbers.get(msisdn, for_update=True), msisdn)
            binding = uow.bindings.active_for(msisdn)
            subscriber = uow.subscribers.find(id_index)
            if binding is None or subscriber is None or binding.subscriber_id != subscriber.id:
                raise NotFound("this ID holds no such number", code="number.not_held")
            if cancel:
                number.cancel(now, self._d.policy.cooling_off_days)
            else:
                number.surrender(now, self._d.policy.cooling_off_days)
            uow.numbers.save(number)
            uow.bindings.end(binding.id, now, "cancelled" if cancel else "surrendered")
            uow.subscribers.free_quota_slot(subscriber.id, now)
            uow.audit.append(
                AuditRecord(
                    "number.cancelled" if cancel else "number.surrendered",
                    actor.ref,
                    actor.outlet_code,
                    id_index.reference,
                    {"number": msisdn.masked, "reason": reason},
                ),
                now,
            )
            uow.commit()

    def recycle_cooled_numbers(self, actor: Actor, *, batch_size: int = 1000) -> int:
        """Return numbers whose cooling-off has ended to the pool."""
        actor.require(Role.ADMIN)
        now = self._d.clock.now()
        with self._d.uow() as uow:
            numbers = uow.numbers.cooled(now, batch_size)
            for number in numbers:
                number.recycle(now)
                uow.numbers.save(number)
            if numbers:
                uow.audit.append(AuditRecord("numbers.recycled", actor.ref, None, None, {"count": len(numbers)}), now)
            uow.commit()
        return len(numbers)

    def held_numbers(self, actor: Actor, id_index: BlindIndex) -> Sequence[Binding]:
        actor.require(Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            subscriber = uow.subscribers.find(id_index)
            held = uow.bindings.active_of_subscriber(subscriber.id) if subscriber else []
            # Reading a subscriber's data is an audit event like any change (they see it on /me).
            uow.audit.append(
                AuditRecord("subscriber.numbers_viewed", actor.ref, actor.outlet_code, id_index.reference),
                self._d.clock.now(),
            )
            uow.commit()
            return held

    # -- audit --------------------------------------------------------------------------------------

    def verify_audit(self, actor: Actor) -> ChainVerification:
        """Walk every audit chain and compare its end with the writer's head record."""
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            heads_before = uow.audit.heads()
            result = verify_chains(
                lambda chain: uow.audit.events(chain=chain),
                [head.chain for head in heads_before],
                (),
                lambda _checkpoint: False,
                heads=uow.audit.heads,
                heads_before=heads_before,
            )
            return ChainVerification(
                result.intact,
                result.events_checked,
                result.first_bad_seq,
                result.problem,
                result.last_hash,
                result.first_bad_chain,
            )

    @staticmethod
    def _load(number: PhoneNumber | None, msisdn: Msisdn) -> PhoneNumber:
        if number is None:
            raise NotFound(f"number {msisdn.masked} is not in the pool", code="number.not_found")
        return number
