"""What a document check says: the kinds of document, the reason table and the ``DocumentCheck`` result.

A check never raises for a bad document: every failed rule becomes a stable dotted reason code, and
all of them are reported together. ``REASONS`` is the complete table of codes the checks can produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Final, Literal


class DocumentKind(StrEnum):
    """The documents a store accepts, plus ``UNKNOWN`` for input that matches no layout."""

    CN_RESIDENT = "cn_resident"
    CN_RESIDENCE_PERMIT = "cn_residence_permit"
    CN_FOREIGN_PERMANENT = "cn_foreign_permanent"
    HK_MACAU_PERMIT = "hk_macau_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    MRZ = "mrz"
    UNKNOWN = "unknown"


AUTO: Final = "auto"
KindChoice = DocumentKind | Literal["auto"]


def parse_kind_choice(text: str) -> KindChoice:
    """``"auto"`` or a document kind by its value; raises ``ValueError`` for anything else."""
    if text == AUTO:
        return AUTO
    kind = DocumentKind(text)
    if kind is DocumentKind.UNKNOWN:
        raise ValueError("unknown is no kind to check as")
    return kind


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    UNSPECIFIED = "unspecified"


class LongTerm(Enum):
    """A validity period without end (长期), as printed on resident ID cards of people aged 46 and over."""

    LONG_TERM = "long_term"


LONG_TERM: Final = LongTerm.LONG_TERM

FieldValue = str | int | bool | None

REASONS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "document.kind_unknown": "the input matches the layout of no supported document kind",
        "id.format": "wrong length or characters for the document kind",
        "id.check_digit": "the check character (ISO 7064 MOD 11-2) does not match the number",
        "id.region_unknown": "the region code is not in GB/T 2260, current or retired",
        "id.region_not_allowed": (
            "the region code does not belong to this kind of document (residence permits use 810000, "
            "820000 or 830000; resident IDs never do)"
        ),
        "id.nationality_unknown": "the nationality letters are not an ICAO 9303 country code",
        "id.birth_date_invalid": "the birth date is not a real calendar date",
        "id.birth_date_future": "the birth date lies after today",
        "id.issue_date_future": "the issue date lies after today",
        "id.validity_invalid": "the validity period is impossible (expiry before issue, or issue before birth)",
        "id.expired": "the document expired before today",
        "id.underage": "the holder is younger than the policy's minimum age (guardian path)",
        "id.mismatch.birth_date": "the printed or chip birth date differs from the one the number encodes",
        "id.mismatch.sex": "the printed or chip sex differs from the one the number encodes",
        "id.mismatch.expiry": "the given expiry date differs from the one in the machine-readable zone",
        "mrz.format": "the machine-readable zone has the wrong number of lines, line length or characters",
        "mrz.check_digit.document_number": "the document number check digit does not match",
        "mrz.check_digit.birth_date": "the birth date check digit does not match",
        "mrz.check_digit.expiry": "the expiry date check digit does not match",
        "mrz.check_digit.optional": "the optional data (personal number) check digit does not match",
        "mrz.check_digit.composite": "the composite check digit does not match",
        "mrz.country_unknown": "the issuing state or nationality is not an ICAO 9303 code",
        "mrz.sex_invalid": "the sex field is not M, F, X or <",
        "mrz.expiry_invalid": "the expiry date is not a real calendar date",
    }
)


@dataclass(frozen=True, slots=True)
class DocumentCheck:
    """The outcome of checking one document: ``valid`` exactly when ``reasons`` is empty.

    ``fields`` holds what the document encodes (birth date, sex, region, masked number, ...) as
    JSON-ready values; it never holds the number in clear. ``number`` is the canonical document number
    (upper case; a Home Return Permit without its renewal count; an MRZ document number without
    fillers) whenever the layout could be read, for a blind index; it masks itself and stays out of
    :meth:`as_dict`.
    """

    valid: bool
    kind: DocumentKind
    reasons: tuple[str, ...]
    fields: Mapping[str, FieldValue]
    number: IdNumber | None = None

    @classmethod
    def of(
        cls,
        kind: DocumentKind,
        reasons: list[str],
        fields: dict[str, FieldValue],
        number: IdNumber | None = None,
    ) -> DocumentCheck:
        """Build a result, keeping the first occurrence of each reason in order."""
        unique = tuple(dict.fromkeys(reasons))
        return cls(valid=not unique, kind=kind, reasons=unique, fields=MappingProxyType(fields), number=number)

    def as_dict(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "kind": self.kind.value,
            "reasons": list(self.reasons),
            "fields": dict(self.fields),
        }


def mask_identifier(value: str) -> str:
    """Keep at most the first and last 4 characters (fewer for short values) and star the rest."""
    keep = min(4, len(value) // 4)
    if keep == 0:
        return "*" * len(value)
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


@dataclass(frozen=True, slots=True)
class IdNumber:
    """A document number, normalised (upper case, no surrounding spaces); masked in ``repr``/``str``.

    Use ``.value`` deliberately, where the clear number is needed (the blind index, encryption).
    """

    value: str

    @classmethod
    def normalised(cls, raw: str) -> IdNumber:
        return cls(raw.strip().upper())

    @property
    def masked(self) -> str:
        return mask_identifier(self.value)

    def __repr__(self) -> str:
        return f"IdNumber({self.masked!r})"

    def __str__(self) -> str:
        return self.masked
