"""The SQL unit of work: one connection and one transaction per use case; commit is explicit."""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.storage.attempt_repositories import (
    SqlAttemptRepository,
    SqlChallengeRepository,
    SqlConsentRepository,
    SqlFailureRepository,
    SqlIdempotencyStore,
    SqlReviewRepository,
)
from realname.adapters.storage.party_repositories import SqlPartyRepository
from realname.adapters.storage.repositories import (
    SqlAuditLog,
    SqlBindingRepository,
    SqlNumberRepository,
    SqlOutletRepository,
    SqlStaffRepository,
    SqlSubscriberRepository,
)
from realname.adapters.storage.terminal_repositories import SqlCodeRepository, SqlTerminalRepository, SqlThrottleLog
from realname.adapters.storage.transaction import SqlTransaction
from realname.app.liveness import ChallengeStore
from realname.app.unit_of_work import (
    AttemptRepository,
    AuditLog,
    BindingRepository,
    CodeRepository,
    ConsentRepository,
    FailureRepository,
    IdempotencyStore,
    NumberRepository,
    OutletRepository,
    PartyStandings,
    ReviewRepository,
    StaffRepository,
    SubscriberRepository,
    TerminalRepository,
    ThrottleLog,
)


class SqlUnitOfWork(SqlTransaction):
    """The registry's repositories on one transaction (see :class:`SqlTransaction`)."""

    def _bind(self, c: sa.Connection) -> None:
        self.outlets: OutletRepository = SqlOutletRepository(c)
        self.staff: StaffRepository = SqlStaffRepository(c)
        self.numbers: NumberRepository = SqlNumberRepository(c)
        self.bindings: BindingRepository = SqlBindingRepository(c)
        self.subscribers: SubscriberRepository = SqlSubscriberRepository(c)
        self.audit: AuditLog = SqlAuditLog(c, observer=self.audit_observer)
        self.attempts: AttemptRepository = SqlAttemptRepository(c)
        self.challenges: ChallengeStore = SqlChallengeRepository(c)
        self.consents: ConsentRepository = SqlConsentRepository(c)
        self.failures: FailureRepository = SqlFailureRepository(c)
        self.idempotency: IdempotencyStore = SqlIdempotencyStore(c)
        self.reviews: ReviewRepository = SqlReviewRepository(c)
        self.parties: PartyStandings = SqlPartyRepository(c)
        self.terminals: TerminalRepository = SqlTerminalRepository(c)
        self.codes: CodeRepository = SqlCodeRepository(c)
        self.throttle: ThrottleLog = SqlThrottleLog(c)
