"""Machine-readable zones of passports and ID cards (ICAO Doc 9303 parts 4, 5 and 6).

TD3 (2 lines of 44), TD2 (2 lines of 36) and TD1 (3 lines of 30). Every check digit is verified with
weights 7-3-1 where ``<`` counts 0, digits their value and A-Z 10-35. In TD1 and TD2 a document
number longer than 9 characters continues in the optional data (its check digit is then ``<`` and the
real one ends the continuation), as Doc 9303 allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from itertools import cycle
from operator import mul
from typing import Final

from realname.domain.identity.documents import (
    DocumentCheck,
    DocumentKind,
    FieldValue,
    IdNumber,
    LongTerm,
    Sex,
)
from realname.domain.identity.validity import CheckContext, check_holder, check_validity_period

_CHAR_VALUES: Final[dict[str, int]] = {
    "<": 0,
    **{str(digit): digit for digit in range(10)},
    **{chr(ord("A") + offset): 10 + offset for offset in range(26)},
}
_WEIGHTS: Final = (7, 3, 1)
_LINE: Final = re.compile(r"[A-Z0-9<]+")
_SEX: Final[dict[str, Sex]] = {"M": Sex.MALE, "F": Sex.FEMALE, "<": Sex.UNSPECIFIED, "X": Sex.UNSPECIFIED}

# Expiry years more than this far ahead are read as the previous century (no document lasts 50 years).
_EXPIRY_HORIZON_YEARS: Final = 50


def check_digit(field: str) -> int:
    """The ICAO 9303 check digit of ``field``; raises ``KeyError`` on a character outside A-Z 0-9 <."""
    total: int = sum(map(mul, map(_CHAR_VALUES.__getitem__, field), cycle(_WEIGHTS)))
    return total % 10


def _digit_matches(field: str, written: str, *, filler_allowed: bool = False) -> bool:
    """``written`` is the check digit of ``field``; ``<`` stands for 0 only where ``filler_allowed``."""
    if written == "<":
        return filler_allowed and check_digit(field) == 0
    return written.isdigit() and int(written) == check_digit(field)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where the fields of one MRZ format sit, as slices of the lines joined into one string."""

    name: str
    line_count: int
    line_length: int
    document_code: slice
    issuing_state: slice
    document_number: slice
    document_number_check: int
    optional_data: slice
    nationality: slice
    birth_date: slice
    birth_date_check: int
    sex: int
    expiry: slice
    expiry_check: int
    optional_check: int | None
    composite_ranges: tuple[slice, ...]
    composite_check: int
    names: slice


def _line(index: int, width: int, start: int, stop: int) -> slice:
    return slice(index * width + start, index * width + stop)


TD1: Final = _Layout(
    name="TD1",
    line_count=3,
    line_length=30,
    document_code=_line(0, 30, 0, 2),
    issuing_state=_line(0, 30, 2, 5),
    document_number=_line(0, 30, 5, 14),
    document_number_check=14,
    optional_data=_line(0, 30, 15, 30),
    nationality=_line(1, 30, 15, 18),
    birth_date=_line(1, 30, 0, 6),
    birth_date_check=36,
    sex=37,
    expiry=_line(1, 30, 8, 14),
    expiry_check=44,
    optional_check=None,
    composite_ranges=(_line(0, 30, 5, 30), _line(1, 30, 0, 7), _line(1, 30, 8, 15), _line(1, 30, 18, 29)),
    composite_check=59,
    names=_line(2, 30, 0, 30),
)
TD2: Final = _Layout(
    name="TD2",
    line_count=2,
    line_length=36,
    document_code=_line(0, 36, 0, 2),
    issuing_state=_line(0, 36, 2, 5),
    document_number=_line(1, 36, 0, 9),
    document_number_check=45,
    optional_data=_line(1, 36, 28, 35),
    nationality=_line(1, 36, 10, 13),
    birth_date=_line(1, 36, 13, 19),
    birth_date_check=55,
    sex=56,
    expiry=_line(1, 36, 21, 27),
    expiry_check=63,
    optional_check=None,
    composite_ranges=(_line(1, 36, 0, 10), _line(1, 36, 13, 20), _line(1, 36, 21, 35)),
    composite_check=71,
    names=_line(0, 36, 5, 36),
)
TD3: Final = _Layout(
    name="TD3",
    line_count=2,
    line_length=44,
    document_code=_line(0, 44, 0, 2),
    issuing_state=_line(0, 44, 2, 5),
    document_number=_line(1, 44, 0, 9),
    document_number_check=53,
    optional_data=_line(1, 44, 28, 42),
    nationality=_line(1, 44, 10, 13),
    birth_date=_line(1, 44, 13, 19),
    birth_date_check=63,
    sex=64,
    expiry=_line(1, 44, 21, 27),
    expiry_check=71,
    optional_check=86,
    composite_ranges=(_line(1, 44, 0, 10), _line(1, 44, 13, 20), _line(1, 44, 21, 43)),
    composite_check=87,
    names=_line(0, 44, 5, 44),
)
_LAYOUTS: Final = {(layout.line_count, layout.line_length): layout for layout in (TD1, TD2, TD3)}


