"""Where the kiosk resumes a visit, derived from the attempt, its reservations and its review case."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from realname.app.visits import VisitStep, step_of
from realname.domain.attempts import Attempt, Outcome, Purpose
from realname.domain.numbers import Msisdn, PhoneNumber
from realname.domain.reviews import CaseKind, CaseState, ReviewCase
from realname.domain.subscribers import BlindIndex

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def attempt(purpose: Purpose = Purpose.REGISTER, *, upto: str = "started", outcome: Outcome | None = None) -> Attempt:
    made = Attempt.start("att-1", purpose, "BJ-001", "staff:c", "kiosk-1", NOW, 30)
    steps = ["document", "consent", "challenge", "decision"]
    for step in steps[: steps.index(upto) + 1] if upto in steps else []:
        if step == "document":
            made.record_document(valid=True, reasons=(), kind="cn_resident", id_index=BlindIndex("b" * 64), now=NOW)
        elif step == "consent":
            made.record_consent(accepted=True, version="v1", current_version="v1", now=NOW)
        elif step == "challenge":
            made.record_challenge(NOW)
        else:
            made.record_decision(outcome or Outcome.APPROVED, (), NOW)
    return made


def case(state: CaseState) -> ReviewCase:
    return ReviewCase("case-1", CaseKind.REQUESTED, state, NOW, attempt_id="att-1")


@pytest.mark.parametrize(
    ("made", "reserved", "review", "step"),
    [
        (attempt(), False, None, VisitStep.DOCUMENT),
        (attempt(upto="document"), False, None, VisitStep.DOCUMENT),
        (attempt(upto="consent"), False, None, VisitStep.FACE_CHECK),
        (attempt(upto="challenge"), False, None, VisitStep.FACE_CHECK),
        (attempt(upto="decision", outcome=Outcome.REJECTED), False, None, VisitStep.DECISION),
        (attempt(upto="decision", outcome=Outcome.REJECTED), False, case(CaseState.OPEN), VisitStep.REVIEW_WAIT),
        (attempt(upto="decision", outcome=Outcome.REJECTED), False, case(CaseState.CLOSED), VisitStep.DECISION),
        (attempt(upto="decision"), False, None, VisitStep.NUMBERS),
        (attempt(upto="decision"), True, None, VisitStep.SIM),
        (attempt(Purpose.SIM_REPLACEMENT, upto="decision"), False, None, VisitStep.SERVICE),
    ],
)
def test_the_step_follows_the_attempt(
    made: Attempt, reserved: bool, review: ReviewCase | None, step: VisitStep
) -> None:
    held = [PhoneNumber(Msisdn("13800138000"))] if reserved else []
    assert step_of(made, held, review) is step


def test_declined_consent_resumes_on_the_manual_path_even_with_its_case_open() -> None:
    made = attempt(upto="document")
    made.record_consent(accepted=False, version="v1", current_version="v1", now=NOW)
    assert step_of(made, [], case(CaseState.OPEN)) is VisitStep.MANUAL_REVIEW
