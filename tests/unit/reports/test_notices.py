"""Notice texts, and the development sender that writes notices to the log (masked number, never the whole)."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from realname.adapters.notifications import ConsoleNoticeSender
from realname.domain.notices import Notice, NoticeKind, notice_text
from realname.domain.numbers import Msisdn

NUMBER = Msisdn("13900001234")


@pytest.mark.parametrize(
    ("kind", "start"),
    [
        (NoticeKind.REGISTERED, "A number ending 1234 was registered under your ID"),
        (NoticeKind.SIM_REPLACED, "The SIM card of the number ending 1234, registered under your ID, was replaced"),
        (NoticeKind.SURRENDERED, "The number ending 1234, registered under your ID, was surrendered"),
    ],
)
def test_a_notice_names_the_number_by_its_last_digits_the_outlet_and_the_day(kind: NoticeKind, start: str) -> None:
    text = notice_text(kind, NUMBER, "Beijing Xidan", date(2026, 11, 23), "Open /me.")
    assert text == f"{start} at Beijing Xidan on 2026-11-23. Not you? Open /me."
    assert "13900001234" not in text


def test_the_development_sender_logs_the_notice_with_a_masked_number(caplog: pytest.LogCaptureFixture) -> None:
    notice = Notice(
        Msisdn("13800000000"),
        NoticeKind.REGISTERED,
        notice_text(NoticeKind.REGISTERED, NUMBER, "X", date(2026, 1, 1), "?"),
    )
    with caplog.at_level(logging.INFO, logger="realname.notices"):
        ConsoleNoticeSender(reveal_notices=True).send(notice)
        ConsoleNoticeSender(reveal_notices=False).send(notice)
    development, production = caplog.records
    assert development.to == "138****0000" and development.text == notice.text  # type: ignore[attr-defined]
    assert "not delivered" in production.getMessage() and not hasattr(production, "text")
    assert "13800000000" not in caplog.text
