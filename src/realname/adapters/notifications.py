"""Where one-time codes and notices go. No SMS gateway ships with realname: the console senders are for
development.

``ConsoleCodeSender`` writes the code and the masked number to the ``realname.codes`` log (stderr), so a
developer can sign in to the self-service page; outside ``dev``/``test`` it writes only that a code could
not be delivered. ``ConsoleNoticeSender`` writes subscriber notices (masked number, the notice's text) to the
``realname.notices`` log; outside ``dev``/``test`` it writes that a notice was not delivered. A production
deployment implements ``CodeSender`` and ``NoticeSender`` for its SMS gateway.
"""

from __future__ import annotations

import logging
from datetime import datetime

from realname.domain.notices import Notice
from realname.domain.numbers import Msisdn

log = logging.getLogger("realname.codes")
notice_log = logging.getLogger("realname.notices")


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


class ConsoleNoticeSender:
    def __init__(self, *, reveal_notices: bool) -> None:
        self._reveal = reveal_notices

    def send(self, notice: Notice) -> None:
        if self._reveal:
            notice_log.warning(
                "subscriber notice (development sender)",
                extra={"to": notice.to.masked, "kind": notice.kind.value, "text": notice.text},
            )
        else:
            notice_log.error(
                "no SMS gateway configured: a subscriber notice was not delivered",
                extra={"to": notice.to.masked, "kind": notice.kind.value},
            )
