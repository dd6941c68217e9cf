"""Rules about the holder and the period a document is valid: birth date, age, expiry, agreement of
printed or chip data with what the number encodes. Shared by every kind of document.

Each rule appends reason codes to the caller's list: a check reports every failure, not the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from realname.domain.identity.documents import FieldValue, LongTerm, Sex
from realname.domain.identity.icao import ICAO_COUNTRY_CODES
from realname.domain.identity.regions import RegionDirectory


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything a check needs besides the value itself. ``today`` comes from the caller's clock."""

    today: date
    regions: RegionDirectory
    min_age: int
    expiry: date | LongTerm | None = None
    issued: date | None = None
    printed_birth_date: date | None = None
    printed_sex: Sex | None = None
    country_codes: frozenset[str] = ICAO_COUNTRY_CODES


def parse_yyyymmdd(text: str) -> date | None:
    """The date written as 8 digits, or ``None`` when it is no real calendar date."""
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def age_in_years(birth_date: date, today: date) -> int:
    """Completed years; someone born on 29 February becomes a year older on 1 March in common years."""
    had_birthday = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if had_birthday else 1)


def check_holder(
    birth_date: date,
    sex: Sex | None,
    context: CheckContext,
    reasons: list[str],
    fields: dict[str, FieldValue],
) -> None:
    """Birth date not in the future, age at least ``min_age``, printed data agrees with the number."""
    fields["birth_date"] = birth_date.isoformat()
    if sex is not None:
        fields["sex"] = sex.value
    if birth_date > context.today:
        reasons.append("id.birth_date_future")
    else:
        age = age_in_years(birth_date, context.today)
        fields["age_years"] = age
        if age < context.min_age:
            reasons.append("id.underage")
    if context.printed_birth_date is not None and context.printed_birth_date != birth_date:
        reasons.append("id.mismatch.birth_date")
    if (
        context.printed_sex is not None
        and sex is not None
        and sex is not Sex.UNSPECIFIED
        and context.printed_sex is not sex
    ):
        reasons.append("id.mismatch.sex")


def check_validity_period(
    expiry: date | LongTerm | None,
    birth_date: date | None,
    context: CheckContext,
    reasons: list[str],
    fields: dict[str, FieldValue],
) -> None:
    """Not expired (the expiry day itself is still valid), issued in the past, after birth, before expiry."""
    issued = context.issued
    if isinstance(expiry, date):
        fields["expiry"] = expiry.isoformat()
        if expiry < context.today:
            reasons.append("id.expired")
    elif isinstance(expiry, LongTerm):
        fields["expiry"] = expiry.value
    if issued is None:
        return
    fields["issued"] = issued.isoformat()
    if issued > context.today:
        reasons.append("id.issue_date_future")
    if (isinstance(expiry, date) and expiry <= issued) or (birth_date is not None and issued < birth_date):
        reasons.append("id.validity_invalid")
