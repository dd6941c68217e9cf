"""18-character numbers of GB 11643-1999 and the documents that share that layout.

Layout: 6-digit region code (GB/T 2260), 8-digit birth date, 3-digit sequence (odd for men, even for
women), check character by ISO 7064 MOD 11-2. The resident ID card uses a mainland region code; the
residence permit for Hong Kong, Macau and Taiwan residents uses 810000, 820000 or 830000; the 2023
foreigner permanent residence ID starts with 9, then the 2-digit province of the issuing authority and
a 3-digit nationality code, then birth date, sequence and check character as above.
"""

from __future__ import annotations

import re
from operator import mul
from typing import Final

from realname.domain.identity.documents import DocumentCheck, DocumentKind, FieldValue, IdNumber, Sex
from realname.domain.identity.validity import (
    CheckContext,
    check_holder,
    check_validity_period,
    parse_yyyymmdd,
)

MOD11_2_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
MOD11_2_CHECK_CHARS: Final = "10X98765432"

RESIDENCE_PERMIT_REGIONS: Final[dict[str, str]] = {
    "810000": "香港特别行政区",
    "820000": "澳门特别行政区",
    "830000": "台湾地区",
}

_EIGHTEEN: Final = re.compile(r"[0-9]{17}[0-9X]")
_OLD_FOREIGN_PERMANENT: Final = re.compile(r"[A-Z]{3}[0-9]{12}")


def mod11_2_check_char(body: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of ``body``."""
    total = sum(map(mul, MOD11_2_WEIGHTS, map(int, body[:17])))
    return MOD11_2_CHECK_CHARS[total % 11]


def _sex_from_sequence(digit: str) -> Sex:
    return Sex.MALE if int(digit) % 2 == 1 else Sex.FEMALE


def _check_holder_block(number: str, context: CheckContext, reasons: list[str], fields: dict[str, FieldValue]) -> None:
    """Birth date (characters 7-14), sequence parity, check character and validity period."""
    if number[17] != mod11_2_check_char(number):
        reasons.append("id.check_digit")
    birth_date = parse_yyyymmdd(number[6:14])
    if birth_date is None:
        reasons.append("id.birth_date_invalid")
        fields["sex"] = _sex_from_sequence(number[16]).value
    else:
        check_holder(birth_date, _sex_from_sequence(number[16]), context, reasons, fields)
    check_validity_period(context.expiry, birth_date, context, reasons, fields)


def check_resident_number(number: IdNumber, kind: DocumentKind, context: CheckContext) -> DocumentCheck:
    """Check a resident ID (``CN_RESIDENT``) or a Hong Kong/Macau/Taiwan residence permit number."""
    value = number.value
    fields: dict[str, FieldValue] = {"number_masked": number.masked}
    if _EIGHTEEN.fullmatch(value) is None:
        return DocumentCheck.of(kind, ["id.format"], fields)
    reasons: list[str] = []
    code = value[:6]
    fields["region_code"] = code
    if kind is DocumentKind.CN_RESIDENCE_PERMIT:
        permit_region = RESIDENCE_PERMIT_REGIONS.get(code)
        if permit_region is None:
            reasons.append("id.region_not_allowed")
        else:
            fields["region_name"] = permit_region
    elif code in RESIDENCE_PERMIT_REGIONS:
        reasons.append("id.region_not_allowed")
    else:
        region = context.regions.lookup(code)
        if region is None:
            reasons.append("id.region_unknown")
        else:
            fields["region_name"] = region.name
            fields["region_status"] = region.status.value
    _check_holder_block(value, context, reasons, fields)
    return DocumentCheck.of(kind, reasons, fields, number)


def check_foreign_permanent_number(number: IdNumber, context: CheckContext) -> DocumentCheck:
    """Check a foreigner permanent residence ID: the 2023 18-digit number, or the older 15 characters.

    The older format (3-letter nationality, 12 digits) has no check character we can verify: only its
    layout and nationality code are checked.
    """
    kind = DocumentKind.CN_FOREIGN_PERMANENT
    value = number.value
    fields: dict[str, FieldValue] = {"number_masked": number.masked}
    if len(value) == 15:
        if _OLD_FOREIGN_PERMANENT.fullmatch(value) is None:
            return DocumentCheck.of(kind, ["id.format"], fields)
        fields["format"] = "2004"
        fields["nationality"] = value[:3]
        reasons = [] if value[:3] in context.country_codes else ["id.nationality_unknown"]
        check_validity_period(context.expiry, None, context, reasons, fields)
        return DocumentCheck.of(kind, reasons, fields, number)
    if _EIGHTEEN.fullmatch(value) is None or value[0] != "9":
        return DocumentCheck.of(kind, ["id.format"], fields)
    fields["format"] = "2023"
    reasons = []
    province = value[1:3] + "0000"
    fields["region_code"] = province
    fields["nationality_numeric"] = value[3:6]
    region = context.regions.lookup(province)
    if region is None:
        reasons.append("id.region_unknown")
    else:
        fields["region_name"] = region.name
    _check_holder_block(value, context, reasons, fields)
    return DocumentCheck.of(kind, reasons, fields, number)
