"""Notices to a subscriber's other numbers when a number is registered, its SIM replaced or surrendered under
their ID, so that a stolen ID used at a store reaches its owner the same day.

A notice names the number by its last four digits, the outlet and the local date, and says how to report it;
it carries no other data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from realname.domain.numbers import Msisdn


class NoticeKind(enum.StrEnum):
    REGISTERED = "registered"
    SIM_REPLACED = "sim_replaced"
    SURRENDERED = "surrendered"


@dataclass(frozen=True, slots=True)
class Notice:
    """A text to one number (``to``); its repr masks the number."""

    to: Msisdn
    kind: NoticeKind
    text: str


def notice_text(kind: NoticeKind, about: Msisdn, outlet_name: str, day: date, how_to_report: str) -> str:
    ending = about.digits[-4:]
    what = {
        NoticeKind.REGISTERED: f"A number ending {ending} was registered under your ID",
        NoticeKind.SIM_REPLACED: f"The SIM card of the number ending {ending}, registered under your ID, was replaced",
        NoticeKind.SURRENDERED: f"The number ending {ending}, registered under your ID, was surrendered",
    }[kind]
    return f"{what} at {outlet_name} on {day.isoformat()}. Not you? {how_to_report}"
