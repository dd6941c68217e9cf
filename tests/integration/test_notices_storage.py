"""Subscriber notices over real storage (SQLite, and PostgreSQL when configured): a registration, a SIM
replacement and a surrender under an ID tell every other active number under it; nothing is sent for a change
that was refused or replayed, and a refused notice never undoes the change."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
import sqlalchemy as sa

from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import OPERATOR_CLI
from realname.app.attempts import AttemptDeps
from realname.app.notices import NoticeDeps
from realname.app.owner_services import OwnerServices
from realname.app.registration import Registration
from realname.domain.attempts import Attempt, Outcome, Purpose
from realname.domain.errors import DependencyUnavailable
from realname.domain.notices import Notice, NoticeKind
from realname.domain.numbers import QuotaExceeded
from realname.domain.sim import Iccid, luhn_valid
from tests.fakes import FixedClock
from tests.integration.test_attempt_limits import make_deps
from tests.integration.test_registry_storage import CLERK, id_index, make_registry, n


def _iccid(serial: int) -> Iccid:
    body = f"8986001234567890{serial:03d}"
    return next(Iccid.parse(body + str(d)) for d in range(10) if luhn_valid(body + str(d)))


ICCIDS = [_iccid(i) for i in range(1, 5)]


@dataclass
class RecordingSender:
    sent: list[Notice] = field(default_factory=list)
    refuse: bool = False

    def send(self, notice: Notice) -> None:
        if self.refuse:
            raise DependencyUnavailable("gateway down", code="sms.unavailable")
        self.sent.append(notice)


def registration(engine: sa.Engine, clock: FixedClock, sender: RecordingSender, **policy: object) -> Registration:
    return Registration(attempt_deps(engine, clock, sender, **policy))


def attempt_deps(engine: sa.Engine, clock: FixedClock, sender: RecordingSender, **policy: object) -> AttemptDeps:
    return replace(make_deps(engine, clock, None, **policy), notices=NoticeDeps(sender, "Call 10086 or open /me.", 8.0))


def approved(engine: sa.Engine, clock: FixedClock, attempt_id: str, purpose: Purpose = Purpose.REGISTER) -> str:
    attempt = Attempt.start(attempt_id, purpose, "BJ-001", CLERK.ref, "kiosk-1", clock.now(), 30)
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=id_index(), now=clock.now())
    attempt.record_consent(accepted=True, version="v1", current_version="v1", now=clock.now())
    attempt.record_challenge(clock.now())
    attempt.record_decision(Outcome.APPROVED, (), clock.now())
    with SqlUnitOfWork(engine) as uow:
        uow.attempts.add(attempt)
        uow.commit()
    return attempt.id


@pytest.fixture
def pool(engine: sa.Engine) -> sa.Engine:
    registry = make_registry(engine)
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [n(i) for i in range(5)], source="test")
    return engine


def audit(engine: sa.Engine, action: str) -> list[dict[str, object]]:
    with SqlUnitOfWork(engine) as uow:
        return [dict(e.details) for e in uow.audit.events() if e.action == action]


def test_registration_sim_replacement_and_surrender_tell_the_other_numbers(pool: sa.Engine) -> None:
    clock, sender = FixedClock(), RecordingSender()
    deps = attempt_deps(pool, clock, sender)
    flows, owner = Registration(deps), OwnerServices(deps)
    flows.complete_registration(
        CLERK, approved(pool, clock, "a1"), msisdn=n(0), iccid=ICCIDS[0], idempotency_key="k-000001"
    )
    assert sender.sent == []  # the first number under the ID: nobody else to tell
    second = approved(pool, clock, "a2")
    flows.complete_registration(CLERK, second, msisdn=n(1), iccid=ICCIDS[1], idempotency_key="k-000002")
    assert [(s.to, s.kind) for s in sender.sent] == [(n(0), NoticeKind.REGISTERED)]
    assert sender.sent[0].text == (
        "A number ending 0001 was registered under your ID at Beijing Xidan on 2026-11-22. Not you? "
        "Call 10086 or open /me."
    )
    # A retry of the same request replays the receipt and tells nobody again.
    flows.complete_registration(CLERK, second, msisdn=n(1), iccid=ICCIDS[1], idempotency_key="k-000002")
    assert len(sender.sent) == 1

    owner.replace_sim(CLERK, approved(pool, clock, "a3", Purpose.SIM_REPLACEMENT), n(0), ICCIDS[2])
    assert [(s.to, s.kind) for s in sender.sent[1:]] == [(n(1), NoticeKind.SIM_REPLACED)]
    assert "SIM card of the number ending 0000" in sender.sent[1].text

    owner.complete_surrender(CLERK, approved(pool, clock, "a4", Purpose.SURRENDER), n(1))
    assert [(s.to, s.kind) for s in sender.sent[2:]] == [(n(0), NoticeKind.SURRENDERED)]
    queued = audit(pool, "subscriber.notices_queued")
    assert [(q["kind"], q["to"]) for q in queued] == [
        ("registered", ["138****0000"]),
        ("sim_replaced", ["138****0001"]),
        ("surrendered", ["138****0000"]),
    ]


def test_a_refused_registration_tells_nobody(pool: sa.Engine) -> None:
    clock, sender = FixedClock(), RecordingSender()
    flows = registration(pool, clock, sender, max_numbers_per_id=1)
    flows.complete_registration(
        CLERK, approved(pool, clock, "a1"), msisdn=n(0), iccid=ICCIDS[0], idempotency_key="k-000001"
    )
    with pytest.raises(QuotaExceeded):
        flows.complete_registration(
            CLERK, approved(pool, clock, "a2"), msisdn=n(1), iccid=ICCIDS[1], idempotency_key="k-000002"
        )
    assert sender.sent == [] and audit(pool, "subscriber.notices_queued") == []


def test_a_gateway_that_refuses_a_notice_does_not_undo_the_registration(pool: sa.Engine) -> None:
    clock, sender = FixedClock(), RecordingSender(refuse=True)
    flows = registration(pool, clock, sender)
    flows.complete_registration(
        CLERK, approved(pool, clock, "a1"), msisdn=n(0), iccid=ICCIDS[0], idempotency_key="k-000001"
    )
    receipt = flows.complete_registration(
        CLERK, approved(pool, clock, "a2"), msisdn=n(1), iccid=ICCIDS[1], idempotency_key="k-000002"
    )
    assert receipt.held_numbers == 2
    assert audit(pool, "subscriber.notice_failed") == [{"to": ["138****0000"]}]
