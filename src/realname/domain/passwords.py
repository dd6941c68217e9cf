"""The rules a staff member's own password follows: a pure check that names every rule a candidate breaks.

A password has at least ``PASSWORD_MIN_LENGTH`` characters (at most ``PASSWORD_MAX_LENGTH``) and at least
``PASSWORD_MIN_DISTINCT`` different ones, differs from the current password and does not contain the member's staff
code (in any case). The kiosk's text for ``auth.password_policy`` lists the same rules.
"""

from __future__ import annotations

import enum

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 256
PASSWORD_MIN_DISTINCT = 5


class PasswordRule(enum.Enum):
    """A rule a new password breaks, with a sentence safe to show."""

    TOO_SHORT = f"a password has at least {PASSWORD_MIN_LENGTH} characters"
    TOO_LONG = f"a password has at most {PASSWORD_MAX_LENGTH} characters"
    TOO_FEW_DISTINCT = f"a password has at least {PASSWORD_MIN_DISTINCT} different characters"
    SAME_AS_CURRENT = "the new password must differ from the current one"
    CONTAINS_STAFF_CODE = "a password must not contain the staff code"

    @property
    def message(self) -> str:
        return str(self.value)


def broken_password_rules(new_password: str, current_password: str, staff_code: str) -> tuple[PasswordRule, ...]:
    """Every rule ``new_password`` breaks for a member whose password is ``current_password`` and whose code is
    ``staff_code`` (empty: no code to avoid), in the order above; empty when it may be chosen."""
    broken: list[PasswordRule] = []
    if len(new_password) < PASSWORD_MIN_LENGTH:
        broken.append(PasswordRule.TOO_SHORT)
    if len(new_password) > PASSWORD_MAX_LENGTH:
        broken.append(PasswordRule.TOO_LONG)
    if len(set(new_password)) < PASSWORD_MIN_DISTINCT:
        broken.append(PasswordRule.TOO_FEW_DISTINCT)
    if new_password == current_password:
        broken.append(PasswordRule.SAME_AS_CURRENT)
    if staff_code and staff_code.casefold() in new_password.casefold():
        broken.append(PasswordRule.CONTAINS_STAFF_CODE)
    return tuple(broken)
