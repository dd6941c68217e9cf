"""Outlets (stores) and the staff who work there, with their roles."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

from realname.domain.errors import InvalidInput

_OUTLET_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
_TIME_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$")
DEFAULT_TIME_ZONE = "Asia/Shanghai"
"""The store's clock when an outlet names none: China Standard Time (an IANA time-zone name)."""


class Role(enum.StrEnum):
    CLERK = "clerk"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    AUDITOR = "auditor"
    REGULATOR = "regulator"
    """Read-only aggregate reports (``/v1/reports``), nothing else: no attempt, case, flag or audit export."""
    SUBSCRIBER = "subscriber"
    """Not a staff role: a person using the self-service page, scoped to their own attempt."""

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            role = cls(text.strip().lower())
            if role is cls.SUBSCRIBER:
                raise ValueError(text)
            return role
        except ValueError as exc:
            allowed = ", ".join(r.value for r in STAFF_ROLES)
            raise InvalidInput(f"unknown role {text!r}; use one of {allowed}", code="staff.role_unknown") from exc


STAFF_ROLES = (Role.CLERK, Role.REVIEWER, Role.ADMIN, Role.AUDITOR, Role.REGULATOR)

SELF_SERVICE_OUTLET = "SELF"
"""The outlet code under which self-service attempts (the subscriber's own web page) are recorded."""


@dataclass(frozen=True, slots=True)
class OutletCode:
    value: str

    def __post_init__(self) -> None:
        if not _OUTLET_CODE.fullmatch(self.value):
            raise InvalidInput(
                "an outlet code is 2–32 characters: capital letters, digits, '-' or '_'",
                code="outlet.code_invalid",
            )

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Outlet:
    code: OutletCode
    name: str
    created_at: datetime
    time_zone: str = DEFAULT_TIME_ZONE
    """The IANA name of the store's time zone: pages and receipts show times on the store's clock."""

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidInput("an outlet name is 1–200 characters", code="outlet.name_invalid")
        if len(self.time_zone) > 64 or not _TIME_ZONE.fullmatch(self.time_zone):
            raise InvalidInput("a time zone is an IANA name such as Asia/Shanghai", code="outlet.time_zone_invalid")


@dataclass(frozen=True, slots=True)
class StaffMember:
    """A person who signs in to the service. ``name`` is personal data and masks itself in repr."""

    id: str
    name: str = field(repr=False)
    role: Role
    outlet_code: OutletCode
    credential_hash: str = field(repr=False)
    created_at: datetime
    active: bool = True
    code: str | None = None
    """The short code the member signs in with (``LK4821``); see :func:`staff_code`."""
    credential_changed_at: datetime | None = None
    password_change_required: bool = False
    """Set for a new member and after a reset: the member chooses their own password before anything else."""

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidInput("a staff name is 1–200 characters", code="staff.name_invalid")


@dataclass(frozen=True, slots=True)
class StaffSessionState:
    """What a request with a staff token needs to know of its member and sign-in (one cheap read)."""

    active: bool
    password_change_required: bool
    last_active_at: datetime | None
    """The sign-in's last recorded request; None for a sign-in the server has no row of."""


STAFF_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_STAFF_CODE = re.compile(r"[A-Z0-9]{3,12}")


def staff_code(text: str) -> str:
    """A staff code as stored: upper case, 3–12 letters and digits (``lk4821`` and `` LK4821`` are ``LK4821``).

    Raises:
        InvalidInput: ``staff.code_invalid``.
    """
    code = text.strip().upper()
    if not _STAFF_CODE.fullmatch(code):
        raise InvalidInput("a staff code is 3–12 letters and digits", code="staff.code_invalid")
    return code