def split_lines(value: str) -> list[str]:
    """The zone's lines, upper-cased, without surrounding blanks or empty lines."""
    return [line.strip().upper() for line in value.splitlines() if line.strip()]


def _yymmdd(text: str, century_of: int) -> date | None:
    if len(text) != 6 or not text.isdigit():
        return None
    try:
        return date(century_of + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def _birth_date(text: str, today: date) -> date | None:
    """Two-digit years: the latest century that does not put the birth after today."""
    this_century = today.year // 100 * 100
    found = _yymmdd(text, this_century)
    if found is not None and found > today:
        return _yymmdd(text, this_century - 100)
    return found


def _expiry_date(text: str, today: date) -> date | None:
    this_century = today.year // 100 * 100
    found = _yymmdd(text, this_century)
    if found is not None and found.year > today.year + _EXPIRY_HORIZON_YEARS:
        return _yymmdd(text, this_century - 100)
    return found


def _document_number(zone: str, layout: _Layout) -> tuple[str, str]:
    """The full document number and its written check digit, following a TD1/TD2 continuation."""
    number = zone[layout.document_number]
    written = zone[layout.document_number_check]
    if written == "<" and layout.optional_check is None:
        continuation = zone[layout.optional_data].split("<", 1)[0]
        if continuation:
            return number + continuation[:-1], continuation[-1]
    return number, written


def _names(text: str) -> tuple[str, str]:
    primary, _, secondary = text.partition("<<")
    return primary.replace("<", " ").strip(), secondary.replace("<", " ").strip()


def check_mrz(value: str, context: CheckContext) -> DocumentCheck:
    """Check a machine-readable zone given as its lines joined by newlines."""
    kind = DocumentKind.MRZ
    lines = split_lines(value)
    fields: dict[str, FieldValue] = {}
    layout = _LAYOUTS.get((len(lines), len(lines[0]) if lines else 0))
    if layout is None or any(len(line) != layout.line_length or _LINE.fullmatch(line) is None for line in lines):
        return DocumentCheck.of(kind, ["mrz.format"], fields)
    zone = "".join(lines)
    reasons: list[str] = []
    fields["format"] = layout.name
    fields["document_code"] = zone[layout.document_code].replace("<", "")

    number, number_check = _document_number(zone, layout)
    document_number = IdNumber(number.replace("<", ""))
    fields["document_number_masked"] = document_number.masked
    if not _digit_matches(number, number_check):
        reasons.append("mrz.check_digit.document_number")

    issuing_state = zone[layout.issuing_state].replace("<", "")
    nationality = zone[layout.nationality].replace("<", "")
    fields["issuing_state"] = issuing_state
    fields["nationality"] = nationality
    if issuing_state not in context.country_codes or nationality not in context.country_codes:
        reasons.append("mrz.country_unknown")

    surname, given_names = _names(zone[layout.names])
    fields["surname"] = surname
    fields["given_names"] = given_names

    birth_text = zone[layout.birth_date]
    if not _digit_matches(birth_text, zone[layout.birth_date_check]):
        reasons.append("mrz.check_digit.birth_date")
    sex = _SEX.get(zone[layout.sex])
    if sex is None:
        reasons.append("mrz.sex_invalid")
    birth_date = _birth_date(birth_text, context.today)
    if birth_date is None:
        reasons.append("id.birth_date_invalid")
    else:
        check_holder(birth_date, sex, context, reasons, fields)

    expiry_text = zone[layout.expiry]
    if not _digit_matches(expiry_text, zone[layout.expiry_check]):
        reasons.append("mrz.check_digit.expiry")
    expiry = _expiry_date(expiry_text, context.today)
    if expiry is None:
        reasons.append("mrz.expiry_invalid")
    given_expiry = context.expiry
    if isinstance(given_expiry, LongTerm) or (
        isinstance(given_expiry, date) and expiry is not None and given_expiry != expiry
    ):
        reasons.append("id.mismatch.expiry")
    check_validity_period(expiry, birth_date, context, reasons, fields)

    if layout.optional_check is not None:
        optional = zone[layout.optional_data]
        empty = optional == "<" * len(optional)
        if not _digit_matches(optional, zone[layout.optional_check], filler_allowed=empty):
            reasons.append("mrz.check_digit.optional")
    composite = "".join(zone[part] for part in layout.composite_ranges)
    if not _digit_matches(composite, zone[layout.composite_check]):
        reasons.append("mrz.check_digit.composite")
    return DocumentCheck.of(kind, reasons, fields, document_number)
