"""SIM cards, identified by their ICCID (ITU-T E.118: 19–20 digits, Luhn check digit, prefix 89)."""

from __future__ import annotations

from dataclasses import dataclass

from realname.domain.errors import InvalidInput


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass(frozen=True, slots=True)
class Iccid:
    digits: str

    def __post_init__(self) -> None:
        if not (self.digits.isdigit() and 19 <= len(self.digits) <= 20):
            raise InvalidInput("an ICCID is 19 or 20 digits", code="iccid.format")
        if not self.digits.startswith("89"):
            raise InvalidInput("an ICCID starts with 89 (telecom)", code="iccid.format")
        if not luhn_valid(self.digits):
            raise InvalidInput("the ICCID's check digit is wrong; scan or type it again", code="iccid.check_digit")

    @classmethod
    def parse(cls, text: str) -> Iccid:
        return cls(text.strip().replace(" ", "").replace("-", ""))

    @property
    def masked(self) -> str:
        return self.digits[:6] + "*" * (len(self.digits) - 10) + self.digits[-4:]

    def __repr__(self) -> str:
        return f"Iccid({self.masked})"
