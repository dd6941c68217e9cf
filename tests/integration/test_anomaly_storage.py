"""Anomaly detection over real storage (SQLite, and PostgreSQL when configured): a hit opens one review case
and one audit event, a re-run opens none, and a reviewer dismisses or confirms the case like any other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from realname.adapters.storage.report_repositories import SqlReportsUnitOfWork
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import SYSTEM, Actor
from realname.app.anomalies import AnomalyDeps, AnomalyDetection
from realname.app.review import Review
from realname.domain.anomalies import FaceMismatches, NotMineByOutlet, OutsideOpeningHours, RegistrationBurst
from realname.domain.errors import Forbidden, InvalidInput
from realname.domain.organisation import Role
from realname.domain.reviews import CaseDecision, CaseKind, CaseState
from tests.fakes import FixedClock, SequentialIds
from tests.integration.report_world import Stream
from tests.integration.test_attempt_limits import REVIEWER, make_deps

NIGHT = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)  # 02:30 at UTC+8
AUDITOR = Actor("staff:auditor-1", Role.AUDITOR, "HQ")


def detection(engine: sa.Engine, clock: FixedClock) -> AnomalyDetection:
    rules = (RegistrationBurst(), FaceMismatches(), OutsideOpeningHours(), NotMineByOutlet())
    return AnomalyDetection(AnomalyDeps(lambda: SqlReportsUnitOfWork(engine), clock, SequentialIds("case"), rules))


def audit_actions(engine: sa.Engine) -> list[str]:
    with SqlUnitOfWork(engine) as uow:
        return [e.action for e in uow.audit.events()]


def test_a_hit_opens_one_case_and_a_rerun_none(engine: sa.Engine) -> None:
    stream = Stream(engine)
    for i in range(3):
        stream.registration(NIGHT + timedelta(minutes=i), outlet="SH-001", clerk="staff:clerk-2")
    stream.registration(NIGHT - timedelta(hours=10))  # 16:30 local: open
    clock = FixedClock(NIGHT + timedelta(hours=1))
    first = detection(engine, clock).run(SYSTEM)
    assert [(h.rule, h.subject) for h in first.hits] == [("outside_opening_hours", "SH-001")]
    assert len(first.opened) == 1
    again = detection(engine, clock).run(SYSTEM)
    assert again.opened == () and again.already_flagged == 1
    assert audit_actions(engine).count("anomaly.flagged") == 1
    flagged = detection(engine, clock).flagged(AUDITOR)
    assert [(f.case_id, f.hit.rule, f.hit.figures["registrations"], f.case_state) for f in flagged] == [
        (first.opened[0], "outside_opening_hours", 3, "open")
    ]
    # The case is in the review queue; a reviewer dismisses it with a reason.
    review = Review(make_deps(engine, clock))
    pending = review.pending_cases(REVIEWER)
    assert [(c.id, c.kind) for c in pending] == [(first.opened[0], CaseKind.ANOMALY)]
    closed = review.decide_case(REVIEWER, first.opened[0], CaseDecision.REJECT, "late opening agreed")
    assert closed.state is CaseState.CLOSED
    assert detection(engine, clock).flagged(AUDITOR)[0].case_state == "closed"


def test_face_mismatches_for_different_ids_at_one_terminal_are_flagged_from_storage(engine: sa.Engine) -> None:
    stream = Stream(engine)
    at = datetime(2026, 11, 23, 3, 1, tzinfo=UTC)
    for i in range(4):
        stream.rejection(at + timedelta(minutes=i), ["face.mismatch"], terminal="kiosk-7", id_number=f"stolen-{i}")
    run = detection(engine, FixedClock(at + timedelta(hours=2))).run(SYSTEM)
    assert [(h.rule, h.scope, h.subject, h.outlet) for h in run.hits] == [
        ("face_mismatches", "terminal", "kiosk-7", "BJ-001")
    ]


def test_only_admins_run_detection_and_runs_are_bounded(engine: sa.Engine) -> None:
    use_case = detection(engine, FixedClock(NIGHT))
    with pytest.raises(Forbidden):
        use_case.run(AUDITOR)
    with pytest.raises(InvalidInput):
        use_case.run(SYSTEM, start=NIGHT - timedelta(days=40), end=NIGHT)
