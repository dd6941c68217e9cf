"""Where one-time codes go. No SMS gateway ships with realname: the console sender is for development.

``ConsoleCodeSender`` writes the code and the masked number to the ``realname.codes`` log (stderr), so a
developer can sign in to the self-service page; outside ``dev``/``test`` it writes only that a code could
not be delivered. A production deployment implements ``CodeSender`` for its SMS gateway.
"""

from __future__ import annotations

import logging
from datetime import datetime

from realname.domain.numbers import Msisdn

log = logging.getLogger("realname.codes")


class ConsoleCodeSender:
    def __init__(self, *, reveal_codes: bool) -> None:
        self._reveal = reveal_codes

    def send(self, msisdn: Msisdn, code: str, expires_at: datetime) -> None:
        if self._reveal:
            log.warning(
                "one-time code (development sender)",
                extra={"to": msisdn.masked, "code": code, "expires_at": expires_at.isoformat(timespec="seconds")},
            )
        else:
            log.error("no SMS gateway configured: a one-time code was not delivered", extra={"to": msisdn.masked})
