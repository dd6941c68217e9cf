"""Phone numbers (MSISDNs), their lifecycle, bindings to subscribers, and the quota and cooling rules.

Lifecycle (DESIGN.md, "Number lifecycle")::

    AVAILABLE → RESERVED (TTL) → ACTIVE ⇄ SUSPENDED → CANCELLED/SURRENDERED → COOLING (90 d) → AVAILABLE

A reservation belongs to one attempt; an expired reservation may be taken by another attempt.
There is no transition that changes a number's owner: the owner surrenders, a new one registers.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from realname.domain.errors import Conflict, InvalidInput

_MSISDN = re.compile(r"^[1-9][0-9]{6,14}$")


@dataclass(frozen=True, slots=True)
class Msisdn:
    """A subscriber number in national format (digits only, 7–15 digits, no leading zero)."""

    digits: str

    def __post_init__(self) -> None:
        if not _MSISDN.fullmatch(self.digits):
            raise InvalidInput("a phone number is 7 to 15 digits without a leading zero", code="number.invalid")

    @classmethod
    def parse(cls, text: str) -> Msisdn:
        cleaned = text.strip().replace(" ", "").replace("-", "")
        if cleaned.startswith("+86"):
            cleaned = cleaned[3:]
        return cls(cleaned)

    @property
    def masked(self) -> str:
        """Shows the first three and last four digits, as receipts and self-service pages do."""
        keep_end = 4 if len(self.digits) > 8 else 2
        return self.digits[:3] + "*" * (len(self.digits) - 3 - keep_end) + self.digits[-keep_end:]

    def __str__(self) -> str:
        return self.digits

    def __repr__(self) -> str:
        return f"Msisdn({self.masked})"


class NumberState(enum.StrEnum):
    AVAILABLE = "available"
    RESERVED = "reserved"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    SURRENDERED = "surrendered"
    COOLING = "cooling"


ALLOWED_TRANSITIONS: frozenset[tuple[NumberState, NumberState]] = frozenset(
    {
        (NumberState.AVAILABLE, NumberState.RESERVED),
        (NumberState.AVAILABLE, NumberState.ACTIVE),
        (NumberState.RESERVED, NumberState.AVAILABLE),
        (NumberState.RESERVED, NumberState.RESERVED),
        (NumberState.RESERVED, NumberState.ACTIVE),
        (NumberState.ACTIVE, NumberState.SUSPENDED),
        (NumberState.SUSPENDED, NumberState.ACTIVE),
        (NumberState.ACTIVE, NumberState.SURRENDERED),
        (NumberState.ACTIVE, NumberState.CANCELLED),
        (NumberState.SUSPENDED, NumberState.SURRENDERED),
        (NumberState.SUSPENDED, NumberState.CANCELLED),
        (NumberState.SURRENDERED, NumberState.COOLING),
        (NumberState.CANCELLED, NumberState.COOLING),
        (NumberState.COOLING, NumberState.AVAILABLE),
    }
)

HELD_STATES: frozenset[NumberState] = frozenset({NumberState.ACTIVE, NumberState.SUSPENDED})
"""States in which a number is bound to a subscriber and counts toward the per-ID quota."""


class InvalidTransition(Conflict):
    code = "number.invalid_transition"


class NumberUnavailable(Conflict):
    code = "number.unavailable"


class QuotaExceeded(Conflict):
    code = "quota.exceeded"


@dataclass(slots=True)
class PhoneNumber:
    """A number in the operator's pool and where it stands in its lifecycle."""

    msisdn: Msisdn
    state: NumberState = NumberState.AVAILABLE
    reserved_by: str | None = None
    reserved_until: datetime | None = None
    cooling_until: datetime | None = None
    version: int = 0
    """The stored version this object was loaded at (optimistic concurrency; storage bumps it on save)."""

    def _move(self, target: NumberState) -> None:
        if (self.state, target) not in ALLOWED_TRANSITIONS:
            raise InvalidTransition(f"number {self.msisdn.masked} cannot go from {self.state.value} to {target.value}")
        self.state = target

    def is_free_for(self, attempt_id: str, now: datetime) -> bool:
        """Whether ``attempt_id`` may take this number now (available, or its own/expired reservation)."""
        if self.state is NumberState.AVAILABLE:
            return True
        if self.state is NumberState.RESERVED:
            expired = self.reserved_until is not None and self.reserved_until <= now
            return expired or self.reserved_by == attempt_id
        return False

    def reserve(self, attempt_id: str, now: datetime, ttl_seconds: int) -> None:
        if not self.is_free_for(attempt_id, now):
            raise NumberUnavailable(f"number {self.msisdn.masked} is not available")
        self._move(NumberState.RESERVED)
        self.reserved_by = attempt_id
        self.reserved_until = now + timedelta(seconds=ttl_seconds)

    def release(self, attempt_id: str) -> None:
        if self.state is not NumberState.RESERVED or self.reserved_by != attempt_id:
            raise InvalidTransition(f"number {self.msisdn.masked} is not reserved by this attempt")
        self._move(NumberState.AVAILABLE)
        self.reserved_by = None
        self.reserved_until = None

    def activate(self, attempt_id: str, now: datetime) -> None:
        """Assign the number to the subscriber of ``attempt_id`` (binding is recorded separately)."""
        if not self.is_free_for(attempt_id, now):
            raise NumberUnavailable(f"number {self.msisdn.masked} is not available")
        self._move(NumberState.ACTIVE)
        self.reserved_by = None
        self.reserved_until = None

    def suspend(self) -> None:
        self._move(NumberState.SUSPENDED)

    def reinstate(self) -> None:
        self._move(NumberState.ACTIVE)

    def surrender(self, now: datetime, cooling_off_days: int) -> None:
        self._move(NumberState.SURRENDERED)
        self._start_cooling(now, cooling_off_days)

    def cancel(self, now: datetime, cooling_off_days: int) -> None:
        self._move(NumberState.CANCELLED)
        self._start_cooling(now, cooling_off_days)

    def _start_cooling(self, now: datetime, cooling_off_days: int) -> None:
        self._move(NumberState.COOLING)
        self.cooling_until = now + timedelta(days=cooling_off_days)

    def recycle(self, now: datetime) -> None:
        """Return a cooled number to the pool once its cooling-off period is over."""
        if self.state is NumberState.COOLING and self.cooling_until is not None and now < self.cooling_until:
            raise InvalidTransition(f"number {self.msisdn.masked} is cooling off until {self.cooling_until:%Y-%m-%d}")
        self._move(NumberState.AVAILABLE)
        self.cooling_until = None


def check_quota(held_numbers: int, max_numbers_per_id: int) -> None:
    """Raise when one more number would exceed the per-ID limit."""
    if held_numbers >= max_numbers_per_id:
        raise QuotaExceeded(f"this ID already holds {held_numbers} numbers, the limit is {max_numbers_per_id}")


@dataclass(frozen=True, slots=True)
class Binding:
    """A number bound to a subscriber through a SIM; ended when the number leaves the subscriber."""

    id: str
    msisdn: Msisdn
    subscriber_id: str
    iccid: str
    outlet_code: str
    started_at: datetime
    ended_at: datetime | None = None
    end_reason: str | None = None
