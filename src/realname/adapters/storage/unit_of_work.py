"""The SQL unit of work: one connection and one transaction per use case; commit is explicit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import sqlalchemy as sa

from realname.adapters.storage.attempt_repositories import (
    SqlAttemptRepository,
    SqlChallengeRepository,
    SqlConsentRepository,
    SqlFailureRepository,
    SqlIdempotencyStore,
    SqlReviewRepository,
)
from realname.adapters.storage.repositories import (
    SqlAuditLog,
    SqlBindingRepository,
    SqlNumberRepository,
    SqlOutletRepository,
    SqlStaffRepository,
    SqlSubscriberRepository,
)
from realname.app.liveness import ChallengeStore
from realname.app.unit_of_work import (
    AttemptRepository,
    AuditLog,
    BindingRepository,
    ConsentRepository,
    FailureRepository,
    IdempotencyStore,
    NumberRepository,
    OutletRepository,
    ReviewRepository,
    StaffRepository,
    SubscriberRepository,
)
from realname.domain.errors import Conflict, DependencyUnavailable


class SqlUnitOfWork:
    """Opens a transaction on enter; rolls back on exit unless :meth:`commit` was called.

    Database failures become ``DependencyUnavailable`` (fail closed) and integrity violations become
    ``Conflict``: callers never see SQLAlchemy's errors.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._connection: sa.Connection | None = None
        self._transaction: sa.RootTransaction | None = None

    def __enter__(self) -> Self:
        try:
            self._connection = self._engine.connect()
            self._transaction = self._connection.begin()
        except sa.exc.SQLAlchemyError as exc:
            self._close()
            raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
        c = self._connection
        self.outlets: OutletRepository = SqlOutletRepository(c)
        self.staff: StaffRepository = SqlStaffRepository(c)
        self.numbers: NumberRepository = SqlNumberRepository(c)
        self.bindings: BindingRepository = SqlBindingRepository(c)
        self.subscribers: SubscriberRepository = SqlSubscriberRepository(c)
        self.audit: AuditLog = SqlAuditLog(c)
        self.attempts: AttemptRepository = SqlAttemptRepository(c)
        self.challenges: ChallengeStore = SqlChallengeRepository(c)
        self.consents: ConsentRepository = SqlConsentRepository(c)
        self.failures: FailureRepository = SqlFailureRepository(c)
        self.idempotency: IdempotencyStore = SqlIdempotencyStore(c)
        self.reviews: ReviewRepository = SqlReviewRepository(c)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.rollback()
        finally:
            self._close()
        if isinstance(exc, sa.exc.IntegrityError):
            raise Conflict("the change conflicts with the current state; try again", code="storage.conflict") from exc
        if isinstance(exc, sa.exc.SQLAlchemyError):
            raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc

    def commit(self) -> None:
        if self._transaction is None:
            raise RuntimeError("commit outside the unit of work")
        try:
            self._transaction.commit()
        except sa.exc.IntegrityError as exc:
            raise Conflict("the change conflicts with the current state; try again", code="storage.conflict") from exc
        except sa.exc.SQLAlchemyError as exc:
            raise DependencyUnavailable("the database is unavailable", code="database.unavailable") from exc
        self._transaction = None

    def rollback(self) -> None:
        if self._transaction is not None and self._transaction.is_active:
            self._transaction.rollback()
        self._transaction = None

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
