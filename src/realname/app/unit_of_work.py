"""The storage ports: repositories and the unit of work that commits them in one transaction.

Invariants the database holds (not only this code): one active binding per number, the per-ID quota
(a conditional increment of the subscriber's held-number counter), unique blind indexes, and an
append-only audit chain serialised through its head row.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from realname.app.liveness import ChallengeStore
from realname.domain.attempts import Attempt
from realname.domain.audit import AuditEvent, AuditRecord
from realname.domain.audit_checkpoints import ChainHead
from realname.domain.numbers import Binding, Msisdn, NumberState, PhoneNumber
from realname.domain.organisation import Outlet, OutletCode, StaffMember, StaffSessionState
from realname.domain.relying_parties import PartyStatus, RelyingParty
from realname.domain.reviews import ReviewCase
from realname.domain.self_service import OneTimeCode
from realname.domain.subscribers import BlindIndex, Subscriber
from realname.domain.terminals import Terminal


class OutletRepository(Protocol):
    def add(self, outlet: Outlet) -> None: ...

    def get(self, code: OutletCode) -> Outlet | None: ...

    def list(self) -> Sequence[Outlet]: ...


class StaffRepository(Protocol):
    def add(self, member: StaffMember, name_ciphertext: bytes) -> None: ...

    def get(self, staff_id: str) -> StaffMember | None:
        """The member with their name left empty: names are read through ``name_ciphertext``."""
        ...

    def by_code(self, code: str) -> StaffMember | None:
        """The member whose staff code is ``code`` (as :func:`realname.domain.organisation.staff_code` stores it)."""
        ...

    def list(self) -> Sequence[StaffMember]:
        """Every member, by outlet and code (names left empty)."""
        ...

    def set_active(self, staff_id: str, active: bool) -> None: ...

    def set_credential(
        self, staff_id: str, credential_hash: str, changed_at: datetime, *, change_required: bool = False
    ) -> None: ...

    def session_state(self, staff_id: str, session_key: str) -> StaffSessionState | None:
        """The member's state and the sign-in's last activity, in one read; None for an unknown member."""
        ...

    def record_activity(self, staff_id: str, session_key: str, now: datetime) -> None:
        """Set the sign-in's last activity to ``now`` (creating its row)."""
        ...

    def forget_sessions_before(self, cutoff: datetime) -> None:
        """Delete the sign-ins last active before ``cutoff``."""
        ...

    def name_ciphertext(self, staff_id: str) -> bytes | None: ...


class NumberRepository(Protocol):
    def add_many(self, numbers: Sequence[PhoneNumber]) -> int:
        """Insert numbers not yet in the pool; return how many were new."""
        ...

    def get(self, msisdn: Msisdn, *, for_update: bool = False) -> PhoneNumber | None: ...

    def save(self, number: PhoneNumber) -> None:
        """Write the number if it is still at ``number.version`` (then bump it); raise Conflict otherwise."""
        ...

    def list(
        self,
        *,
        state: NumberState | None = None,
        prefix: str = "",
        limit: int = 100,
        after: str = "",
        free_at: datetime | None = None,
    ) -> Sequence[PhoneNumber]:
        """Numbers in order after ``after``; with ``free_at``, only those an attempt could take then
        (AVAILABLE, or RESERVED with an expired reservation)."""
        ...

    def count_by_state(self) -> dict[NumberState, int]: ...

    def reserved_by(self, attempt_id: str) -> Sequence[PhoneNumber]:
        """The numbers still in RESERVED for ``attempt_id``, whether or not their reservation has run out."""
        ...

    def reserved_for(self, attempt_id: str, now: datetime) -> int:
        """How many numbers the attempt holds reserved at ``now`` (unexpired reservations)."""
        ...

    def cooled(self, now: datetime, limit: int) -> Sequence[PhoneNumber]:
        """Numbers in COOLING whose cooling-off ended at or before ``now``."""
        ...


class BindingRepository(Protocol):
    def add(self, binding: Binding) -> None:
        """Raise Conflict when the number (``number.unavailable``) or the SIM (``sim.in_use``) already has an
        active binding (both enforced by partial unique indexes)."""
        ...

    def active_for(self, msisdn: Msisdn) -> Binding | None: ...

    def active_of_subscriber(self, subscriber_id: str) -> Sequence[Binding]: ...

    def end(self, binding_id: str, ended_at: datetime, reason: str) -> None: ...


