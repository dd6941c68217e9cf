"""Who is acting: a signed-in staff member, or the operator at the command line."""

from __future__ import annotations

from dataclasses import dataclass

from realname.domain.errors import Forbidden
from realname.domain.organisation import Role


@dataclass(frozen=True, slots=True)
class Actor:
    """The caller of a use case. ``ref`` is what the audit log records (never a name)."""

    ref: str
    role: Role
    outlet_code: str | None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this action needs the role {allowed}", code="auth.role_forbidden")

    def require_outlet(self, outlet_code: str) -> None:
        """Clerks and reviewers act only within their own outlet; admins and auditors see all."""
        if self.role in (Role.ADMIN, Role.AUDITOR):
            return
        if self.outlet_code != outlet_code:
            raise Forbidden("this belongs to another outlet", code="auth.outlet_forbidden")


OPERATOR_CLI = Actor(ref="cli:operator", role=Role.ADMIN, outlet_code=None)
"""The person at the server's console (``realname`` CLI): holds the keys and the database anyway."""

SYSTEM = Actor(ref="system", role=Role.ADMIN, outlet_code=None)
"""Scheduled jobs (recycling cooled numbers, purges)."""
