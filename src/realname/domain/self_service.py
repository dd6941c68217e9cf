"""Self-service at home (一证通查): proving identity without a reference portrait.

A photo uploaded by the person being checked proves nothing, so at home the subscriber proves who
they are with the ID number, the name, and a one-time code sent to a number already registered under
that ID. The code is kept only as a keyed hash, expires after :data:`CODE_TTL_SECONDS` and allows
:data:`CODE_MAX_TRIES` tries. Sessions and code requests are rate-limited per device and per ID; failed
codes count against the device and the session, never against the ID (a stranger cannot lock it).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from realname.domain.errors import Conflict, Forbidden, TooManyRequests

CODE_DIGITS = 6
CODE_TTL_SECONDS = 300
CODE_MAX_TRIES = 5
SESSIONS_PER_DEVICE_PER_HOUR = 5
CODES_PER_ID_PER_HOUR = 3
CODES_PER_DEVICE_PER_HOUR = 5
RATE_WINDOW = timedelta(hours=1)


class SelfServicePortraitRefused(Forbidden):
    """A self-service attempt never takes a reference portrait (the caller would choose it)."""

    code = "self.portrait_refused"


class CodeExpired(Conflict):
    code = "self.code_expired"


class CodeExhausted(Conflict):
    code = "self.code_exhausted"


class CodeNotRequested(Conflict):
    code = "self.code_not_requested"


@dataclass(slots=True)
class OneTimeCode:
    """A code issued to a self-service attempt; ``code_hash`` is keyed (never the code)."""

    attempt_id: str
    code_hash: str
    issued_at: datetime
    expires_at: datetime
    tries_left: int = CODE_MAX_TRIES

    def require_usable(self, now: datetime) -> None:
        if now >= self.expires_at:
            raise CodeExpired("the code has expired; ask for a new one")
        if self.tries_left <= 0:
            raise CodeExhausted("too many wrong codes; ask for a new one")


def code_from_bytes(data: bytes) -> str:
    """A uniformly distributed (bias < 2^-40) code of :data:`CODE_DIGITS` digits from 8+ random bytes."""
    return f"{int.from_bytes(data, 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def normalise_name(name: str) -> str:
    """A name as compared: NFKC, case-folded, without spaces and the dots that separate name parts."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in folded if not c.isspace() and c not in "·•‧・.")


def refuse_if_throttled(
    times: Sequence[datetime], *, now: datetime, limit: int, window: timedelta, what: str, code: str
) -> None:
    """Raise :class:`TooManyRequests` when ``limit`` events of ``times`` fall within ``window`` before ``now``."""
    recent = sorted(t for t in times if now - window < t <= now)
    if len(recent) >= limit:
        retry_after = recent[len(recent) - limit] + window - now
        raise TooManyRequests(
            f"too many {what}; try again later", retry_after_seconds=math.ceil(retry_after.total_seconds()), code=code
        )