class SubscriberRepository(Protocol):
    def take_quota_slot(self, subscriber: Subscriber, max_numbers: int) -> Subscriber | None:
        """Atomically: the subscriber with ``subscriber``'s blind index (``subscriber`` itself when there is none)
        with its held-number counter incremented, if it was below ``max_numbers``; None (and nothing changed)
        when it was not."""
        ...

    def find(self, id_index: BlindIndex) -> Subscriber | None: ...

    def free_quota_slot(self, subscriber_id: str, at: datetime) -> None: ...

    def set_id_ciphertext(self, subscriber_id: str, ciphertext: bytes) -> None: ...

    def set_name(self, subscriber_id: str, ciphertext: bytes, name_index: str) -> None:
        """The name as read from the card (ciphertext) and its blind index bound to this subscriber."""
        ...

    def name_ciphertext(self, subscriber_id: str) -> bytes | None: ...


class AuditLog(Protocol):
    def append(self, record: AuditRecord, occurred_at: datetime) -> AuditEvent:
        """Append within the current transaction to one of the audit chains (the same one for every
        event of the transaction), serialised with the other writers of that chain."""
        ...

    def events(self, *, chain: int | None = None, from_seq: int = 1, batch_size: int = 1000) -> Iterator[AuditEvent]:
        """One chain's events in order from ``from_seq``, or (``chain`` None) every chain's, chain by chain."""
        ...

    def about(self, subject: str, limit: int = 200) -> Sequence[AuditEvent]:
        """The newest events whose subject is ``subject`` (e.g. a subscriber's ``sub:…`` reference)."""
        ...

    def heads(self) -> Sequence[ChainHead]:
        """Every chain's (last sequence number, last hash) as recorded by the writers, in chain order."""
        ...


class AttemptRepository(Protocol):
    def add(self, attempt: Attempt) -> None: ...

    def get(self, attempt_id: str, *, for_update: bool = False) -> Attempt | None: ...

    def save(
        self, attempt: Attempt, *, id_ciphertext: bytes | None = None, name_ciphertext: bytes | None = None
    ) -> None:
        """Write if still at ``attempt.version`` (then bump it); raise Conflict otherwise. The ciphertexts are
        written when given, and cleared when the attempt has no checked document."""
        ...

    def id_ciphertext(self, attempt_id: str) -> bytes | None: ...

    def name_ciphertext(self, attempt_id: str) -> bytes | None: ...

    def latest_open_of(self, clerk_ref: str, device_id: str) -> Attempt | None:
        """The newest attempt ``clerk_ref`` started on ``device_id`` that has not ended (it may be due to expire)."""
        ...

    def latest_of(self, clerk_ref: str, device_id: str) -> Attempt | None:
        """The clerk's latest attempt on ``device_id``, in any state."""
        ...

    def keep_receipt(self, attempt_id: str, receipt_json: str) -> None:
        """Keep the masked receipt of the service the attempt completed (shown again after a reload)."""
        ...

    def receipt_of(self, attempt_id: str) -> tuple[str | None, datetime | None]:
        """The attempt's kept receipt (JSON) and when its visit was ended (None: not ended)."""
        ...

    def end_visit(self, attempt_id: str, now: datetime) -> None:
        """Record that the clerk ended the attempt's visit (kept at its first end)."""
        ...

    def keep_receipt_copy(self, attempt_id: str, ciphertext: bytes, delete_after: datetime) -> None:
        """Keep (or replace) the encrypted printable copy of the attempt's receipt until ``delete_after``."""
        ...

    def receipt_copy(self, attempt_id: str, now: datetime) -> bytes | None:
        """The attempt's encrypted printable receipt copy, unless it is due for deletion at ``now``."""
        ...

    def forget_receipt_copy(self, attempt_id: str) -> None:
        """Delete the attempt's printable receipt copy, if any."""
        ...

    def forget_receipt_copies_of(self, clerk_ref: str, device_id: str) -> None:
        """Delete the printable receipt copies of every attempt of the clerk on ``device_id``."""
        ...

    def forget_receipt_copies_due(self, now: datetime) -> int:
        """Delete every printable receipt copy due at ``now``; return how many."""
        ...

    def of_subscriber(self, id_index: BlindIndex, limit: int = 200) -> Sequence[Attempt]: ...


class ConsentRepository(Protocol):
    def add(
        self, record_id: str, attempt_id: str, version: str, text_sha256: str, accepted: bool, at: datetime
    ) -> None: ...


