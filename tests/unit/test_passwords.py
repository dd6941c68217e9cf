"""The password rules, as a pure check that names every rule a candidate breaks."""

from __future__ import annotations

import pytest

from realname.domain.passwords import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_DISTINCT,
    PASSWORD_MIN_LENGTH,
    PasswordRule,
    broken_password_rules,
)

CURRENT = "kiosk-start-2026"
CODE = "LL0001"


def test_a_long_varied_new_password_without_the_code_breaks_no_rule() -> None:
    assert broken_password_rules("tea-and-7-dumplings", CURRENT, CODE) == ()


@pytest.mark.parametrize(
    ("candidate", "broken"),
    [
        ("short-1", (PasswordRule.TOO_SHORT,)),
        ("x" * (PASSWORD_MAX_LENGTH - 5) + "abcdef", (PasswordRule.TOO_LONG,)),
        ("aaaaabbbbbaaaaa", (PasswordRule.TOO_FEW_DISTINCT,)),
        (CURRENT, (PasswordRule.SAME_AS_CURRENT,)),
        ("x-ll0001-9876", (PasswordRule.CONTAINS_STAFF_CODE,)),  # in any case
        ("zyLL0001", (PasswordRule.TOO_SHORT, PasswordRule.CONTAINS_STAFF_CODE)),  # every rule broken is named
        ("abab", (PasswordRule.TOO_SHORT, PasswordRule.TOO_FEW_DISTINCT)),
    ],
)
def test_each_broken_rule_is_named(candidate: str, broken: tuple[PasswordRule, ...]) -> None:
    assert broken_password_rules(candidate, CURRENT, CODE) == broken


def test_the_limits_are_inclusive() -> None:
    at_min = "abcde" + "a" * (PASSWORD_MIN_LENGTH - 5)
    assert len(set(at_min)) == PASSWORD_MIN_DISTINCT and len(at_min) == PASSWORD_MIN_LENGTH
    assert broken_password_rules(at_min, CURRENT, CODE) == ()
    assert broken_password_rules(at_min[:-1], CURRENT, CODE) == (PasswordRule.TOO_SHORT,)
    at_max = "abcde" + "a" * (PASSWORD_MAX_LENGTH - 5)
    assert broken_password_rules(at_max, CURRENT, CODE) == ()
    four_distinct = "abcd" * 5
    assert broken_password_rules(four_distinct, CURRENT, CODE) == (PasswordRule.TOO_FEW_DISTINCT,)


def test_a_member_without_a_code_only_avoids_the_other_rules() -> None:
    assert broken_password_rules("tea-and-7-dumplings", CURRENT, "") == ()


def test_every_rule_has_a_sentence_to_show() -> None:
    assert all(rule.message and rule.message[0].islower() for rule in PasswordRule)
