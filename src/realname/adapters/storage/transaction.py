"""One connection and one transaction, committed explicitly; SQLAlchemy's errors translated once, here."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from realname.domain.audit import AuditEvent
from realname.domain.errors import Conflict, DependencyUnavailable

AuditObserver = Callable[[AuditEvent, float], None]
"""Told of every audit event appended in the transaction and the seconds its append took (metrics)."""


def translated(exc: sa.exc.SQLAlchemyError) -> Conflict | DependencyUnavailable:
    """Integrity violations are conflicts; every other database failure fails closed."""
    if isinstance(exc, sa.exc.IntegrityError):
        return Conflict("the change conflicts with the current state; try again", code="storage.conflict")
    return DependencyUnavailable("the database is unavailable", code="database.unavailable")


class SqlTransaction:
    """Opens a transaction on enter and rolls it back on exit unless :meth:`commit` was called.

    Subclasses bind their repositories to the connection in :meth:`_bind`. Callers never see SQLAlchemy's
    errors: integrity violations become ``Conflict`` and other failures ``DependencyUnavailable``.
    """

    def __init__(self, engine: sa.Engine, *, audit_observer: AuditObserver | None = None) -> None:
        self._engine = engine
        self.audit_observer = audit_observer
        self._connection: sa.Connection | None = None
        self._transaction: sa.RootTransaction | None = None

    def _bind(self, connection: sa.Connection) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self._connection = self._engine.connect()
            self._transaction = self._connection.begin()
        except sa.exc.SQLAlchemyError as exc:
            self._close()
            raise translated(exc) from exc
        self._bind(self._connection)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.rollback()
        finally:
            self._close()
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise translated(exc) from exc

    def commit(self) -> None:
        if self._transaction is None:
            raise RuntimeError("commit outside the unit of work")
        try:
            self._transaction.commit()
        except sa.exc.SQLAlchemyError as exc:
            # Whether anything of the transaction stayed open on a connection whose commit failed is
            # unknown (SQLite's can keep it): the connection is discarded, not returned to the pool.
            if self._connection is not None:
                self._connection.invalidate()
            raise translated(exc) from exc
        self._transaction = None

    def rollback(self) -> None:
        if self._transaction is not None and self._transaction.is_active:
            self._transaction.rollback()
        self._transaction = None

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
