"""Machine-readable zones (ICAO 9303): the published specimens, every check digit, layouts and dates."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from realname.domain.identity import LONG_TERM, DocumentCheck, DocumentKind, LongTerm, check_document
from realname.domain.identity.mrz import check_digit
from tests.unit.identity.identity_samples import (
    MIN_AGE,
    REGIONS,
    SPECIMEN_CODES,
    SPECIMEN_TODAY,
    TD1_SPECIMEN,
    TD2_SPECIMEN,
    TD3_SPECIMEN,
    TODAY,
    td3,
)

SPECIMENS = {"TD1": TD1_SPECIMEN, "TD2": TD2_SPECIMEN, "TD3": TD3_SPECIMEN}


def check(
    lines: tuple[str, ...] | str,
    *,
    today: date = SPECIMEN_TODAY,
    codes: frozenset[str] = SPECIMEN_CODES,
    expiry: date | LongTerm | None = None,
) -> DocumentCheck:
    value = lines if isinstance(lines, str) else "\n".join(lines)
    return check_document(
        value, kind="auto", today=today, regions=REGIONS, min_age=MIN_AGE, expiry=expiry, country_codes=codes
    )


def mutate(lines: tuple[str, ...], line: int, position: int, replacement: str) -> tuple[str, ...]:
    original = lines[line]
    assert original[position] != replacement
    changed = original[:position] + replacement + original[position + 1 :]
    return (*lines[:line], changed, *lines[line + 1 :])


def test_check_digit_examples_from_doc_9303() -> None:
    assert check_digit("L898902C3") == 6
    assert check_digit("740812") == 2
    assert check_digit("120415") == 9
    assert check_digit("ZE184226B<<<<<") == 1
    assert check_digit("<<<") == 0


@pytest.mark.parametrize("name", sorted(SPECIMENS))
def test_icao_specimens_pass(name: str) -> None:
    result = check(SPECIMENS[name])
    assert result.reasons == ()
    assert result.kind is DocumentKind.MRZ
    assert result.fields["format"] == name
    assert result.fields["surname"] == "ERIKSSON"
    assert result.fields["given_names"] == "ANNA MARIA"
    assert result.fields["birth_date"] == "1974-08-12"
    assert result.fields["sex"] == "female"
    assert result.fields["expiry"] == "2012-04-15"


@pytest.mark.parametrize("name", sorted(SPECIMENS))
def test_specimen_state_utopia_is_not_a_real_country(name: str) -> None:
    result = check(SPECIMENS[name], codes=frozenset({"CHN", "DEU"}))
    assert result.reasons == ("mrz.country_unknown",)


# (specimen, line, position, replacement, the check digit that must fail)
FIELD_MUTATIONS = [
    ("TD3", 1, 2, "1", "mrz.check_digit.document_number"),
    ("TD3", 1, 9, "7", "mrz.check_digit.document_number"),
    ("TD3", 1, 14, "5", "mrz.check_digit.birth_date"),
    ("TD3", 1, 19, "3", "mrz.check_digit.birth_date"),
    ("TD3", 1, 24, "2", "mrz.check_digit.expiry"),
    ("TD3", 1, 27, "8", "mrz.check_digit.expiry"),
    ("TD3", 1, 30, "F", "mrz.check_digit.optional"),
    ("TD3", 1, 42, "7", "mrz.check_digit.optional"),
    ("TD3", 1, 43, "1", "mrz.check_digit.composite"),
    ("TD1", 0, 7, "4", "mrz.check_digit.document_number"),
    ("TD1", 0, 14, "1", "mrz.check_digit.document_number"),
    ("TD1", 1, 1, "5", "mrz.check_digit.birth_date"),
    ("TD1", 1, 6, "3", "mrz.check_digit.birth_date"),
    ("TD1", 1, 12, "2", "mrz.check_digit.expiry"),
    ("TD1", 1, 14, "8", "mrz.check_digit.expiry"),
    ("TD1", 0, 20, "B", "mrz.check_digit.composite"),
    ("TD1", 1, 29, "1", "mrz.check_digit.composite"),
    ("TD2", 1, 3, "2", "mrz.check_digit.document_number"),
    ("TD2", 1, 9, "1", "mrz.check_digit.document_number"),
    ("TD2", 1, 16, "9", "mrz.check_digit.birth_date"),
    ("TD2", 1, 19, "3", "mrz.check_digit.birth_date"),
    ("TD2", 1, 22, "1", "mrz.check_digit.expiry"),
    ("TD2", 1, 27, "8", "mrz.check_digit.expiry"),
    ("TD2", 1, 30, "B", "mrz.check_digit.composite"),
    ("TD2", 1, 35, "1", "mrz.check_digit.composite"),
]


@pytest.mark.parametrize(("name", "line", "position", "replacement", "reason"), FIELD_MUTATIONS)
def test_each_mutated_field_fails_its_own_check_digit(
    name: str, line: int, position: int, replacement: str, reason: str
) -> None:
    result = check(mutate(SPECIMENS[name], line, position, replacement))
    assert reason in result.reasons
    assert not result.valid
    own_digits = {r for r in result.reasons if r.startswith("mrz.check_digit.") and r != "mrz.check_digit.composite"}
    assert own_digits <= {reason}, "a field's mutation must not be blamed on another field's check digit"


def test_letter_worth_a_multiple_of_ten_is_the_known_blind_spot_of_7_3_1() -> None:
    # 'A' counts 10: replacing '<' (0) by 'A' leaves every check digit unchanged. Documented, not hidden.
    assert check_digit("<<<") == check_digit("A<<") == check_digit("<A<") == check_digit("<<A")


def test_every_digit_substitution_in_a_dated_field_is_caught() -> None:
    # Weights 7, 3, 1 are units modulo 10, so any change of one digit changes the check digit.
    for position in range(13, 19):
        for digit in "0123456789":
            if TD3_SPECIMEN[1][position] == digit:
                continue
            result = check(mutate(TD3_SPECIMEN, 1, position, digit))
            assert "mrz.check_digit.birth_date" in result.reasons, (position, digit)


mrz_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=9)


@given(
    document_number=mrz_text,
    birth=st.dates(min_value=date(1931, 1, 1), max_value=date(2009, 12, 31)),
    expiry=st.dates(min_value=date(2027, 1, 1), max_value=date(2069, 12, 31)),
    sex=st.sampled_from("MF<"),
    personal_number=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<", max_size=14),
)
def test_generated_td3_zones_pass(
    document_number: str, birth: date, expiry: date, sex: str, personal_number: str
) -> None:
    zone = td3(
        document_number=document_number,
        birth=birth.strftime("%y%m%d"),
        expiry=expiry.strftime("%y%m%d"),
        sex=sex,
        personal_number=personal_number,
    )
    result = check(zone, today=TODAY)
    assert result.reasons == ()
    assert result.fields["birth_date"] == birth.isoformat()
    assert result.fields["expiry"] == expiry.isoformat()


def test_lower_case_and_surrounding_blanks_are_accepted() -> None:
    zone = "\n".join(f"  {line.lower()} " for line in TD3_SPECIMEN) + "\n"
    assert check(zone).valid


@pytest.mark.parametrize(
    "lines",
    [
        TD3_SPECIMEN[:1],
        (TD3_SPECIMEN[0], TD3_SPECIMEN[1][:-1]),
        (TD3_SPECIMEN[0][:36], TD3_SPECIMEN[1]),
        (TD3_SPECIMEN[0], TD3_SPECIMEN[1].replace("<", " ")),
        (*TD2_SPECIMEN, TD2_SPECIMEN[1]),
        ("P<UTO", ""),
    ],
)
def test_wrong_shape_is_a_format_error(lines: tuple[str, ...]) -> None:
    result = check("\n".join(lines), today=TODAY)
    assert result.reasons == ("mrz.format",)


def test_expired_passport_is_rejected() -> None:
    assert check(TD3_SPECIMEN, today=date(2012, 4, 16)).reasons == ("id.expired",)
    assert check(TD3_SPECIMEN, today=date(2012, 4, 15)).valid


def test_given_expiry_must_match_the_zone() -> None:
    assert check(TD3_SPECIMEN, expiry=date(2012, 4, 15)).valid
    assert check(TD3_SPECIMEN, expiry=date(2013, 4, 15)).reasons == ("id.mismatch.expiry",)
    assert check(TD3_SPECIMEN, expiry=LONG_TERM).reasons == ("id.mismatch.expiry",)


def test_sex_birth_and_expiry_fields_must_be_meaningful() -> None:
    assert "mrz.sex_invalid" in check(td3(sex="Q"), today=TODAY).reasons
    assert check(td3(sex="X"), today=TODAY).fields["sex"] == "unspecified"
    assert "id.birth_date_invalid" in check(td3(birth="901332"), today=TODAY).reasons
    assert "mrz.expiry_invalid" in check(td3(expiry="300231"), today=TODAY).reasons


def test_two_digit_years_are_read_sensibly() -> None:
    young = check(td3(birth="150101", expiry="350101"), today=TODAY)
    assert young.fields["birth_date"] == "2015-01-01"
    assert young.reasons == ("id.underage",)
    old = check(td3(birth="300101"), today=TODAY)
    assert old.fields["birth_date"] == "1930-01-01"


def test_td1_document_number_longer_than_nine_characters_continues_in_optional_data() -> None:
    number = "D23145890"
    continuation = "AB"
    check_char = str(check_digit(number + continuation))
    line1 = f"I<UTO{number}<{continuation}{check_char}".ljust(30, "<")
    line2_body = "7408122F1204159UTO" + "<" * 11
    composite = line1[5:30] + line2_body[0:7] + line2_body[8:15] + line2_body[18:29]
    zone = (line1, line2_body + str(check_digit(composite)), TD1_SPECIMEN[2])
    result = check(zone)
    assert result.reasons == ()
    assert result.fields["document_number_masked"] == "D2*******AB"
    wrong = (line1.replace(continuation + check_char, continuation + str((int(check_char) + 1) % 10)), *zone[1:])
    assert "mrz.check_digit.document_number" in check(wrong).reasons


def test_mrz_result_masks_the_document_number() -> None:
    result = check(TD3_SPECIMEN)
    assert "L898902C3" not in repr(result)
    assert result.fields["document_number_masked"] == "L8*****C3"


def test_filler_stands_for_a_zero_check_digit_only_after_an_empty_personal_number() -> None:
    empty = td3(personal_number="")
    line1, line2 = empty.split("\n")
    assert line2[42] == "0"
    as_filler = line2[:42] + "<" + line2[43:]
    composite = as_filler[0:10] + as_filler[13:20] + as_filler[21:43]
    as_filler = as_filler[:43] + str(check_digit(composite))
    assert check(line1 + "\n" + as_filler, today=TODAY).valid
    # Elsewhere a filler is no check digit, even where the digit would be 0.
    zero_number = next(n for n in (f"E{i:08d}" for i in range(100)) if check_digit(n) == 0)
    zone = td3(document_number=zero_number).split("\n")
    filled = zone[1][:9] + "<" + zone[1][10:]
    assert "mrz.check_digit.document_number" in check(zone[0] + "\n" + filled, today=TODAY).reasons
