"""Number lifecycle, reservations, cooling-off and the quota rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from realname.domain.errors import InvalidInput
from realname.domain.numbers import (
    ALLOWED_TRANSITIONS,
    InvalidTransition,
    Msisdn,
    NumberState,
    NumberUnavailable,
    PhoneNumber,
    QuotaExceeded,
    check_quota,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
S = NumberState


def number_in(state: NumberState) -> PhoneNumber:
    number = PhoneNumber(Msisdn("13800138000"), state=state)
    if state is S.RESERVED:
        number.reserved_by, number.reserved_until = "attempt-1", NOW + timedelta(minutes=10)
    if state is S.COOLING:
        number.cooling_until = NOW - timedelta(days=1)
    return number


def drive(number: PhoneNumber, target: NumberState) -> None:
    """Ask the entity for the one operation that leads to ``target`` from its state."""
    operations: dict[NumberState, Callable[[], None]] = {
        S.RESERVED: lambda: number.reserve("attempt-1", NOW, 600),
        S.ACTIVE: lambda: (
            number.activate("attempt-1", NOW) if number.state in (S.AVAILABLE, S.RESERVED) else number.reinstate()
        ),
        S.AVAILABLE: lambda: number.release("attempt-1") if number.state is S.RESERVED else number.recycle(NOW),
        S.SUSPENDED: number.suspend,
        S.SURRENDERED: lambda: number.surrender(NOW, 90),
        S.CANCELLED: lambda: number.cancel(NOW, 90),
    }
    operations[target]()


@pytest.mark.parametrize(
    ("source", "target"),
    [(a, b) for a, b in product(NumberState, NumberState) if b is not S.COOLING],
    ids=lambda s: s.value,
)
def test_every_transition_is_allowed_or_refused_as_the_lifecycle_says(source: NumberState, target: NumberState) -> None:
    number = number_in(source)
    allowed = (source, target) in ALLOWED_TRANSITIONS
    if target in (S.SURRENDERED, S.CANCELLED):
        allowed = allowed and (target, S.COOLING) in ALLOWED_TRANSITIONS
    if allowed:
        drive(number, target)
        expected = S.COOLING if target in (S.SURRENDERED, S.CANCELLED) else target
        assert number.state is expected
    else:
        with pytest.raises((InvalidTransition, NumberUnavailable)):
            drive(number, target)
        assert number.state is source


def test_surrender_starts_the_cooling_off_clock() -> None:
    number = number_in(S.ACTIVE)
    number.surrender(NOW, 90)
    assert number.state is S.COOLING
    assert number.cooling_until == NOW + timedelta(days=90)


def test_cooling_number_cannot_be_recycled_before_its_time() -> None:
    number = number_in(S.ACTIVE)
    number.surrender(NOW, 90)
    with pytest.raises(InvalidTransition, match="cooling off"):
        number.recycle(NOW + timedelta(days=89))
    number.recycle(NOW + timedelta(days=90))
    assert number.state is S.AVAILABLE and number.cooling_until is None


def test_cooling_number_cannot_be_reserved_or_assigned() -> None:
    number = number_in(S.ACTIVE)
    number.cancel(NOW, 90)
    with pytest.raises(NumberUnavailable):
        number.reserve("attempt-2", NOW, 600)
    with pytest.raises(NumberUnavailable):
        number.activate("attempt-2", NOW)


def test_reservation_belongs_to_its_attempt_until_it_expires() -> None:
    number = number_in(S.AVAILABLE)
    number.reserve("attempt-1", NOW, 600)
    with pytest.raises(NumberUnavailable):
        number.activate("attempt-2", NOW + timedelta(seconds=599))
    with pytest.raises(InvalidTransition):
        number.release("attempt-2")
    number.activate("attempt-2", NOW + timedelta(seconds=600))
    assert number.state is S.ACTIVE and number.reserved_by is None


def test_own_reservation_can_be_activated() -> None:
    number = number_in(S.AVAILABLE)
    number.reserve("attempt-1", NOW, 600)
    number.activate("attempt-1", NOW + timedelta(seconds=10))
    assert number.state is S.ACTIVE


@pytest.mark.parametrize("held", [0, 1, 4])
def test_quota_allows_below_the_limit(held: int) -> None:
    check_quota(held, 5)


@pytest.mark.parametrize("held", [5, 6])
def test_rejects_sixth_number_for_same_id(held: int) -> None:
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(held, 5)
    assert caught.value.code == "quota.exceeded"


def test_msisdn_masks_itself_in_repr() -> None:
    msisdn = Msisdn.parse("+86 138-0013-8000")
    assert msisdn.digits == "13800138000"
    assert repr(msisdn) == "Msisdn(138****8000)"
    assert "13800138000" not in repr(number_in(S.AVAILABLE))


@pytest.mark.parametrize("text", ["", "0123456", "12345", "1380013800012345", "13800x38000"])
def test_msisdn_rejects_malformed_numbers(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        Msisdn.parse(text)
    assert caught.value.code == "number.invalid"
