"""Sign-ins this worker found usable a moment ago, so that a staff request does not open a transaction of its own
before the use case opens one (on SQLite each takes the write lock).

Only a usable state is kept (member active, no password change due, not idle), keyed by the sign-in, for
``ttl_seconds`` of the service clock; a refusal is never kept, so every refusal is read from the database. A member
disabled or reset on this worker is forgotten at once (:meth:`RecentSignIns.forget_member`); a change made elsewhere (the
``realname staff`` CLI, another worker or host) reaches this worker within ``ttl_seconds``. Nothing is served from
here once it is older than that, so a database that fails fails the next check (closed), not later ones.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

MAX_SIGN_INS = 10_000
"""More recent sign-ins than this (far more than a worker's clerks) and the stale ones are dropped."""


class RecentSignIns:
    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = timedelta(seconds=ttl_seconds)
        self._lock = threading.Lock()
        self._checked: dict[str, tuple[str, datetime]] = {}
        """sign-in key → (staff id, when the database last found it usable)"""

    @property
    def ttl_seconds(self) -> float:
        return self._ttl.total_seconds()

    def usable(self, key: str, now: datetime) -> bool:
        """Whether the sign-in ``key`` was found usable less than ``ttl_seconds`` before ``now``."""
        with self._lock:
            found = self._checked.get(key)
        return found is not None and timedelta(0) <= now - found[1] < self._ttl

    def remember(self, staff_id: str, key: str, now: datetime) -> None:
        """The database found the sign-in ``key`` of ``staff_id`` usable at ``now``."""
        if not self._ttl:
            return
        with self._lock:
            if len(self._checked) >= MAX_SIGN_INS:
                self._checked = {k: v for k, v in self._checked.items() if timedelta(0) <= now - v[1] < self._ttl}
            self._checked[key] = (staff_id, now)

    def forget_member(self, staff_id: str) -> None:
        """Every sign-in of ``staff_id``: its next request is checked in the database (disabled, reset)."""
        with self._lock:
            self._checked = {k: v for k, v in self._checked.items() if v[0] != staff_id}
