"""Repositories of terminals, signed reader reads, self-service codes and rate-limited events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from realname.adapters.storage import tables as t
from realname.adapters.storage.repositories import per_dialect
from realname.domain.errors import Conflict
from realname.domain.self_service import OneTimeCode
from realname.domain.terminals import Terminal


def _terminal_from_row(row: sa.Row[Any]) -> Terminal:
    return Terminal(
        id=row.id,
        outlet_code=row.outlet_code,
        name=row.name,
        public_key=bytes(row.public_key),
        enrolled_at=row.enrolled_at,
        enrolled_by=row.enrolled_by,
        revoked_at=row.revoked_at,
    )


_TERMINAL = sa.select(t.terminal).where(t.terminal.c.id == sa.bindparam("t_id", type_=sa.String(64)))
_CLAIM_NONCE = per_dialect(
    lambda insert: insert(t.reader_nonce).on_conflict_do_nothing().returning(t.reader_nonce.c.nonce)
)
"""A nonce seen before (the primary key) makes the insert do nothing: one statement where a look-up, a savepoint,
the insert and the savepoint's release were four."""
_FORGET_NONCES = t.reader_nonce.delete().where(
    t.reader_nonce.c.seen_at < sa.bindparam("t_cutoff", type_=t.UtcDateTime())
)


class SqlTerminalRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, terminal: Terminal) -> None:
        if self._c.execute(sa.select(t.terminal.c.id).where(t.terminal.c.public_key == terminal.public_key)).first():
            raise Conflict("this public key is already enrolled", code="terminal.key_in_use")
        self._c.execute(
            t.terminal.insert().values(
                id=terminal.id,
                outlet_code=terminal.outlet_code,
                name=terminal.name,
                public_key=terminal.public_key,
                enrolled_at=terminal.enrolled_at,
                enrolled_by=terminal.enrolled_by,
                revoked_at=terminal.revoked_at,
            )
        )

    def get(self, terminal_id: str) -> Terminal | None:
        row = self._c.execute(_TERMINAL, {"t_id": terminal_id}).first()
        return None if row is None else _terminal_from_row(row)

    def list(self) -> Sequence[Terminal]:
        rows = self._c.execute(sa.select(t.terminal).order_by(t.terminal.c.outlet_code, t.terminal.c.enrolled_at))
        return [_terminal_from_row(r) for r in rows]

    def revoke(self, terminal_id: str, at: datetime) -> bool:
        result = self._c.execute(
            t.terminal.update()
            .where(t.terminal.c.id == terminal_id, t.terminal.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return result.rowcount == 1

    def claim_nonce(self, terminal_id: str, nonce: str, at: datetime) -> bool:
        """Record a signed read's nonce; False if this terminal used it before (a replay)."""
        # A concurrent request with the same nonce makes PostgreSQL wait for its transaction: if it commits,
        # this insert does nothing (the replay is refused); if it rolls back, this one claims the nonce.
        claimed = self._c.execute(
            _CLAIM_NONCE[self._c.dialect.name], {"terminal_id": terminal_id, "nonce": nonce, "seen_at": at}
        )
        return claimed.first() is not None

    def forget_nonces_before(self, cutoff: datetime) -> int:
        """Drop nonces too old to pass the freshness check anyway."""
        result = self._c.execute(_FORGET_NONCES, {"t_cutoff": cutoff})
        return int(result.rowcount)


class SqlCodeRepository:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def put(self, code: OneTimeCode) -> None:
        """Store the attempt's code, replacing an earlier one (a new code burns the old)."""
        self._c.execute(t.self_code.delete().where(t.self_code.c.attempt_id == code.attempt_id))
        self._c.execute(
            t.self_code.insert().values(
                attempt_id=code.attempt_id,
                code_hash=code.code_hash,
                issued_at=code.issued_at,
                expires_at=code.expires_at,
                tries_left=code.tries_left,
            )
        )

    def get(self, attempt_id: str) -> OneTimeCode | None:
        row = self._c.execute(
            sa.select(t.self_code).where(t.self_code.c.attempt_id == attempt_id).with_for_update()
        ).first()
        if row is None:
            return None
        return OneTimeCode(row.attempt_id, row.code_hash, row.issued_at, row.expires_at, row.tries_left)

    def save_tries(self, attempt_id: str, tries_left: int) -> None:
        self._c.execute(
            t.self_code.update().where(t.self_code.c.attempt_id == attempt_id).values(tries_left=max(0, tries_left))
        )

    def delete(self, attempt_id: str) -> None:
        self._c.execute(t.self_code.delete().where(t.self_code.c.attempt_id == attempt_id))


class SqlThrottleLog:
    def __init__(self, connection: sa.Connection) -> None:
        self._c = connection

    def add(self, event_id: str, scope: str, subject: str, at: datetime) -> None:
        self._c.execute(t.throttle_event.insert().values(id=event_id, scope=scope, subject=subject[:128], at=at))

    def since(self, scope: str, subject: str, since: datetime) -> Sequence[datetime]:
        e = t.throttle_event
        rows = self._c.execute(
            sa.select(e.c.at).where(e.c.scope == scope, e.c.subject == subject[:128], e.c.at >= since)
        )
        return [r[0] for r in rows]

    def forget_before(self, scope: str, subject: str, cutoff: datetime) -> None:
        e = t.throttle_event
        self._c.execute(e.delete().where(e.c.scope == scope, e.c.subject == subject[:128], e.c.at < cutoff))
