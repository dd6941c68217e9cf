"""Travel permits whose numbers carry no check character: only their layout and validity are checked.

- Mainland Travel Permit for Hong Kong and Macau Residents (Home Return Permit): ``H`` (Hong Kong) or
  ``M`` (Macau) and 8 digits, optionally followed by the 2-digit renewal count printed on the card.
- Mainland Travel Permit for Taiwan Residents: 8 digits.
"""

from __future__ import annotations

import re
from typing import Final

from realname.domain.identity.documents import DocumentCheck, DocumentKind, FieldValue, IdNumber
from realname.domain.identity.validity import CheckContext, check_holder, check_validity_period

_HK_MACAU: Final = re.compile(r"([HM])([0-9]{8})([0-9]{2})?")
_TAIWAN: Final = re.compile(r"[0-9]{8}")


def _check_printed_holder(context: CheckContext, reasons: list[str], fields: dict[str, FieldValue]) -> None:
    """The number encodes no birth date: age is checked from the printed one when it is given."""
    if context.printed_birth_date is not None:
        check_holder(context.printed_birth_date, context.printed_sex, context, reasons, fields)


def check_hk_macau_permit(number: IdNumber, context: CheckContext) -> DocumentCheck:
    kind = DocumentKind.HK_MACAU_PERMIT
    fields: dict[str, FieldValue] = {"number_masked": number.masked}
    match = _HK_MACAU.fullmatch(number.value)
    if match is None:
        return DocumentCheck.of(kind, ["id.format"], fields)
    fields["issuer"] = "hong_kong" if match.group(1) == "H" else "macau"
    renewals = match.group(3)
    fields["renewal_count"] = int(renewals) if renewals is not None else None
    reasons: list[str] = []
    _check_printed_holder(context, reasons, fields)
    check_validity_period(context.expiry, context.printed_birth_date, context, reasons, fields)
    return DocumentCheck.of(kind, reasons, fields, IdNumber(match.group(1) + match.group(2)))


def check_taiwan_permit(number: IdNumber, context: CheckContext) -> DocumentCheck:
    kind = DocumentKind.TAIWAN_PERMIT
    fields: dict[str, FieldValue] = {"number_masked": number.masked}
    if _TAIWAN.fullmatch(number.value) is None:
        return DocumentCheck.of(kind, ["id.format"], fields)
    reasons: list[str] = []
    _check_printed_holder(context, reasons, fields)
    check_validity_period(context.expiry, context.printed_birth_date, context, reasons, fields)
    return DocumentCheck.of(kind, reasons, fields, number)
