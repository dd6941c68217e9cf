"""The one entry point of document checks: detect the kind (when asked to) and apply its rules.

Pure: the caller passes today's date, the region directory and the minimum age. Transports (CLI,
HTTP, kiosk) call :func:`check_document` and turn the ``DocumentCheck`` into their own format.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from realname.domain.errors import InvalidInput
from realname.domain.identity.documents import (
    AUTO,
    DocumentCheck,
    DocumentKind,
    IdNumber,
    KindChoice,
    LongTerm,
    Sex,
)
from realname.domain.identity.icao import ICAO_COUNTRY_CODES
from realname.domain.identity.mrz import check_mrz
from realname.domain.identity.permits import check_hk_macau_permit, check_taiwan_permit
from realname.domain.identity.regions import RegionDirectory
from realname.domain.identity.resident_id import (
    RESIDENCE_PERMIT_REGIONS,
    check_foreign_permanent_number,
    check_resident_number,
)
from realname.domain.identity.validity import CheckContext

_HK_MACAU_SHAPE: Final = re.compile(r"[HM][0-9]{8}(?:[0-9]{2})?")
_OLD_FOREIGN_SHAPE: Final = re.compile(r"[A-Z]{3}[0-9]{12}")
_NUMERIC_ID_SHAPE: Final = re.compile(r"[0-9]{14,18}[0-9X]")


def detect_kind(value: str) -> DocumentKind:
    """The kind whose layout ``value`` has, or ``UNKNOWN``.

    Several lines or any ``<`` mean a machine-readable zone. 18-character numbers are told apart by
    their first characters (9: foreigner permanent residence; 81, 82, 83: residence permit); other
    numeric values of 15 to 19 characters are taken for a mistyped resident ID.
    """
    text = value.strip().upper()
    if "\n" in text or "<" in text:
        return DocumentKind.MRZ
    if _HK_MACAU_SHAPE.fullmatch(text):
        return DocumentKind.HK_MACAU_PERMIT
    if len(text) == 8 and text.isdigit():
        return DocumentKind.TAIWAN_PERMIT
    if _OLD_FOREIGN_SHAPE.fullmatch(text):
        return DocumentKind.CN_FOREIGN_PERMANENT
    if _NUMERIC_ID_SHAPE.fullmatch(text):
        if len(text) == 18 and text[0] == "9":
            return DocumentKind.CN_FOREIGN_PERMANENT
        if len(text) == 18 and text[:6] in RESIDENCE_PERMIT_REGIONS:
            return DocumentKind.CN_RESIDENCE_PERMIT
        return DocumentKind.CN_RESIDENT
    return DocumentKind.UNKNOWN


def check_document(
    value: str,
    *,
    kind: KindChoice = AUTO,
    today: date,
    regions: RegionDirectory,
    min_age: int,
    expiry: date | LongTerm | None = None,
    issued: date | None = None,
    printed_birth_date: date | None = None,
    printed_sex: Sex | None = None,
    country_codes: frozenset[str] = ICAO_COUNTRY_CODES,
) -> DocumentCheck:
    """Check one document and report every rule it fails.

    Args:
        value: the number as typed or read (lower-case ``x`` accepted), or the MRZ lines joined by
            newlines.
        kind: the document kind, or ``"auto"`` to detect it from ``value``.
        today: the caller's date; the domain has no clock.
        regions: the GB/T 2260 code table (current and retired codes).
        min_age: below this age the result carries ``id.underage`` (the guardian path).
        expiry: the printed expiry date, ``LONG_TERM`` for 长期, or ``None`` when unknown. For an MRZ the
            zone's own expiry is used and a differing ``expiry`` is reported as ``id.mismatch.expiry``.
        issued: the printed issue date, when known.
        printed_birth_date: birth date printed on the card or read from its chip, to compare.
        printed_sex: sex printed on the card or read from its chip, to compare.
        country_codes: the ICAO codes accepted for nationality and issuing state.

    Returns:
        A ``DocumentCheck``; ``valid`` is true exactly when no rule failed.
    """
    context = CheckContext(
        today=today,
        regions=regions,
        min_age=min_age,
        expiry=expiry,
        issued=issued,
        printed_birth_date=printed_birth_date,
        printed_sex=printed_sex,
        country_codes=country_codes,
    )
    chosen = detect_kind(value) if kind == AUTO else DocumentKind(kind)
    if chosen is DocumentKind.MRZ:
        return check_mrz(value, context)
    number = IdNumber.normalised(value)
    if chosen is DocumentKind.CN_RESIDENT or chosen is DocumentKind.CN_RESIDENCE_PERMIT:
        return check_resident_number(number, chosen, context)
    if chosen is DocumentKind.CN_FOREIGN_PERMANENT:
        return check_foreign_permanent_number(number, context)
    if chosen is DocumentKind.HK_MACAU_PERMIT:
        return check_hk_macau_permit(number, context)
    if chosen is DocumentKind.TAIWAN_PERMIT:
        return check_taiwan_permit(number, context)
    return DocumentCheck.of(DocumentKind.UNKNOWN, ["document.kind_unknown"], {})


class ValidityRequired(InvalidInput):
    """A document presented at a store without its validity (an end date, or long term): its expiry could not be
    checked. A machine-readable zone carries its own expiry and needs none."""

    code = "document.validity_required"


def require_validity(value: str, *, kind: KindChoice = AUTO, expiry: date | LongTerm | None) -> None:
    """Refuse a store document whose validity was not given: every ID card, permit and passport has one, and a
    document whose expiry is never checked could be an expired card.

    Raises:
        ValidityRequired: ``expiry`` is None and the document is not a machine-readable zone.
    """
    chosen = detect_kind(value) if kind == AUTO else DocumentKind(kind)
    if expiry is None and chosen is not DocumentKind.MRZ:
        raise ValidityRequired("the document's validity is required: its end date, or long term (长期)")
