"""Outlets (stores) and the staff who work there, with their roles."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime

from realname.domain.errors import InvalidInput

_OUTLET_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")


class Role(enum.StrEnum):
    CLERK = "clerk"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    AUDITOR = "auditor"

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls(text.strip().lower())
        except ValueError as exc:
            allowed = ", ".join(r.value for r in cls)
            raise InvalidInput(f"unknown role {text!r}; use one of {allowed}", code="staff.role_unknown") from exc


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

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidInput("an outlet name is 1–200 characters", code="outlet.name_invalid")


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

    def __post_init__(self) -> None:
        if not self.name.strip() or len(self.name) > 200:
            raise InvalidInput("a staff name is 1–200 characters", code="staff.name_invalid")
