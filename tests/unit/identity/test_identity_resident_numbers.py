"""18-character numbers (GB 11643-1999): resident IDs, residence permits, foreigner permanent residence IDs."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realname.domain.identity import (
    LONG_TERM,
    DocumentCheck,
    DocumentKind,
    IdNumber,
    KindChoice,
    LongTerm,
    Sex,
    check_document,
    detect_kind,
)
from realname.domain.identity.resident_id import MOD11_2_CHECK_CHARS, MOD11_2_WEIGHTS, mod11_2_check_char
from tests.unit.identity.identity_samples import (
    COUNTY_CODES,
    MIN_AGE,
    REGIONS,
    TODAY,
    foreign_permanent_number,
    resident_number,
)

CHARACTERS = "0123456789X"


def check(
    value: str,
    kind: KindChoice = "auto",
    *,
    today: date = TODAY,
    expiry: date | LongTerm | None = None,
    issued: date | None = None,
    printed_birth_date: date | None = None,
    printed_sex: Sex | None = None,
) -> DocumentCheck:
    return check_document(
        value,
        kind=kind,
        today=today,
        regions=REGIONS,
        min_age=MIN_AGE,
        expiry=expiry,
        issued=issued,
        printed_birth_date=printed_birth_date,
        printed_sex=printed_sex,
    )


adult_birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(TODAY.year - MIN_AGE, 1, 1))
valid_numbers = st.builds(
    lambda region, birth, sequence: resident_number(region, birth.strftime("%Y%m%d"), f"{sequence:03d}"),
    st.sampled_from(COUNTY_CODES),
    adult_birth_dates,
    st.integers(min_value=0, max_value=999),
)


@given(valid_numbers)
def test_generated_valid_numbers_pass(number: str) -> None:
    result = check(number, DocumentKind.CN_RESIDENT)
    assert result.reasons == ()
    assert result.valid
    assert result.fields["birth_date"] == date(int(number[6:10]), int(number[10:12]), int(number[12:14])).isoformat()
    assert result.fields["sex"] == ("male" if int(number[16]) % 2 else "female")


@settings(max_examples=25, deadline=None)
@given(valid_numbers)
def test_every_single_character_substitution_is_rejected(number: str) -> None:
    for position in range(18):
        for replacement in CHARACTERS:
            if replacement == number[position]:
                continue
            mutated = number[:position] + replacement + number[position + 1 :]
            result = check(mutated, DocumentKind.CN_RESIDENT)
            assert not result.valid, (position, replacement)
            # The check character alone catches it, whatever the other rules say.
            assert {"id.check_digit", "id.format"} & set(result.reasons), (position, replacement)


@settings(max_examples=25, deadline=None)
@given(valid_numbers)
def test_every_adjacent_transposition_is_rejected(number: str) -> None:
    for position in range(17):
        if number[position] == number[position + 1]:
            continue
        mutated = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
        result = check(mutated, DocumentKind.CN_RESIDENT)
        assert not result.valid, position
        assert {"id.check_digit", "id.format"} & set(result.reasons), position


def test_mod11_2_weights_detect_every_single_error_algebraically() -> None:
    # Each weight is a unit modulo the prime 11, and neighbours differ modulo 11: so changing one digit
    # by d (1..9) or swapping neighbours a, b (a != b) always changes the weighted sum modulo 11.
    for weight in MOD11_2_WEIGHTS:
        assert all(weight * d % 11 != 0 for d in range(1, 10))
    for left, right in itertools.pairwise(MOD11_2_WEIGHTS):
        assert all((left - right) * d % 11 != 0 for d in range(1, 10))
    # The check position: each remainder has its own character.
    assert len(set(MOD11_2_CHECK_CHARS)) == 11


def test_known_check_characters() -> None:
    assert mod11_2_check_char("11010519491231002") == "X"
    assert mod11_2_check_char("44030519900101123") == resident_number("440305", "19900101", "123")[-1]


def test_lower_case_x_is_accepted_and_normalised() -> None:
    number = "11010519491231002X"
    result = check(number.lower(), DocumentKind.CN_RESIDENT)
    assert result.valid
    assert result.fields["number_masked"] == "1101**********002X"


def test_reports_every_failed_rule_at_once() -> None:
    body = "119999" + "20300230" + "124"
    wrong_check = "0" if mod11_2_check_char(body) != "0" else "1"
    result = check(body + wrong_check, DocumentKind.CN_RESIDENT)
    assert set(result.reasons) == {"id.check_digit", "id.region_unknown", "id.birth_date_invalid"}
    assert result.fields["sex"] == "female"


@pytest.mark.parametrize("value", ["1101051980010112", "1101051980010112345", "11010519800101123A", ""])
def test_rejects_wrong_length_or_characters_as_format(value: str) -> None:
    assert check(value, DocumentKind.CN_RESIDENT).reasons == ("id.format",)


def test_retired_region_codes_stay_valid() -> None:
    result = check(resident_number("110224", "19700101", "011"))
    assert result.valid
    assert result.fields["region_status"] == "retired"
    assert result.fields["region_name"] == "大兴县"


def test_rejects_unknown_region() -> None:
    assert check(resident_number("119999")).reasons == ("id.region_unknown",)


def test_rejects_impossible_and_future_birth_dates() -> None:
    assert check(resident_number(birth="19810229")).reasons == ("id.birth_date_invalid",)
    assert check(resident_number(birth="20800101")).reasons == ("id.birth_date_future",)
    assert check(resident_number(birth="19800229")).valid


def test_underage_is_a_distinct_reason_and_sixteenth_birthday_is_enough() -> None:
    sixteen_today = TODAY.replace(year=TODAY.year - 16)
    day_before = sixteen_today + timedelta(days=1)
    assert check(resident_number(birth=sixteen_today.strftime("%Y%m%d"))).valid
    result = check(resident_number(birth=day_before.strftime("%Y%m%d")))
    assert result.reasons == ("id.underage",)
    assert result.fields["age_years"] == 15


def test_expired_card_is_rejected_and_long_term_or_today_is_not() -> None:
    number = resident_number()
    assert check(number, expiry=TODAY - timedelta(days=1)).reasons == ("id.expired",)
    assert check(number, expiry=TODAY).valid
    long_term = check(number, expiry=LONG_TERM)
    assert long_term.valid
    assert long_term.fields["expiry"] == "long_term"


def test_issue_date_rules() -> None:
    number = resident_number(birth="19800101")
    assert check(number, issued=TODAY + timedelta(days=1)).reasons == ("id.issue_date_future",)
    assert check(number, issued=date(2020, 1, 1), expiry=date(2019, 1, 1)).reasons == (
        "id.expired",
        "id.validity_invalid",
    )
    assert check(number, issued=date(1979, 1, 1)).reasons == ("id.validity_invalid",)
    assert check(number, issued=date(2020, 1, 1), expiry=date(2040, 1, 1)).valid


def test_printed_data_must_agree_with_the_number() -> None:
    number = resident_number(birth="19800101", sequence="123")  # odd sequence: male
    assert check(number, printed_sex=Sex.FEMALE).reasons == ("id.mismatch.sex",)
    assert check(number, printed_birth_date=date(1980, 1, 2)).reasons == ("id.mismatch.birth_date",)
    assert check(number, printed_sex=Sex.MALE, printed_birth_date=date(1980, 1, 1)).valid


def test_residence_permits_use_only_the_three_permit_regions() -> None:
    for region in ("810000", "820000", "830000"):
        number = resident_number(region, "19900101", "002")
        assert detect_kind(number) is DocumentKind.CN_RESIDENCE_PERMIT
        result = check(number)
        assert result.valid, region
        assert result.kind is DocumentKind.CN_RESIDENCE_PERMIT
    assert check(resident_number("110105"), DocumentKind.CN_RESIDENCE_PERMIT).reasons == ("id.region_not_allowed",)
    assert check(resident_number("810000"), DocumentKind.CN_RESIDENT).reasons == ("id.region_not_allowed",)


def test_foreign_permanent_2023_number() -> None:
    number = foreign_permanent_number()
    assert detect_kind(number) is DocumentKind.CN_FOREIGN_PERMANENT
    result = check(number)
    assert result.valid
    assert result.fields["format"] == "2023"
    assert result.fields["birth_date"] == "1985-03-10"
    assert result.fields["sex"] == "male"
    assert check(foreign_permanent_number(province="99")).reasons == ("id.region_unknown",)
    broken = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert check(broken).reasons == ("id.check_digit",)
    assert check(resident_number(), DocumentKind.CN_FOREIGN_PERMANENT).reasons == ("id.format",)


def test_foreign_permanent_old_15_character_format() -> None:
    result = check("USA110085031021")
    assert result.kind is DocumentKind.CN_FOREIGN_PERMANENT
    assert result.valid
    assert result.fields["nationality"] == "USA"
    assert check("QQQ110085031021").reasons == ("id.nationality_unknown",)
    assert check("US1110085031021", DocumentKind.CN_FOREIGN_PERMANENT).reasons == ("id.format",)


def test_id_number_masks_itself() -> None:
    number = IdNumber.normalised(" 11010519491231002x ")
    assert number.value == "11010519491231002X"
    assert repr(number) == "IdNumber('1101**********002X')"
    assert str(number) == "1101**********002X"
    assert "19491231" not in f"{number!r} {number}"


def test_results_never_hold_the_number_in_clear() -> None:
    number = resident_number()
    for kind in (DocumentKind.CN_RESIDENT, DocumentKind.CN_RESIDENCE_PERMIT, DocumentKind.CN_FOREIGN_PERMANENT):
        result = check(number, kind)
        assert number not in repr(result)
        assert number not in repr(result.as_dict())
