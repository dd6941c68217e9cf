"""The attempt state machine, lock-outs, ICCIDs, review four-eyes and the pinned consent text."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from realname.domain.attempts import (
    Attempt,
    AttemptExpired,
    AttemptState,
    AttemptStateError,
    Outcome,
    Purpose,
    ReasonCategory,
    categorise,
)
from realname.domain.consent import CONSENT_TEXT, CONSENT_TEXTS, CONSENT_VERSION, consent_in, current_consent
from realname.domain.errors import Conflict, Forbidden, InvalidInput
from realname.domain.lockout import lockout_reason
from realname.domain.reviews import CaseDecision, CaseKind, CaseState, ReviewCase
from realname.domain.sim import Iccid
from realname.domain.subscribers import BlindIndex

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
INDEX = BlindIndex("a" * 64)

# The consent text as published for each version. Changing the text without adding a new version here
# (and bumping CONSENT_VERSION) fails this test: people consented to exactly these words.
PUBLISHED_CONSENT_SHA256 = {
    "2026-11-v1": "fd5eff213f0f9aadbedc2be725324d2d0c6e4b9b91b41e4d00543d4036308559",
    "2026-12-zh-CN-v1": "685b5af5897f3e54bacd706c3ed848d1184d2aab7dcb7bc9b7d27add7b86b0ee",
}


def fresh(now: datetime = T0) -> Attempt:
    return Attempt.start("att-1", Purpose.REGISTER, "BJ-001", "staff:1", "kiosk-1", now, 30)


def to_challenged(attempt: Attempt) -> Attempt:
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=INDEX, now=T0)
    attempt.record_consent(accepted=True, version="v1", current_version="v1", now=T0)
    attempt.record_challenge(T0)
    return attempt


def test_happy_path_reaches_completed() -> None:
    attempt = to_challenged(fresh())
    attempt.record_decision(Outcome.APPROVED, (), T0)
    attempt.complete(T0, "13800138000")
    assert attempt.state is AttemptState.COMPLETED
    assert [s for s, _ in attempt.history] == [
        AttemptState.DOCUMENT_CHECKED,
        AttemptState.CONSENTED,
        AttemptState.CHALLENGED,
        AttemptState.VERIFIED,
        AttemptState.COMPLETED,
    ]


def test_invalid_document_keeps_the_attempt_at_the_start() -> None:
    attempt = fresh()
    attempt.record_document(valid=False, reasons=("id.check_digit",), kind="cn_resident", id_index=None, now=T0)
    assert attempt.state is AttemptState.STARTED and attempt.category is ReasonCategory.DOCUMENT


def test_no_challenge_without_consent() -> None:
    attempt = fresh()
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=INDEX, now=T0)
    with pytest.raises(AttemptStateError):
        attempt.record_challenge(T0)


def test_outdated_consent_version_is_refused() -> None:
    attempt = fresh()
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=INDEX, now=T0)
    with pytest.raises(InvalidInput) as caught:
        attempt.record_consent(accepted=True, version="v0", current_version="v1", now=T0)
    assert caught.value.code == "consent.version_outdated"


def test_declined_consent_goes_to_manual_review_and_can_be_approved_there() -> None:
    attempt = fresh()
    attempt.record_document(valid=True, reasons=(), kind="cn_resident", id_index=INDEX, now=T0)
    attempt.record_consent(accepted=False, version="v1", current_version="v1", now=T0)
    assert attempt.state is AttemptState.MANUAL_REVIEW
    attempt.approve_by_review(T0)
    attempt.require_approved(T0)


def test_rejected_verification_cannot_complete_but_may_retry() -> None:
    attempt = to_challenged(fresh())
    attempt.record_decision(Outcome.REJECTED, ("liveness.spoof_suspected",), T0)
    with pytest.raises(AttemptStateError):
        attempt.complete(T0)
    attempt.record_challenge(T0)
    assert attempt.state is AttemptState.CHALLENGED


def test_expired_attempt_refuses_every_step() -> None:
    attempt = fresh()
    with pytest.raises(AttemptExpired):
        attempt.record_document(
            valid=True, reasons=(), kind="cn_resident", id_index=INDEX, now=T0 + timedelta(minutes=30)
        )
    assert attempt.state is AttemptState.EXPIRED


def test_abandoned_attempt_is_final() -> None:
    attempt = fresh()
    attempt.abandon(T0)
    with pytest.raises(AttemptStateError):
        attempt.abandon(T0)


@pytest.mark.parametrize(
    ("reasons", "category"),
    [
        (("liveness.spoof_suspected", "face.mismatch"), ReasonCategory.SPOOF),
        (("face.mismatch",), ReasonCategory.FACE_MISMATCH),
        (("face.blurred",), ReasonCategory.CAPTURE_QUALITY),
        (("liveness.action_missing",), ReasonCategory.LIVENESS),
        (("lockout.active", "face.mismatch"), ReasonCategory.LOCKED),
        (("quota.exceeded",), ReasonCategory.POLICY),
        ((), None),
    ],
)
def test_clerks_see_one_category(reasons: tuple[str, ...], category: ReasonCategory | None) -> None:
    assert categorise(reasons) is category


def test_fifth_failure_locks_the_id_for_the_lockout_period() -> None:
    failures = [T0 + timedelta(minutes=i) for i in range(5)]

    def locked(failures: list[datetime], minutes: float) -> bool:
        reason = lockout_reason(
            id_failures=failures,
            device_failures=(),
            now=T0 + timedelta(minutes=minutes),
            max_failed=5,
            window_minutes=30,
            lockout_minutes=60,
        )
        return reason is not None

    assert not locked(failures[:4], 5)
    assert locked(failures, 5)
    assert locked(failures, 63.99)
    assert not locked(failures, 64)


def test_failures_spread_wider_than_the_window_do_not_lock() -> None:
    spread = [T0 + timedelta(minutes=10 * i) for i in range(5)]  # 40 minutes from first to fifth
    now = spread[-1]
    assert (
        lockout_reason(
            id_failures=spread, device_failures=(), now=now, max_failed=5, window_minutes=30, lockout_minutes=60
        )
        is None
    )
    assert (
        lockout_reason(
            id_failures=spread, device_failures=(), now=now, max_failed=5, window_minutes=40, lockout_minutes=60
        )
        is not None
    )


def test_a_later_run_of_failures_locks_even_after_an_earlier_lone_failure() -> None:
    failures = [T0] + [T0 + timedelta(minutes=100 + i) for i in range(5)]
    reason = lockout_reason(
        id_failures=failures,
        device_failures=(),
        now=T0 + timedelta(minutes=104),
        max_failed=5,
        window_minutes=30,
        lockout_minutes=60,
    )
    assert reason is not None


def test_terminal_is_locked_too() -> None:
    failures = [T0] * 5
    reason = lockout_reason(
        id_failures=(), device_failures=failures, now=T0, max_failed=5, window_minutes=30, lockout_minutes=60
    )
    assert reason is not None and "terminal" in reason


@pytest.mark.parametrize(
    ("text", "code"),
    [("8986001234567890123", "iccid.check_digit"), ("123", "iccid.format"), ("12860012345678901238", "iccid.format")],
)
def test_bad_iccids_are_refused(text: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Iccid.parse(text)
    assert caught.value.code == code


def test_iccid_masks_itself() -> None:
    iccid = Iccid.parse("8986 0012 3456 7890 1238")
    assert repr(iccid) == "Iccid(898600**********1238)"


def case(kind: CaseKind = CaseKind.NOT_MINE) -> ReviewCase:
    return ReviewCase("c1", kind, CaseState.OPEN, T0)


def test_override_needs_a_second_different_reviewer() -> None:
    review = case()
    assert review.decide("staff:r1", CaseDecision.REINSTATE, "called the owner", T0) is False
    with pytest.raises(Forbidden):
        review.decide("staff:r1", CaseDecision.REINSTATE, "again", T0)
    assert review.decide("staff:r2", CaseDecision.REINSTATE, "confirmed", T0) is True
    assert review.state is CaseState.CLOSED and review.decided_by == "staff:r2"
    assert review.decision is CaseDecision.REINSTATE
    with pytest.raises(Conflict):
        review.decide("staff:r3", CaseDecision.SUSPEND_CONFIRMED, "too late", T0)


@pytest.mark.parametrize(
    ("kind", "override", "keep"),
    [
        (CaseKind.NOT_MINE, CaseDecision.REINSTATE, CaseDecision.SUSPEND_CONFIRMED),
        (CaseKind.MANUAL_PATH, CaseDecision.APPROVE, CaseDecision.REJECT),
        (CaseKind.BORDERLINE, CaseDecision.APPROVE, CaseDecision.REJECT),
    ],
)
def test_a_second_reviewer_who_disagrees_ends_the_case_with_the_outcome_kept(
    kind: CaseKind, override: CaseDecision, keep: CaseDecision
) -> None:
    review = case(kind)
    assert review.decide("staff:r1", override, "I would override", T0) is False
    assert review.decide("staff:r2", keep, "I would not", T0) is True
    assert review.state is CaseState.OVERRULED and review.decided_by == "staff:r2"
    assert review.decision is keep and review.proposed_decision is override and review.proposed_by == "staff:r1"
    # Ended: nobody can confirm the refused override afterwards.
    with pytest.raises(Conflict) as caught:
        review.decide("staff:r3", override, "but I agree with r1", T0)
    assert caught.value.code == "review.closed"


def test_non_override_closes_at_once_and_needs_a_reason() -> None:
    review = case(CaseKind.BORDERLINE)
    with pytest.raises(InvalidInput):
        review.decide("staff:r1", CaseDecision.REJECT, "  ", T0)
    assert review.decide("staff:r1", CaseDecision.REJECT, "photo too old", T0) is True


@pytest.mark.parametrize("language", sorted(CONSENT_TEXTS))
def test_each_languages_consent_text_is_pinned_to_its_version(language: str) -> None:
    shown = CONSENT_TEXTS[language]
    digest = hashlib.sha256(shown.text.encode("utf-8")).hexdigest()
    assert shown.version in PUBLISHED_CONSENT_SHA256, "a new consent version must be published here"
    assert PUBLISHED_CONSENT_SHA256[shown.version] == digest, "consent text changed: give it a new version"
    assert shown.sha256 == digest


def test_consent_is_chinese_by_default_and_english_on_request() -> None:
    assert CONSENT_TEXTS["zh-CN"].version == CONSENT_VERSION and "人脸识别" in CONSENT_TEXT
    assert consent_in(None).language == "zh-CN" and consent_in("fr").language == "zh-CN"
    assert consent_in("en").language == "en" and consent_in("en-GB").language == "en"
    assert consent_in("zh").language == "zh-CN" and consent_in("ZH-cn").language == "zh-CN"
    assert current_consent(CONSENT_TEXTS["en"].version).language == "en"
    assert current_consent("2020-01-v0").language == "zh-CN"  # not current: the caller refuses it


@pytest.mark.parametrize("device_id", ["11010519491231002X", "kiosk-13800138000", "bad id", ""])
def test_device_ids_that_could_carry_personal_data_are_refused(device_id: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Attempt.start("a", Purpose.REGISTER, "BJ-001", "staff:1", device_id, T0, 30)
    assert caught.value.code == "attempt.device_invalid"