class FailureRepository(Protocol):
    def add(self, failure_id: str, id_index: BlindIndex | None, device_id: str, at: datetime) -> None: ...

    def recent_for_id(self, id_index: BlindIndex, since: datetime) -> Sequence[datetime]: ...

    def recent_for_id_and_device(
        self, id_index: BlindIndex | None, device_id: str, since: datetime
    ) -> tuple[Sequence[datetime], Sequence[datetime]]:
        """The failures since ``since`` of the ID (none when ``id_index`` is None) and of the device, read
        together."""
        ...


class IdempotencyStore(Protocol):
    def get(self, key: str, scope: str) -> tuple[str, str] | None:
        """(request hash, stored response) for a key already used by ``scope``.

        Also claims the key for the rest of the transaction: a concurrent transaction asking for the same
        key and scope waits until this one commits or rolls back, then sees what it stored, so two
        retries at once replay one receipt instead of racing.
        """
        ...

    def put(self, key: str, scope: str, request_sha256: str, response: str, at: datetime) -> None: ...


class ReviewRepository(Protocol):
    def open(
        self,
        case_id: str,
        kind: str,
        attempt_id: str | None,
        id_index: BlindIndex | None,
        msisdn: str | None,
        at: datetime,
        *,
        requested_by: str | None = None,
        request_reason: str | None = None,
        similarity: float | None = None,
    ) -> None: ...

    def of_attempt(self, attempt_id: str) -> Sequence[ReviewCase]:
        """Every case about this attempt, oldest first."""
        ...

    def get(self, case_id: str, *, for_update: bool = False) -> ReviewCase | None: ...

    def pending(self, limit: int = 100) -> Sequence[ReviewCase]: ...

    def save(self, case: ReviewCase) -> None: ...


class TerminalRepository(Protocol):
    def add(self, terminal: Terminal) -> None:
        """Raise Conflict (``terminal.key_in_use``) when the public key is already enrolled."""
        ...

    def get(self, terminal_id: str) -> Terminal | None: ...

    def list(self) -> Sequence[Terminal]: ...

    def revoke(self, terminal_id: str, at: datetime) -> bool:
        """Revoke an active terminal; False when it is unknown or revoked already."""
        ...

    def claim_nonce(self, terminal_id: str, nonce: str, at: datetime) -> bool:
        """Record a signed read's nonce; False when this terminal used it before (a replay)."""
        ...

    def forget_nonces_before(self, cutoff: datetime) -> int: ...


class CodeRepository(Protocol):
    def put(self, code: OneTimeCode) -> None:
        """Store the attempt's code, replacing (burning) an earlier one."""
        ...

    def get(self, attempt_id: str) -> OneTimeCode | None:
        """The attempt's code, locked for the rest of the transaction."""
        ...

    def save_tries(self, attempt_id: str, tries_left: int) -> None: ...

    def delete(self, attempt_id: str) -> None: ...


class ThrottleLog(Protocol):
    """Times of rate-limited events by scope (e.g. ``self.session``) and subject (a device, an ID's index)."""

    def add(self, event_id: str, scope: str, subject: str, at: datetime) -> None: ...

    def since(self, scope: str, subject: str, since: datetime) -> Sequence[datetime]: ...

    def forget_before(self, scope: str, subject: str, cutoff: datetime) -> None:
        """Drop this subject's events older than ``cutoff`` (no longer counted by any window)."""
        ...


class PartyStandings(Protocol):
    """Relying parties as review decisions see them: read one (locked) and change its status."""

    def get(self, party_id: str, *, for_update: bool = False) -> RelyingParty | None: ...

    def set_status(self, party_id: str, status: PartyStatus, at: datetime) -> None: ...


class Transaction(Protocol):
    """What every unit of work is: entered, committed explicitly, rolled back on exit otherwise. Each flow's unit
    of work (the registry's below, the reports', the checks') adds the repositories it needs on top."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...


class UnitOfWork(Transaction, Protocol):
    outlets: OutletRepository
    staff: StaffRepository
    numbers: NumberRepository
    bindings: BindingRepository
    subscribers: SubscriberRepository
    audit: AuditLog
    attempts: AttemptRepository
    challenges: ChallengeStore
    consents: ConsentRepository
    failures: FailureRepository
    idempotency: IdempotencyStore
    reviews: ReviewRepository
    parties: PartyStandings
    terminals: TerminalRepository
    codes: CodeRepository
    throttle: ThrottleLog

    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
