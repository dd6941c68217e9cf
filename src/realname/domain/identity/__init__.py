"""Identity documents: numbers, machine-readable zones and the rules a store applies before anything else.

The public surface is :func:`check_document` and the values it takes and returns.
"""

from __future__ import annotations

from realname.domain.identity.document_check import check_document, detect_kind
from realname.domain.identity.documents import (
    AUTO,
    LONG_TERM,
    REASONS,
    DocumentCheck,
    DocumentKind,
    IdNumber,
    KindChoice,
    LongTerm,
    Sex,
    parse_kind_choice,
)
from realname.domain.identity.icao import ICAO_COUNTRY_CODES
from realname.domain.identity.regions import Region, RegionDirectory, RegionStatus

__all__ = [
    "AUTO",
    "ICAO_COUNTRY_CODES",
    "LONG_TERM",
    "REASONS",
    "DocumentCheck",
    "DocumentKind",
    "IdNumber",
    "KindChoice",
    "LongTerm",
    "Region",
    "RegionDirectory",
    "RegionStatus",
    "Sex",
    "check_document",
    "detect_kind",
    "parse_kind_choice",
]
