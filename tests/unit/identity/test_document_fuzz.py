"""Fuzzing the document parser: any text, any kind, any printed data yields a result from the reason table.

Inputs: arbitrary Unicode text, text over the alphabets documents use (digits, ``X``, capitals, ``<``, line
breaks) shaped like resident numbers, permits and two- or three-line MRZs, and valid numbers with one
character changed, each with a random kind choice and random printed dates and sex. Derandomized with a
fixed number of examples so CI sees the same inputs every run; the test prints how many ran.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realname.domain.identity import (
    LONG_TERM,
    REASONS,
    DocumentCheck,
    DocumentKind,
    KindChoice,
    LongTerm,
    Sex,
    check_document,
)
from tests.unit.identity.identity_samples import MIN_AGE, REGIONS, TODAY, resident_number

EXAMPLES = 5000
KINDS: tuple[KindChoice, ...] = ("auto", *(kind for kind in DocumentKind if kind is not DocumentKind.UNKNOWN))
DOCUMENT_ALPHABET = "0123456789XxHM<ABCDEFGHIJKLMNOPQRSTUVWXYZ\n "
TRIED: Counter[str] = Counter()

dates = st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31))
shaped = st.one_of(
    st.text(max_size=120),
    st.text(alphabet=DOCUMENT_ALPHABET, max_size=100),
    st.text(alphabet="0123456789Xx", min_size=15, max_size=18),
    st.lists(
        st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<", min_size=28, max_size=46), min_size=1, max_size=4
    ).map("\n".join),
    st.tuples(st.integers(0, 17), st.sampled_from("0123456789Xa<")).map(
        lambda edit: resident_number()[: edit[0]] + edit[1] + resident_number()[edit[0] + 1 :]
    ),
)


@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    value=shaped,
    kind=st.sampled_from(KINDS),
    expiry=st.one_of(st.none(), st.just(LONG_TERM), dates),
    issued=st.one_of(st.none(), dates),
    birth=st.one_of(st.none(), dates),
    sex=st.one_of(st.none(), st.sampled_from(Sex)),
)
def check_any_input(
    value: str,
    kind: KindChoice,
    expiry: date | LongTerm | None,
    issued: date | None,
    birth: date | None,
    sex: Sex | None,
) -> None:
    TRIED["document parser"] += 1
    result = check_document(
        value,
        kind=kind,
        today=TODAY,
        regions=REGIONS,
        min_age=MIN_AGE,
        expiry=expiry,
        issued=issued,
        printed_birth_date=birth,
        printed_sex=sex,
    )
    assert isinstance(result, DocumentCheck)
    assert result.valid == (not result.reasons)
    assert set(result.reasons) <= set(REASONS), set(result.reasons) - set(REASONS)
    if result.number is not None and len(result.number.value) >= 8:
        # The number is never shown in clear: it masks itself and no field holds it.
        assert result.number.value not in repr(result.number)
        assert result.number.value not in (str(v).replace("<", "") for v in result.fields.values())
        assert "number" not in result.as_dict()


def test_any_input_gets_reasons_from_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    TRIED.clear()
    check_any_input()
    with capsys.disabled():
        print(f"\ndocument parser fuzz: {TRIED['document parser']} inputs tried, none raised")
    assert TRIED["document parser"] >= EXAMPLES
