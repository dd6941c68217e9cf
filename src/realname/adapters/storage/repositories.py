"""Repositories over SQLAlchemy Core: explicit row ↔ domain mapping, no ORM."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from realname.adapters.storage import tables as t
from realname.adapters.storage.party_tables import subscriber_name
from realname.adapters.storage.transaction import AuditObserver
from realname.domain.audit import AuditEvent, AuditRecord, canonical_json, next_event
from realname.domain.audit_checkpoints import ChainHead
from realname.domain.errors import Conflict, DependencyUnavailable
from realname.domain.numbers import Binding, Msisdn, NumberState, PhoneNumber
from realname.domain.organisation import Outlet, OutletCode, Role, StaffMember, StaffSessionState
from realname.domain.subscribers import BlindIndex, Subscriber


def _insert(connection: sa.Connection, table: sa.Table) -> Any:
    """A dialect-specific INSERT that supports ``on_conflict_do_nothing``."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def per_dialect(build: Callable[[Callable[[sa.Table], Any]], Any]) -> dict[str, Any]:
    """A statement that needs a dialect's own INSERT (``ON CONFLICT``), built once for each dialect: ``build``
    is given that dialect's ``insert``; look the statement up by ``connection.dialect.name``."""
    return {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}


def insert_ignoring_duplicates(
    connection: sa.Connection, table: sa.Table, values: dict[str, Any], index_elements: list[str]
) -> Any:
    """An INSERT of one row that does nothing when a row with the same ``index_elements`` exists."""
    return _insert(connection, table).values(values).on_conflict_do_nothing(index_elements=index_elements)


class SqlOutletRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, outlet: Outlet) -> None:
        self._c.execute(
            t.outlet.insert().values(
                code=str(outlet.code), name=outlet.name, created_at=outlet.created_at, time_zone=outlet.time_zone
            )
        )

    def get(self, code: OutletCode) -> Outlet | None:
        row = self._c.execute(sa.select(t.outlet).where(t.outlet.c.code == str(code))).first()
        return None if row is None else Outlet(OutletCode(row.code), row.name, row.created_at, row.time_zone)

    def list(self) -> Sequence[Outlet]:
        rows = self._c.execute(sa.select(t.outlet).order_by(t.outlet.c.code))
        return [Outlet(OutletCode(r.code), r.name, r.created_at, r.time_zone) for r in rows]


_SESSION_STATE = (
    sa.select(t.staff.c.active, t.staff.c.password_change_required, t.staff_session.c.last_active_at)
    .select_from(
        t.staff.outerjoin(
            t.staff_session, t.staff_session.c.session_key == sa.bindparam("st_session", type_=sa.String(96))
        )
    )
    .where(t.staff.c.id == sa.bindparam("st_id", type_=sa.String(64)))
)
_RECORD_ACTIVITY = (
    t.staff_session.update()
    .where(t.staff_session.c.session_key == sa.bindparam("st_session", type_=sa.String(96)))
    .values(last_active_at=sa.bindparam("st_now", type_=t.UtcDateTime()))
)
"""The per-request staff check's statements (a sign-in's state, its last activity), built once."""


class SqlStaffRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, member: StaffMember, name_ciphertext: bytes) -> None:
        self._c.execute(
            t.staff.insert().values(
                id=member.id,
                name_ciphertext=name_ciphertext,
                role=member.role.value,
                outlet_code=str(member.outlet_code),
                credential_hash=member.credential_hash,
                created_at=member.created_at,
                active=member.active,
                code=member.code,
                credential_changed_at=member.credential_changed_at,
                password_change_required=member.password_change_required,
            )
        )

    def get(self, staff_id: str) -> StaffMember | None:
        row = self._c.execute(sa.select(t.staff).where(t.staff.c.id == staff_id)).first()
        return None if row is None else _staff_from_row(row)

    def by_code(self, code: str) -> StaffMember | None:
        row = self._c.execute(sa.select(t.staff).where(t.staff.c.code == code)).first()
        return None if row is None else _staff_from_row(row)

    def list(self) -> Sequence[StaffMember]:
        rows = self._c.execute(sa.select(t.staff).order_by(t.staff.c.outlet_code, t.staff.c.code, t.staff.c.id))
        return [_staff_from_row(row) for row in rows]

    def set_active(self, staff_id: str, active: bool) -> None:
        self._c.execute(t.staff.update().where(t.staff.c.id == staff_id).values(active=active))

    def set_credential(
        self, staff_id: str, credential_hash: str, changed_at: datetime, *, change_required: bool = False
    ) -> None:
        self._c.execute(
            t.staff.update()
            .where(t.staff.c.id == staff_id)
            .values(
                credential_hash=credential_hash,
                credential_changed_at=changed_at,
                password_change_required=change_required,
            )
        )

    def session_state(self, staff_id: str, session_key: str) -> StaffSessionState | None:
        row = self._c.execute(_SESSION_STATE, {"st_id": staff_id, "st_session": session_key}).first()
        if row is None:
            return None
        return StaffSessionState(row.active, row.password_change_required, row.last_active_at)

    def record_activity(self, staff_id: str, session_key: str, now: datetime) -> None:
        s = t.staff_session
        updated = self._c.execute(_RECORD_ACTIVITY, {"st_session": session_key, "st_now": now})
        if updated.rowcount == 0:
            self._c.execute(
                insert_ignoring_duplicates(
                    self._c,
                    s,
                    {"session_key": session_key, "staff_id": staff_id, "last_active_at": now},
                    ["session_key"],
                )
            )

    def forget_sessions_before(self, cutoff: datetime) -> None:
        self._c.execute(t.staff_session.delete().where(t.staff_session.c.last_active_at < cutoff))

    def name_ciphertext(self, staff_id: str) -> bytes | None:
        value = self._c.execute(sa.select(t.staff.c.name_ciphertext).where(t.staff.c.id == staff_id)).scalar()
        return None if value is None else bytes(value)


def _staff_from_row(row: sa.Row[Any]) -> StaffMember:
    return StaffMember(
        id=row.id,
        name="(encrypted)",
        role=Role(row.role),
        outlet_code=OutletCode(row.outlet_code),
        credential_hash=row.credential_hash,
        created_at=row.created_at,
        active=row.active,
        code=row.code,
        credential_changed_at=row.credential_changed_at,
        password_change_required=row.password_change_required,
    )


def _number_from_row(row: sa.Row[Any]) -> PhoneNumber:
    return PhoneNumber(
        msisdn=Msisdn(row.msisdn),
        state=NumberState(row.state),
        reserved_by=row.reserved_by,
        reserved_until=row.reserved_until,
        cooling_until=row.cooling_until,
        version=row.version,
    )


_NUMBER = sa.select(t.number).where(t.number.c.msisdn == sa.bindparam("n_msisdn", type_=sa.String(15)))
_NUMBER_FOR_UPDATE = _NUMBER.with_for_update()
_SAVE_NUMBER = (
    t.number.update()
    .where(t.number.c.msisdn == sa.bindparam("n_msisdn"), t.number.c.version == sa.bindparam("n_version"))
    .values(
        state=sa.bindparam("n_state"),
        reserved_by=sa.bindparam("n_reserved_by"),
        reserved_until=sa.bindparam("n_reserved_until", type_=t.UtcDateTime()),
        cooling_until=sa.bindparam("n_cooling_until", type_=t.UtcDateTime()),
        version=sa.bindparam("n_next_version"),
    )
)
_RESERVED_FOR = (
    sa.select(sa.func.count())
    .select_from(t.number)
    .where(
        t.number.c.state == NumberState.RESERVED.value,
        t.number.c.reserved_by == sa.bindparam("n_attempt", type_=sa.String(64)),
        t.number.c.reserved_until > sa.bindparam("n_now", type_=t.UtcDateTime()),
    )
)
"""The statements of a registration's hot path are built once with bound parameters (here and below), as
``SqlAuditLog``'s are: SQLAlchemy then reuses their cache keys and compiled forms, where a statement built per
call costs more Python (expression objects and a fresh cache key) than its execution."""


class SqlNumberRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add_many(self, numbers: Sequence[PhoneNumber]) -> int:
        added = 0
        for start in range(0, len(numbers), 5000):
            chunk = numbers[start : start + 5000]
            statement = (
                _insert(self._c, t.number)
                .values([{"msisdn": str(n.msisdn), "state": n.state.value, "version": 0} for n in chunk])
                .on_conflict_do_nothing(index_elements=["msisdn"])
                .returning(t.number.c.msisdn)
            )
            added += len(self._c.execute(statement).all())
        return added

    def get(self, msisdn: Msisdn, *, for_update: bool = False) -> PhoneNumber | None:
        row = self._c.execute(_NUMBER_FOR_UPDATE if for_update else _NUMBER, {"n_msisdn": str(msisdn)}).first()
        return None if row is None else _number_from_row(row)

    def save(self, number: PhoneNumber) -> None:
        result = self._c.execute(
            _SAVE_NUMBER,
            {
                "n_msisdn": str(number.msisdn),
                "n_version": number.version,
                "n_state": number.state.value,
                "n_reserved_by": number.reserved_by,
                "n_reserved_until": number.reserved_until,
                "n_cooling_until": number.cooling_until,
                "n_next_version": number.version + 1,
            },
        )
        if result.rowcount != 1:
            raise Conflict(f"number {number.msisdn.masked} changed meanwhile; try again", code="number.changed")
        number.version += 1

    def list(
        self,
        *,
        state: NumberState | None = None,
        prefix: str = "",
        limit: int = 100,
        after: str = "",
        free_at: datetime | None = None,
    ) -> Sequence[PhoneNumber]:
        query = sa.select(t.number).order_by(t.number.c.msisdn).limit(limit)
        if state is not None:
            query = query.where(t.number.c.state == state.value)
        if free_at is not None:
            query = query.where(
                sa.or_(
                    t.number.c.state == NumberState.AVAILABLE.value,
                    sa.and_(t.number.c.state == NumberState.RESERVED.value, t.number.c.reserved_until <= free_at),
                )
            )
        if prefix:
            query = query.where(t.number.c.msisdn.startswith(prefix, autoescape=True))
        if after:
            query = query.where(t.number.c.msisdn > after)
        return [_number_from_row(r) for r in self._c.execute(query)]

    def reserved_by(self, attempt_id: str) -> Sequence[PhoneNumber]:
        rows = self._c.execute(
            sa.select(t.number)
            .where(t.number.c.state == NumberState.RESERVED.value, t.number.c.reserved_by == attempt_id)
            .order_by(t.number.c.msisdn)
        )
        return [_number_from_row(row) for row in rows]

    def reserved_for(self, attempt_id: str, now: datetime) -> int:
        return int(self._c.execute(_RESERVED_FOR, {"n_attempt": attempt_id, "n_now": now}).scalar_one())

    def count_by_state(self) -> dict[NumberState, int]:
        rows = self._c.execute(sa.select(t.number.c.state, sa.func.count()).group_by(t.number.c.state))
        counts = dict.fromkeys(NumberState, 0)
        for state, count in rows:
            counts[NumberState(state)] = int(count)
        return counts

    def cooled(self, now: datetime, limit: int) -> Sequence[PhoneNumber]:
        query = (
            sa.select(t.number)
            .where(t.number.c.state == NumberState.COOLING.value, t.number.c.cooling_until <= now)
            .order_by(t.number.c.msisdn)
            .limit(limit)
            .with_for_update()
        )
        return [_number_from_row(r) for r in self._c.execute(query)]


def _binding_from_row(row: sa.Row[Any]) -> Binding:
    return Binding(
        id=row.id,
        msisdn=Msisdn(row.msisdn),
        subscriber_id=row.subscriber_id,
        iccid=row.iccid,
        outlet_code=row.outlet_code,
        started_at=row.started_at,
        ended_at=row.ended_at,
        end_reason=row.end_reason,
    )


_ADD_BINDING = per_dialect(lambda insert: insert(t.binding).on_conflict_do_nothing().returning(t.binding.c.id))
"""Any unique index that refuses the row (one live binding per number, one per SIM) makes it insert nothing,
instead of an error that would need a savepoint (two more round trips) to keep the transaction usable. An inserted
row is told by the id it returns (SQLAlchemy does not keep an INSERT's row count by default: psycopg's reads -1)."""
_ACTIVE_BINDING = sa.select(t.binding).where(
    t.binding.c.msisdn == sa.bindparam("b_msisdn", type_=sa.String(15)), t.binding.c.ended_at.is_(None)
)
_ACTIVE_BINDINGS_OF = (
    sa.select(t.binding)
    .where(
        t.binding.c.subscriber_id == sa.bindparam("b_subscriber", type_=sa.String(64)), t.binding.c.ended_at.is_(None)
    )
    .order_by(t.binding.c.started_at)
)


class SqlBindingRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, binding: Binding) -> None:
        added = self._c.execute(
            _ADD_BINDING[self._c.dialect.name],
            {
                "id": binding.id,
                "msisdn": str(binding.msisdn),
                "subscriber_id": binding.subscriber_id,
                "iccid": binding.iccid,
                "outlet_code": binding.outlet_code,
                "started_at": binding.started_at,
            },
        )
        if added.first() is not None:
            return
        # A partial unique index refused the row; the loser of a race sees the winner's committed binding
        # here (PostgreSQL waits for the winner's transaction before it decides that the row conflicts).
        if self.active_for(binding.msisdn) is None and self._sim_in_use(binding.iccid):
            raise Conflict("this SIM is bound to another number already", code="sim.in_use")
        raise Conflict(f"number {binding.msisdn.masked} is bound already", code="number.unavailable")

    def _sim_in_use(self, iccid: str) -> bool:
        row = self._c.execute(
            sa.select(t.binding.c.id).where(t.binding.c.iccid == iccid, t.binding.c.ended_at.is_(None))
        ).first()
        return row is not None

    def active_for(self, msisdn: Msisdn) -> Binding | None:
        row = self._c.execute(_ACTIVE_BINDING, {"b_msisdn": str(msisdn)}).first()
        return None if row is None else _binding_from_row(row)

    def active_of_subscriber(self, subscriber_id: str) -> Sequence[Binding]:
        rows = self._c.execute(_ACTIVE_BINDINGS_OF, {"b_subscriber": subscriber_id})
        return [_binding_from_row(r) for r in rows]

    def end(self, binding_id: str, ended_at: datetime, reason: str) -> None:
        self._c.execute(
            t.binding.update()
            .where(t.binding.c.id == binding_id, t.binding.c.ended_at.is_(None))
            .values(ended_at=ended_at, end_reason=reason)
        )


def _subscriber_from_row(row: sa.Row[Any]) -> Subscriber:
    return Subscriber(
        id=row.id,
        id_index=BlindIndex(row.id_index),
        created_at=row.created_at,
        held_numbers=row.held_numbers,
        last_service_ended_at=row.last_service_ended_at,
    )


_SUBSCRIBER_COLUMNS = (
    t.subscriber.c.id,
    t.subscriber.c.id_index,
    t.subscriber.c.created_at,
    t.subscriber.c.held_numbers,
    t.subscriber.c.last_service_ended_at,
)
_TAKE_QUOTA_SLOT = per_dialect(
    lambda insert: (
        insert(t.subscriber)
        .values(
            id=sa.bindparam("s_id", type_=sa.String(64)),
            id_index=sa.bindparam("s_index", type_=sa.String(64)),
            held_numbers=1,
            created_at=sa.bindparam("s_at", type_=t.UtcDateTime()),
        )
        .on_conflict_do_update(
            index_elements=["id_index"],
            set_={"held_numbers": t.subscriber.c.held_numbers + 1},
            where=t.subscriber.c.held_numbers < sa.bindparam("s_max", type_=sa.Integer),
        )
        .returning(*_SUBSCRIBER_COLUMNS)
    )
)
"""One statement for what took three (create the subscriber if new, read it, take a slot if one is free). The
conditional increment is what keeps the quota under races: PostgreSQL makes a concurrent insert of the same
``id_index`` wait for the first transaction and then applies the ``WHERE`` to the row it committed; SQLite runs
one writer at a time."""
_SUBSCRIBER_BY_INDEX = sa.select(t.subscriber).where(
    t.subscriber.c.id_index == sa.bindparam("s_index", type_=sa.String(64))
)
_SET_ID_CIPHERTEXT = (
    t.subscriber.update()
    .where(t.subscriber.c.id == sa.bindparam("s_id", type_=sa.String(64)))
    .values(id_ciphertext=sa.bindparam("s_ciphertext", type_=sa.LargeBinary))
)
_SET_NAME = (
    subscriber_name.update()
    .where(subscriber_name.c.id == sa.bindparam("s_id", type_=sa.String(64)))
    .values(
        name_index=sa.bindparam("s_name_index", type_=sa.String(64)),
        name_ciphertext=sa.bindparam("s_ciphertext", type_=sa.LargeBinary),
    )
)
"""The name's ciphertext and blind index in one statement (``subscriber_name`` sees both columns)."""


class SqlSubscriberRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def take_quota_slot(self, subscriber: Subscriber, max_numbers: int) -> Subscriber | None:
        row = self._c.execute(
            _TAKE_QUOTA_SLOT[self._c.dialect.name],
            {
                "s_id": subscriber.id,
                "s_index": subscriber.id_index.value,
                "s_at": subscriber.created_at,
                "s_max": max_numbers,
            },
        ).first()
        return None if row is None else _subscriber_from_row(row)

    def find(self, id_index: BlindIndex) -> Subscriber | None:
        row = self._c.execute(_SUBSCRIBER_BY_INDEX, {"s_index": id_index.value}).first()
        return None if row is None else _subscriber_from_row(row)

    def set_id_ciphertext(self, subscriber_id: str, ciphertext: bytes) -> None:
        self._c.execute(_SET_ID_CIPHERTEXT, {"s_id": subscriber_id, "s_ciphertext": ciphertext})

    def set_name(self, subscriber_id: str, ciphertext: bytes, name_index: str) -> None:
        self._c.execute(_SET_NAME, {"s_id": subscriber_id, "s_ciphertext": ciphertext, "s_name_index": name_index})

    def name_ciphertext(self, subscriber_id: str) -> bytes | None:
        value = self._c.execute(
            sa.select(t.subscriber.c.name_ciphertext).where(t.subscriber.c.id == subscriber_id)
        ).scalar()
        return None if value is None else bytes(value)

    def free_quota_slot(self, subscriber_id: str, at: datetime) -> None:
        self._c.execute(
            t.subscriber.update()
            .where(t.subscriber.c.id == subscriber_id)
            .values(held_numbers=t.subscriber.c.held_numbers - 1, last_service_ended_at=at)
        )


def event_from_row(row: sa.Row[Any]) -> AuditEvent:
    """An ``audit_event`` row as the domain event (the audit log and the report readers share it)."""
    return AuditEvent(
        seq=int(row.seq),
        occurred_at=row.occurred_at,
        action=row.action,
        actor=row.actor,
        outlet=row.outlet,
        subject=row.subject,
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
        chain=int(row.chain),
    )


