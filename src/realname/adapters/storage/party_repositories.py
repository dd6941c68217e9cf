"""Repositories of the relying parties and their checks (tables in ``party_tables``), and the unit of work
the check use cases run on."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.attempt_repositories import SqlAttemptRepository, SqlReviewRepository
from realname.adapters.storage.party_tables import (
    check_block,
    party_case,
    party_check,
    party_nonce,
    party_usage,
    relying_party,
    subscriber_name,
)
from realname.adapters.storage.repositories import (
    SqlAuditLog,
    SqlBindingRepository,
    SqlNumberRepository,
    insert_ignoring_duplicates,
    per_dialect,
)
from realname.adapters.storage.transaction import SqlTransaction
from realname.app.relying_party_checks import (
    BlockRepository,
    CheckBlock,
    CheckRecord,
    CheckRepository,
    CheckSurvey,
    Holder,
    HolderRepository,
    NonceStore,
    NumberLookup,
    PartyCaseLinks,
    PartyRepository,
    UsageCounters,
)
from realname.app.unit_of_work import AttemptRepository, AuditLog, BindingRepository, NumberRepository, ReviewRepository
from realname.domain.errors import Conflict
from realname.domain.numbers import NumberState
from realname.domain.relying_parties import BindingSpan, CheckKind, CheckResult, PartyStatus, RelyingParty
from realname.domain.subscribers import BlindIndex

_BUILT: dict[tuple[object, ...], Any] = {}
"""The checks' statements whose shape depends on the call, built once per shape with bound parameters (the others are
built once, per dialect where they need its INSERT, when the module is imported). SQLAlchemy reuses a statement
object's cache key and compiled form, while one built per call costs the better part of a millisecond of Python
(expression objects and a fresh cache key): per check, that was most of the Python outside the domain."""


def _built(key: tuple[object, ...], build: Callable[[], Any]) -> Any:
    found = _BUILT.get(key)
    if found is None:
        found = _BUILT.setdefault(key, build())  # two threads may build it: either copy is fine
    return found


def _party_from_row(row: sa.Row[Any]) -> RelyingParty:
    return RelyingParty(
        id=row.id,
        name=row.name,
        purpose=row.purpose,
        allowed_kinds=frozenset(CheckKind(k) for k in row.allowed_kinds.split(",") if k),
        daily_quota=row.daily_quota,
        per_minute_limit=row.per_minute_limit,
        created_at=row.created_at,
        status=PartyStatus(row.status),
        sees_elements=row.sees_elements,
        secret_version=row.secret_version,
        client_cert_sha256=row.client_cert_sha256,
    )


_PARTY_COLUMNS = [c for c in relying_party.c if c.name not in ("secret_ciphertext", "contact_ciphertext")]


class SqlPartyRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, party: RelyingParty, secret_ciphertext: bytes, contact_ciphertext: bytes) -> None:
        try:
            with self._c.begin_nested():
                self._c.execute(
                    relying_party.insert().values(
                        id=party.id,
                        name=party.name,
                        purpose=party.purpose,
                        allowed_kinds=",".join(sorted(k.value for k in party.allowed_kinds)),
                        daily_quota=party.daily_quota,
                        per_minute_limit=party.per_minute_limit,
                        sees_elements=party.sees_elements,
                        status=party.status.value,
                        secret_ciphertext=secret_ciphertext,
                        secret_version=party.secret_version,
                        contact_ciphertext=contact_ciphertext,
                        created_at=party.created_at,
                        client_cert_sha256=party.client_cert_sha256,
                    )
                )
        except sa.exc.IntegrityError as exc:
            raise Conflict(f"party {party.id} exists already", code="party.exists") from exc

    def get(self, party_id: str, *, for_update: bool = False) -> RelyingParty | None:
        query = sa.select(*_PARTY_COLUMNS).where(relying_party.c.id == party_id)
        if for_update:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return None if row is None else _party_from_row(row)

    def get_with_secret(self, party_id: str) -> tuple[RelyingParty, bytes] | None:
        row: Any = self._c.execute(
            sa.select(*_PARTY_COLUMNS, relying_party.c.secret_ciphertext).where(relying_party.c.id == party_id)
        ).first()
        return None if row is None else (_party_from_row(row), bytes(row.secret_ciphertext))

    def _cell(self, party_id: str, column: sa.Column[Any]) -> bytes | None:
        value = self._c.execute(sa.select(column).where(relying_party.c.id == party_id)).scalar()
        return None if value is None else bytes(value)

    def secret_ciphertext(self, party_id: str) -> bytes | None:
        return self._cell(party_id, relying_party.c.secret_ciphertext)

    def contact_ciphertext(self, party_id: str) -> bytes | None:
        return self._cell(party_id, relying_party.c.contact_ciphertext)

    def list(self) -> Sequence[RelyingParty]:
        rows = self._c.execute(sa.select(*_PARTY_COLUMNS).order_by(relying_party.c.id))
        return [_party_from_row(r) for r in rows]

    def set_status(self, party_id: str, status: PartyStatus, at: datetime) -> None:
        self._c.execute(
            relying_party.update()
            .where(relying_party.c.id == party_id)
            .values(status=status.value, status_changed_at=at)
        )

    def set_secret(self, party_id: str, ciphertext: bytes, version: int) -> None:
        self._c.execute(
            relying_party.update()
            .where(relying_party.c.id == party_id)
            .values(secret_ciphertext=ciphertext, secret_version=version)
        )

    def set_client_cert(self, party_id: str, sha256: str | None) -> None:
        self._c.execute(relying_party.update().where(relying_party.c.id == party_id).values(client_cert_sha256=sha256))


_PARTY_STILL_AS_REMEMBERED = sa.select(
    sa.bindparam("claim_party", type_=sa.String(48)),
    sa.bindparam("claim_nonce", type_=sa.String(64)),
    sa.bindparam("claim_at", type_=t.UtcDateTime()),
).where(
    sa.exists().where(
        relying_party.c.id == sa.bindparam("claim_party"),
        relying_party.c.status == sa.bindparam("claim_status"),
        relying_party.c.secret_version == sa.bindparam("claim_version"),
        relying_party.c.client_cert_sha256.is_not_distinct_from(sa.bindparam("claim_cert", type_=sa.String(64))),
    )
)
_CLAIM_IF_CURRENT = per_dialect(
    lambda insert: (
        insert(party_nonce)
        .from_select(["party_id", "nonce", "seen_at"], _PARTY_STILL_AS_REMEMBERED)
        .on_conflict_do_nothing(index_elements=["party_id", "nonce"])
        .returning(party_nonce.c.nonce)
    )
)


class SqlNonceStore:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def claim(self, party_id: str, nonce: str, at: datetime) -> bool:
        # ON CONFLICT DO NOTHING: a concurrent transaction with the same nonce waits for this one and
        # then inserts nothing, so exactly one of two simultaneous replays is answered.
        statement = insert_ignoring_duplicates(
            self._c, party_nonce, {"party_id": party_id, "nonce": nonce, "seen_at": at}, ["party_id", "nonce"]
        )
        return self._c.execute(statement.returning(party_nonce.c.nonce)).first() is not None

    def claim_if_current(self, party: RelyingParty, nonce: str, at: datetime) -> bool:
        # INSERT … SELECT … WHERE the party row is still as remembered (status, secret version, pinned
        # certificate): the nonce is spent and the party's state confirmed by one statement. A replay inserts nothing (ON CONFLICT DO NOTHING), as in claim.
        statement = _CLAIM_IF_CURRENT[self._c.dialect.name]
        parameters = {
            "claim_party": party.id,
            "claim_nonce": nonce,
            "claim_at": at,
            "claim_status": party.status.value,
            "claim_version": party.secret_version,
            "claim_cert": party.client_cert_sha256,
        }
        return self._c.execute(statement, parameters).first() is not None

    def forget_before(self, cutoff: datetime) -> int:
        return int(self._c.execute(party_nonce.delete().where(party_nonce.c.seen_at < cutoff)).rowcount)


USAGE_SHARDS = 16
"""Counters per party and window. A check adds its use to one picked at random, so concurrent checks of one party
rarely wait for each other's commit; the window's use is the sum of at most this many rows."""


_ADD_USE = per_dialect(
    lambda insert: insert(party_usage).on_conflict_do_update(
        index_elements=["party_id", "window", "window_start", "shard"],
        set_={"used": party_usage.c.used + 1},
    )
)


class SqlUsageCounters:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection
        # One shard per transaction (picked at random: spreading writers, not a secret). A transaction that
        # counts several checks (group commit) then locks one row per window, always in the same order
        # (windows sorted by name), so two such transactions can wait for each other but never deadlock.
        self._shard = random.randrange(USAGE_SHARDS)

    def add_use(self, party_id: str, windows: Mapping[str, datetime]) -> None:
        shard = self._shard
        # One row of parameters per window (executemany: one pipelined batch on psycopg); the statement
        # itself has no values in it, so SQLAlchemy compiles it once (a multi-row VALUES is never cached).
        self._c.execute(
            _ADD_USE[self._c.dialect.name],
            [
                {"party_id": party_id, "window": name, "window_start": start, "shard": shard, "used": 1}
                for name, start in sorted(windows.items())
            ],
        )

    def forget_before(self, cutoff: datetime) -> int:
        return int(self._c.execute(party_usage.delete().where(party_usage.c.window_start < cutoff)).rowcount)


def _check_from_row(row: sa.Row[Any]) -> CheckRecord:
    return CheckRecord(
        id=row.id,
        party_id=row.party_id,
        kind=CheckKind(row.kind),
        msisdn=row.msisdn,
        subscriber_id=row.subscriber_id,
        probe=row.probe,
        result=CheckResult(row.result),
        checked_at=row.checked_at,
        consent_given_at=row.consent_given_at,
        reported_at=row.reported_at,
    )


_CHECK_COLUMNS = [c for c in party_check.c if c.name != "consent_ciphertext"]
_ADD_CHECK = party_check.insert()


class SqlCheckRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, record: CheckRecord, consent_ciphertext: bytes) -> None:
        self._c.execute(
            _ADD_CHECK,
            {
                "id": record.id,
                "party_id": record.party_id,
                "kind": record.kind.value,
                "msisdn": record.msisdn,
                "subscriber_id": record.subscriber_id,
                "probe": record.probe,
                "result": record.result.value,
                "checked_at": record.checked_at,
                "consent_ciphertext": consent_ciphertext,
                "consent_given_at": record.consent_given_at,
            },
        )

    def get(self, check_id: str) -> CheckRecord | None:
        row = self._c.execute(sa.select(*_CHECK_COLUMNS).where(party_check.c.id == check_id)).first()
        return None if row is None else _check_from_row(row)

    def consent_ciphertext(self, check_id: str) -> bytes | None:
        value = self._c.execute(
            sa.select(party_check.c.consent_ciphertext).where(party_check.c.id == check_id)
        ).scalar()
        return None if value is None else bytes(value)

    def of_subscriber(self, subscriber_id: str, limit: int = 200) -> Sequence[CheckRecord]:
        rows = self._c.execute(
            sa.select(*_CHECK_COLUMNS)
            .where(party_check.c.subscriber_id == subscriber_id)
            .order_by(party_check.c.checked_at.desc(), party_check.c.id.desc())
            .limit(limit)
        )
        return [_check_from_row(r) for r in rows]

    def mark_reported(self, check_id: str, at: datetime) -> bool:
        result = self._c.execute(
            party_check.update()
            .where(party_check.c.id == check_id, party_check.c.reported_at.is_(None))
            .values(reported_at=at)
        )
        return result.rowcount == 1


def _block_from_row(row: sa.Row[Any]) -> CheckBlock:
    return CheckBlock(row.id, row.subscriber_id, row.msisdn, row.party_id, row.created_at)


class SqlBlockRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, block: CheckBlock) -> None:
        self._c.execute(
            check_block.insert().values(
                id=block.id,
                subscriber_id=block.subscriber_id,
                msisdn=block.msisdn,
                party_id=block.party_id,
                created_at=block.created_at,
            )
        )

    def lift(self, block_id: str, subscriber_id: str, at: datetime) -> bool:
        result = self._c.execute(
            check_block.update()
            .where(
                check_block.c.id == block_id,
                check_block.c.subscriber_id == subscriber_id,
                check_block.c.lifted_at.is_(None),
            )
            .values(lifted_at=at)
        )
        return result.rowcount == 1

    def active_of(self, subscriber_id: str) -> Sequence[CheckBlock]:
        rows = self._c.execute(
            sa.select(check_block)
            .where(check_block.c.subscriber_id == subscriber_id, check_block.c.lifted_at.is_(None))
            .order_by(check_block.c.created_at)
        )
        return [_block_from_row(r) for r in rows]


def _survey_statement(with_probe: bool, window_names: Sequence[str]) -> Any:
    """One statement: a one-row anchor outer-joined to the number, its live binding and the holder, with the
    block, the enumeration counts and the usage sums as scalar subqueries (parameters ``s_…``)."""
    n, b, s, k, c, u = t.number, t.binding, subscriber_name, check_block, party_check.c, party_usage.c
    msisdn, party_id = sa.bindparam("s_msisdn", type_=sa.String(20)), sa.bindparam("s_party", type_=sa.String(48))
    blocked = (
        sa.exists()
        .where(
            k.c.subscriber_id == b.c.subscriber_id,
            k.c.lifted_at.is_(None),
            sa.or_(k.c.msisdn == msisdn, k.c.party_id == party_id),
        )
        .correlate(b)
    )
    counts: list[sa.ColumnElement[Any]] = []
    if with_probe:
        probe, since = sa.bindparam("s_probe", type_=sa.String(100)), sa.bindparam("s_since", type_=t.UtcDateTime())
        counts.append(
            sa.select(sa.func.count(sa.distinct(c.msisdn)))
            .where(c.party_id == party_id, c.probe == probe, c.checked_at >= since, c.msisdn != msisdn)
            .scalar_subquery()
            .label("other_numbers")
        )
        counts.append(
            sa.select(sa.func.count(sa.distinct(c.probe)))
            .where(
                c.party_id == party_id,
                c.msisdn == msisdn,
                c.checked_at >= since,
                c.probe.is_not(None),
                c.probe != probe,
            )
            .scalar_subquery()
            .label("other_probes")
        )
    for i, name in enumerate(window_names):
        counts.append(
            sa.select(sa.func.coalesce(sa.func.sum(u.used), 0))
            .where(
                u.party_id == party_id,
                u.window == name,
                u.window_start == sa.bindparam(f"s_start_{i}", type_=t.UtcDateTime()),
            )
            .scalar_subquery()
            .label(f"used_{i}")
        )
    anchor = sa.select(sa.literal(1).label("one")).subquery("anchor")
    return sa.select(
        n.c.state, b.c.subscriber_id, s.c.id_index, s.c.name_index, blocked.label("blocked"), *counts
    ).select_from(
        anchor.outerjoin(n, n.c.msisdn == msisdn)
        .outerjoin(b, sa.and_(b.c.msisdn == n.c.msisdn, b.c.ended_at.is_(None)))
        .outerjoin(s, s.c.id == b.c.subscriber_id)
    )


_HISTORY = (
    sa.select(t.binding.c.subscriber_id, t.binding.c.started_at, t.binding.c.ended_at, t.binding.c.end_reason)
    .where(t.binding.c.msisdn == sa.bindparam("h_msisdn", type_=sa.String(20)))
    .order_by(t.binding.c.started_at, sa.func.coalesce(t.binding.c.ended_at, t.binding.c.started_at))
)


class SqlHolderRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def survey(
        self,
        msisdn: str,
        party_id: str,
        *,
        probe: str | None,
        window_since: datetime,
        usage_windows: Mapping[str, datetime],
    ) -> CheckSurvey:
        names = sorted(usage_windows)
        statement = _built(
            ("survey", probe is not None, tuple(names)), lambda: _survey_statement(probe is not None, names)
        )
        parameters: dict[str, Any] = {"s_msisdn": msisdn, "s_party": party_id}
        if probe is not None:
            parameters.update(s_probe=probe, s_since=window_since)
        for i, name in enumerate(names):
            parameters[f"s_start_{i}"] = usage_windows[name]
        row: Any = self._c.execute(statement, parameters).one()
        number: NumberLookup | None = None
        if row.state is not None:
            holder = Holder(BlindIndex(row.id_index), row.name_index) if row.id_index else None
            bound = row.subscriber_id is not None
            number = NumberLookup(NumberState(row.state), bound, row.subscriber_id, holder, bound and bool(row.blocked))
        return CheckSurvey(
            number,
            int(row.other_numbers) if probe is not None else 0,
            int(row.other_probes) if probe is not None else 0,
            {name: int(getattr(row, f"used_{i}")) for i, name in enumerate(names)},
        )

    def subscriber_id_of(self, id_index: BlindIndex) -> str | None:
        value = self._c.execute(sa.select(t.subscriber.c.id).where(t.subscriber.c.id_index == id_index.value)).scalar()
        return None if value is None else str(value)

    def history(self, msisdn: str) -> list[BindingSpan]:
        rows = self._c.execute(_HISTORY, {"h_msisdn": msisdn})
        spans = [BindingSpan(r.subscriber_id, r.started_at, r.ended_at, r.end_reason) for r in rows]
        # An ended binding and its successor may start at the same moment: put the live one last.
        return sorted(spans, key=lambda s: (s.started_at, s.ended_at is None))


class SqlPartyCaseLinks:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def link(self, case_id: str, party_id: str, check_id: str | None) -> None:
        self._c.execute(party_case.insert().values(case_id=case_id, party_id=party_id, check_id=check_id))


class SqlChecksUnitOfWork(SqlTransaction):
    """The checks' repositories, with the registry's they read, on one transaction."""

    def _bind(self, c: sa.Connection) -> None:
        self.parties: PartyRepository = SqlPartyRepository(c)
        self.nonces: NonceStore = SqlNonceStore(c)
        self.usage: UsageCounters = SqlUsageCounters(c)
        self.checks: CheckRepository = SqlCheckRepository(c)
        self.blocks: BlockRepository = SqlBlockRepository(c)
        self.holders: HolderRepository = SqlHolderRepository(c)
        self.party_cases: PartyCaseLinks = SqlPartyCaseLinks(c)
        self.numbers: NumberRepository = SqlNumberRepository(c)
        self.bindings: BindingRepository = SqlBindingRepository(c)
        self.attempts: AttemptRepository = SqlAttemptRepository(c)
        self.reviews: ReviewRepository = SqlReviewRepository(c)
        self.audit: AuditLog = SqlAuditLog(c, observer=self.audit_observer)
