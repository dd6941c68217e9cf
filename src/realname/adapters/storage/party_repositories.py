"""Storage of the relying parties and their checks (migration 0007_parties), and the unit of work the
check use cases run on.

Tables, declared on their own ``MetaData`` so this module adds nothing to ``tables.metadata``:

- ``relying_party``: the party, its client secret and contact only as envelope ciphertext.
- ``party_nonce``: every nonce a party used (primary key: a replay is an integrity violation).
- ``party_usage``: conditional counters per party, window kind and window start (quota, rate).
- ``party_check``: each check; the number's holder at the time, a party-scoped probe reference of the ID
  asked about (never its blind index), the result, the consent reference as ciphertext.
- ``check_block``: a subscriber's blocks of one number or one party.
- ``party_case``: which relying party (and check) a review case is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.attempt_repositories import SqlAttemptRepository, SqlReviewRepository
from realname.adapters.storage.repositories import (
    SqlAuditLog,
    SqlBindingRepository,
    SqlNumberRepository,
    insert_ignoring_duplicates,
)
from realname.adapters.storage.transaction import SqlTransaction
from realname.app.relying_party_checks import (
    BlockRepository,
    CheckBlock,
    CheckRecord,
    CheckRepository,
    Holder,
    HolderRepository,
    NonceStore,
    PartyCaseLinks,
    PartyRepository,
    UsageCounters,
)
from realname.app.unit_of_work import AttemptRepository, AuditLog, BindingRepository, NumberRepository, ReviewRepository
from realname.domain.errors import Conflict
from realname.domain.relying_parties import BindingSpan, CheckKind, CheckResult, PartyStatus, RelyingParty
from realname.domain.subscribers import BlindIndex

party_metadata = sa.MetaData(naming_convention=t.metadata.naming_convention)

relying_party = sa.Table(
    "relying_party",
    party_metadata,
    sa.Column("id", sa.String(48), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("purpose", sa.String(500), nullable=False),
    sa.Column("allowed_kinds", sa.String(128), nullable=False),
    sa.Column("daily_quota", sa.Integer, nullable=False),
    sa.Column("per_minute_limit", sa.Integer, nullable=False),
    sa.Column("sees_elements", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("secret_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("secret_version", sa.Integer, nullable=False),
    sa.Column("contact_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("created_at", t.UtcDateTime(), nullable=False),
    sa.Column("status_changed_at", t.UtcDateTime(), nullable=True),
)

party_nonce = sa.Table(
    "party_nonce",
    party_metadata,
    sa.Column("party_id", sa.String(48), primary_key=True),
    sa.Column("nonce", sa.String(64), primary_key=True),
    sa.Column("seen_at", t.UtcDateTime(), nullable=False),
)

party_usage = sa.Table(
    "party_usage",
    party_metadata,
    sa.Column("party_id", sa.String(48), primary_key=True),
    sa.Column("window", sa.String(8), primary_key=True),
    sa.Column("window_start", t.UtcDateTime(), primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
)

party_check = sa.Table(
    "party_check",
    party_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(48), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("msisdn", sa.String(15), nullable=False),
    sa.Column("subscriber_id", sa.String(64), nullable=True),
    sa.Column("probe", sa.String(32), nullable=True),
    sa.Column("result", sa.String(16), nullable=False),
    sa.Column("checked_at", t.UtcDateTime(), nullable=False),
    sa.Column("consent_ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("consent_given_at", t.UtcDateTime(), nullable=False),
    sa.Column("reported_at", t.UtcDateTime(), nullable=True),
    sa.Index("ix_party_check_subscriber_id", "subscriber_id", "checked_at"),
    sa.Index("ix_party_check_probe", "party_id", "probe", "checked_at"),
    sa.Index("ix_party_check_msisdn", "party_id", "msisdn", "checked_at"),
)

check_block = sa.Table(
    "check_block",
    party_metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("subscriber_id", sa.String(64), nullable=False),
    sa.Column("msisdn", sa.String(15), nullable=True),
    sa.Column("party_id", sa.String(48), nullable=True),
    sa.Column("created_at", t.UtcDateTime(), nullable=False),
    sa.Column("lifted_at", t.UtcDateTime(), nullable=True),
    sa.Index("ix_check_block_subscriber_id", "subscriber_id"),
)

party_case = sa.Table(
    "party_case",
    party_metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("party_id", sa.String(48), nullable=False),
    sa.Column("check_id", sa.String(64), nullable=True),
    sa.Index("ix_party_case_party_id", "party_id"),
)


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


class SqlUsageCounters:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def take(self, party_id: str, window: str, window_start: datetime, limit: int) -> int | None:
        self._c.execute(
            insert_ignoring_duplicates(
                self._c,
                party_usage,
                {"party_id": party_id, "window": window, "window_start": window_start, "used": 0},
                ["party_id", "window", "window_start"],
            )
        )
        row = self._c.execute(
            party_usage.update()
            .where(
                party_usage.c.party_id == party_id,
                party_usage.c.window == window,
                party_usage.c.window_start == window_start,
                party_usage.c.used < limit,
            )
            .values(used=party_usage.c.used + 1)
            .returning(party_usage.c.used)
        ).first()
        return None if row is None else int(row.used) - 1


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


class SqlCheckRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, record: CheckRecord, consent_ciphertext: bytes) -> None:
        self._c.execute(
            party_check.insert().values(
                id=record.id,
                party_id=record.party_id,
                kind=record.kind.value,
                msisdn=record.msisdn,
                subscriber_id=record.subscriber_id,
                probe=record.probe,
                result=record.result.value,
                checked_at=record.checked_at,
                consent_ciphertext=consent_ciphertext,
                consent_given_at=record.consent_given_at,
            )
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

    def other_numbers_for_probe(self, party_id: str, probe: str, msisdn: str, since: datetime) -> int:
        c = party_check.c
        query = sa.select(sa.func.count(sa.distinct(c.msisdn))).where(
            c.party_id == party_id, c.probe == probe, c.checked_at >= since, c.msisdn != msisdn
        )
        return int(self._c.execute(query).scalar_one())

    def other_probes_for_number(self, party_id: str, msisdn: str, probe: str, since: datetime) -> int:
        c = party_check.c
        query = sa.select(sa.func.count(sa.distinct(c.probe))).where(
            c.party_id == party_id, c.msisdn == msisdn, c.checked_at >= since, c.probe.is_not(None), c.probe != probe
        )
        return int(self._c.execute(query).scalar_one())


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

    def blocks(self, subscriber_id: str, msisdn: str, party_id: str) -> bool:
        c = check_block.c
        row = self._c.execute(
            sa.select(c.id)
            .where(
                c.subscriber_id == subscriber_id,
                c.lifted_at.is_(None),
                sa.or_(c.msisdn == msisdn, c.party_id == party_id),
            )
            .limit(1)
        ).first()
        return row is not None


class SqlHolderRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def holder(self, subscriber_id: str) -> Holder | None:
        s = t.subscriber
        row = self._c.execute(sa.select(s.c.id_index, s.c.name_index).where(s.c.id == subscriber_id)).first()
        return None if row is None else Holder(BlindIndex(row.id_index), row.name_index)

    def subscriber_id_of(self, id_index: BlindIndex) -> str | None:
        value = self._c.execute(sa.select(t.subscriber.c.id).where(t.subscriber.c.id_index == id_index.value)).scalar()
        return None if value is None else str(value)

    def history(self, msisdn: str) -> list[BindingSpan]:
        b = t.binding
        rows = self._c.execute(
            sa.select(b.c.subscriber_id, b.c.started_at, b.c.ended_at, b.c.end_reason)
            .where(b.c.msisdn == msisdn)
            .order_by(b.c.started_at, sa.func.coalesce(b.c.ended_at, b.c.started_at))
        )
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
        self.audit: AuditLog = SqlAuditLog(c)