def event_row(event: AuditEvent) -> dict[str, Any]:
    """The domain event as its ``audit_event`` row's values (the other way from :func:`event_from_row`)."""
    return {
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": event.occurred_at,
        "action": event.action,
        "actor": event.actor,
        "outlet": event.outlet,
        "subject": event.subject,
        "details": canonical_json(event.details),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


_APPEND_EVENT = t.audit_event.insert()
_ADVANCE_HEAD = (
    t.audit_head.update()
    .where(t.audit_head.c.chain == sa.bindparam("head_chain"))
    .values(last_seq=sa.bindparam("head_seq"), last_hash=sa.bindparam("head_hash"))
)
_HEAD_COLUMNS = (t.audit_head.c.chain, t.audit_head.c.last_seq, t.audit_head.c.last_hash)
_LOCK_FIRST_FREE_HEAD = (
    sa.select(*_HEAD_COLUMNS)
    .order_by(
        (t.audit_head.c.chain - sa.bindparam("preferred_chain", type_=sa.Integer) + t.AUDIT_CHAINS) % t.AUDIT_CHAINS
    )
    .limit(1)
    .with_for_update(skip_locked=True)
)
_LOCK_HEAD = sa.select(*_HEAD_COLUMNS).where(t.audit_head.c.chain == sa.bindparam("lock_chain")).with_for_update()
"""Built once: SQLAlchemy then reuses their cache keys and compiled forms (building a statement per call costs
more Python than the rest of an append)."""


class SqlAuditLog:
    """The audit log as ``AUDIT_CHAINS`` hash chains, one head row each.

    A transaction appends all its events to one chain: the first head row it can lock. On PostgreSQL
    that is the first head, counted from ``preferred_chain``, that no other transaction holds
    (``FOR UPDATE SKIP LOCKED``), so concurrent writers spread over the chains instead of queueing for
    one; when every head is held, it waits for the preferred one. A lone writer always lands on its
    preferred chain (0 by default), so a quiet log is one chain. SQLite serialises writers anyway
    (``BEGIN IMMEDIATE``), so there the preferred chain is used.

    After its first append the log remembers the head it locked and advanced (the lock is held until the
    transaction ends, so nobody else moves it): a transaction's later events (a batch of checks) cost an
    insert and a head update each, not a third statement to read the head again. Were the memory ever wrong,
    the head's trigger would refuse the update (a head advances by one, to an existing event) and the
    transaction would fail.
    """

    def __init__(
        self, connection: sa.Connection, *, preferred_chain: int = 0, observer: AuditObserver | None = None
    ) -> None:
        if not 0 <= preferred_chain < t.AUDIT_CHAINS:
            raise ValueError(f"audit chains are numbered 0 to {t.AUDIT_CHAINS - 1}")
        self._c = connection
        self._preferred = preferred_chain
        self._chain: int | None = None
        self._head: tuple[int, int, str] | None = None
        """(chain, last_seq, last_hash) as this transaction left it, while it holds the head's lock."""
        self._observer = observer

    def _lock_head(self) -> Any:
        row: Any = None
        if self._chain is None and self._c.dialect.name == "postgresql":
            row = self._c.execute(_LOCK_FIRST_FREE_HEAD, {"preferred_chain": self._preferred}).first()
        if row is None:
            chain = self._preferred if self._chain is None else self._chain
            row = self._c.execute(_LOCK_HEAD, {"lock_chain": chain}).first()
        if row is None:
            raise DependencyUnavailable("the audit log is not initialised", code="audit.unavailable")
        self._chain = int(row.chain)
        return row

    def append(self, record: AuditRecord, occurred_at: datetime) -> AuditEvent:
        # Locking a head row serialises the writers of that chain; the event commits or rolls back
        # with the state change.
        started = time.perf_counter()
        if self._head is None:
            locked = self._lock_head()
            chain, last_seq, last_hash = int(locked.chain), int(locked.last_seq), str(locked.last_hash)
        else:
            chain, last_seq, last_hash = self._head
        self._head = None  # until this append's statements went through
        event = next_event(last_seq, last_hash, record, occurred_at, chain=chain)
        self._c.execute(_APPEND_EVENT, event_row(event))
        self._c.execute(_ADVANCE_HEAD, {"head_chain": chain, "head_seq": event.seq, "head_hash": event.hash})
        self._head = (chain, event.seq, event.hash)
        if self._observer is not None:
            self._observer(event, time.perf_counter() - started)
        return event

    def events(self, *, chain: int | None = None, from_seq: int = 1, batch_size: int = 1000) -> Iterator[AuditEvent]:
        """One chain's events from ``from_seq`` on, or (``chain`` None) every chain's, chain after chain."""
        chains = range(t.AUDIT_CHAINS) if chain is None else (chain,)
        for one in chains:
            yield from self._chain_events(one, from_seq, batch_size)

    def _chain_events(self, chain: int, from_seq: int, batch_size: int) -> Iterator[AuditEvent]:
        # Rows are read in key order; a reordered or renumbered row shows up as a break.
        e = t.audit_event
        next_seq = from_seq
        while True:
            rows = self._c.execute(
                sa.select(e).where(e.c.chain == chain, e.c.seq >= next_seq).order_by(e.c.seq).limit(batch_size)
            ).all()
            if not rows:
                return
            for row in rows:
                yield event_from_row(row)
            next_seq = int(rows[-1].seq) + 1

    def about(self, subject: str, limit: int = 200) -> Sequence[AuditEvent]:
        e = t.audit_event
        rows = self._c.execute(
            sa.select(e)
            .where(e.c.subject == subject)
            .order_by(e.c.occurred_at.desc(), e.c.chain, e.c.seq.desc())
            .limit(limit)
        )
        return [event_from_row(row) for row in rows]

    def heads(self) -> Sequence[ChainHead]:
        h = t.audit_head
        rows = self._c.execute(sa.select(h.c.chain, h.c.last_seq, h.c.last_hash).order_by(h.c.chain))
        return [ChainHead(int(r.chain), int(r.last_seq), r.last_hash) for r in rows]
