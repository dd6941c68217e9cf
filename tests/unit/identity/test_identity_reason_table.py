"""The reason table, code by code: every code has an example document that produces it. Also the permits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest

from realname.domain.identity import (
    REASONS,
    DocumentCheck,
    DocumentKind,
    KindChoice,
    LongTerm,
    Sex,
    check_document,
    detect_kind,
    parse_kind_choice,
)
from realname.domain.identity.icao import ICAO_COUNTRY_CODES
from tests.unit.identity.identity_samples import (
    MIN_AGE,
    REGIONS,
    SPECIMEN_CODES,
    SPECIMEN_TODAY,
    TD1_SPECIMEN,
    TD3_SPECIMEN,
    TODAY,
    foreign_permanent_number,
    resident_number,
    td3,
)


@dataclass(frozen=True)
class Example:
    value: str
    kind: KindChoice = "auto"
    today: date = TODAY
    expiry: date | LongTerm | None = None
    issued: date | None = None
    printed_birth_date: date | None = None
    printed_sex: Sex | None = None
    country_codes: frozenset[str] = field(default=ICAO_COUNTRY_CODES)

    def run(self) -> DocumentCheck:
        return check_document(
            self.value,
            kind=self.kind,
            today=self.today,
            regions=REGIONS,
            min_age=MIN_AGE,
            expiry=self.expiry,
            issued=self.issued,
            printed_birth_date=self.printed_birth_date,
            printed_sex=self.printed_sex,
            country_codes=self.country_codes,
        )


def _td3_line2_changed(position: int, replacement: str) -> str:
    line = TD3_SPECIMEN[1]
    return TD3_SPECIMEN[0] + "\n" + line[:position] + replacement + line[position + 1 :]


def _specimen(zone: str) -> Example:
    return Example(zone, today=SPECIMEN_TODAY, country_codes=SPECIMEN_CODES)


EXAMPLES: dict[str, Example] = {
    "document.kind_unknown": Example("not a document"),
    "id.format": Example("11010519800101123", kind=DocumentKind.CN_RESIDENT),
    "id.check_digit": Example(resident_number()[:-1] + ("0" if resident_number()[-1] != "0" else "1")),
    "id.region_unknown": Example(resident_number("119999")),
    "id.region_not_allowed": Example(resident_number("110105"), kind=DocumentKind.CN_RESIDENCE_PERMIT),
    "id.nationality_unknown": Example("QQQ110085031021"),
    "id.birth_date_invalid": Example(resident_number(birth="19810229")),
    "id.birth_date_future": Example(resident_number(birth="20300101")),
    "id.issue_date_future": Example(resident_number(), issued=TODAY + timedelta(days=30)),
    "id.validity_invalid": Example(resident_number(), issued=date(2020, 1, 1), expiry=date(2019, 12, 31)),
    "id.expired": Example(resident_number(), expiry=TODAY - timedelta(days=1)),
    "id.underage": Example(resident_number(birth="20150101")),
    "id.mismatch.birth_date": Example(foreign_permanent_number(), printed_birth_date=date(1985, 3, 11)),
    "id.mismatch.sex": Example(resident_number(sequence="124"), printed_sex=Sex.MALE),
    "id.mismatch.expiry": Example(
        "\n".join(TD3_SPECIMEN), today=SPECIMEN_TODAY, country_codes=SPECIMEN_CODES, expiry=date(2013, 1, 1)
    ),
    "mrz.format": Example("P<UTO\nL898902C3"),
    "mrz.check_digit.document_number": _specimen(_td3_line2_changed(9, "7")),
    "mrz.check_digit.birth_date": _specimen(_td3_line2_changed(19, "3")),
    "mrz.check_digit.expiry": _specimen(_td3_line2_changed(27, "8")),
    "mrz.check_digit.optional": _specimen(_td3_line2_changed(42, "7")),
    "mrz.check_digit.composite": _specimen(_td3_line2_changed(43, "1")),
    "mrz.country_unknown": Example("\n".join(TD1_SPECIMEN), today=SPECIMEN_TODAY),
    "mrz.sex_invalid": Example(td3(sex="Q")),
    "mrz.expiry_invalid": Example(td3(expiry="301301")),
}


def test_every_reason_in_the_table_has_an_example() -> None:
    assert set(EXAMPLES) == set(REASONS)


@pytest.mark.parametrize("code", sorted(REASONS))
def test_reason_is_produced_by_its_example(code: str) -> None:
    result = EXAMPLES[code].run()
    assert code in result.reasons
    assert not result.valid


def test_reason_codes_are_stable_dotted_names_with_descriptions() -> None:
    for code, description in REASONS.items():
        assert code == code.lower()
        assert "." in code
        assert " " not in code
        assert description


def test_hk_macau_permit() -> None:
    for value, issuer, renewals in (("H12345678", "hong_kong", None), ("M1234567801", "macau", 1)):
        assert detect_kind(value) is DocumentKind.HK_MACAU_PERMIT
        result = Example(value).run()
        assert result.valid
        assert result.fields["issuer"] == issuer
        assert result.fields["renewal_count"] == renewals
    for bad in ("K12345678", "H1234567", "H123456789", "H12345678012"):
        assert Example(bad, kind=DocumentKind.HK_MACAU_PERMIT).run().reasons == ("id.format",)


def test_taiwan_permit() -> None:
    assert detect_kind("01234567") is DocumentKind.TAIWAN_PERMIT
    assert Example("01234567").run().valid
    for bad in ("0123456", "012345678", "0123456A"):
        assert Example(bad, kind=DocumentKind.TAIWAN_PERMIT).run().reasons == ("id.format",)


def test_permits_check_age_from_the_printed_birth_date_and_expiry() -> None:
    child = Example("H12345678", printed_birth_date=date(2015, 5, 5)).run()
    assert child.reasons == ("id.underage",)
    expired = Example("01234567", expiry=date(2020, 1, 1)).run()
    assert expired.reasons == ("id.expired",)
    assert "01234567" not in repr(expired)


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("11010519491231002x", "11010519491231002X"),
        (" M1234567801 ", "M12345678"),
        ("01234567", "01234567"),
        ("usa110085031021", "USA110085031021"),
        ("\n".join(TD1_SPECIMEN), "D23145890"),
    ],
)
def test_result_carries_the_canonical_number_masked(value: str, canonical: str) -> None:
    result = Example(value, today=SPECIMEN_TODAY, country_codes=SPECIMEN_CODES).run()
    assert result.number is not None
    assert result.number.value == canonical
    assert canonical not in repr(result)
    assert "number" not in result.as_dict()


def test_unreadable_layout_has_no_number() -> None:
    assert Example("1101051949123100", kind=DocumentKind.CN_RESIDENT).run().number is None
    assert Example("P<UTO\nL898902C3").run().number is None


def test_kind_choices_parse_strictly() -> None:
    assert parse_kind_choice("auto") == "auto"
    assert parse_kind_choice("mrz") is DocumentKind.MRZ
    for bad in ("unknown", "passport", "MRZ"):
        with pytest.raises(ValueError, match=r"."):
            parse_kind_choice(bad)
