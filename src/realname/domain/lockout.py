"""Lock-outs: after too many failed face or liveness checks in a window, an ID or a device is locked.

Stops an impostor from trying face after face (or clip after clip) against a stolen ID card, and a
terminal from being used to probe the matcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from realname.domain.errors import Conflict


class LockedOut(Conflict):
    code = "lockout.active"


def lockout_reason(
    *,
    id_failures: Sequence[datetime],
    device_failures: Sequence[datetime],
    now: datetime,
    max_failed: int,
    window_minutes: int,
    lockout_minutes: int,
) -> str | None:
    """A message when the ID or the device is locked now, else None.

    ``*_failures`` are failure times from at least ``window_minutes + lockout_minutes`` back. A lock starts
    at any failure that completes ``max_failed`` failures within ``window_minutes`` and lasts
    ``lockout_minutes`` from there, so it holds its full length after its failures have aged out of the
    window, while failures spread wider than the window never add up to one.
    """
    window = timedelta(minutes=window_minutes)
    lock = timedelta(minutes=lockout_minutes)
    for what, failures in (("this ID", id_failures), ("this terminal", device_failures)):
        ordered = sorted(failures)
        for last in range(max_failed - 1, len(ordered)):
            locked_from = ordered[last]
            if locked_from - ordered[last - max_failed + 1] <= window and locked_from <= now < locked_from + lock:
                until = locked_from + lock
                return f"{what} is locked after {max_failed} failed checks; try again after {until:%H:%M} UTC"
    return None


def lockout_periods(
    failures: Sequence[datetime], *, max_failed: int, window_minutes: int, lockout_minutes: int
) -> list[tuple[datetime, datetime]]:
    """Every lock-out the failure times caused, as (from, until), merged where they overlap, oldest first."""
    window = timedelta(minutes=window_minutes)
    lock = timedelta(minutes=lockout_minutes)
    ordered = sorted(failures)
    periods: list[tuple[datetime, datetime]] = []
    for last in range(max_failed - 1, len(ordered)):
        start = ordered[last]
        if start - ordered[last - max_failed + 1] > window:
            continue
        if periods and start <= periods[-1][1]:
            periods[-1] = (periods[-1][0], max(periods[-1][1], start + lock))
        else:
            periods.append((start, start + lock))
    return periods
