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
    lockout_minutes: int,
) -> str | None:
    """A message when the ID or the device is locked now, else None.

    ``*_failures`` are the failure times within the counting window. The lock starts at the failure that
    reached ``max_failed`` and lasts ``lockout_minutes``.
    """
    for what, failures in (("this ID", id_failures), ("this terminal", device_failures)):
        if len(failures) >= max_failed:
            ordered = sorted(failures)
            locked_from = ordered[max_failed - 1]
            until = locked_from + timedelta(minutes=lockout_minutes)
            if now < until:
                return f"{what} is locked after {len(failures)} failed checks; try again after {until:%H:%M} UTC"
    return None
