"""Staff accounts: the short code and the password a member signs in with, listing members, disabling one and
resetting a password. Every change is an audit event; a password is shown once and stored only as its argon2id
hash (``SecretHasher``).

``Registry.add_staff`` creates members with :func:`new_staff_code` and :func:`new_password`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from realname.app.actors import Actor
from realname.app.ports import RandomSource
from realname.app.recent_sign_ins import RecentSignIns
from realname.app.unit_of_work import UnitOfWork
from realname.domain.audit import AuditRecord
from realname.domain.errors import Conflict, NotFound
from realname.domain.organisation import STAFF_CODE_ALPHABET, Role, StaffMember, staff_code

if TYPE_CHECKING:  # the registry creates members with this module's codes and passwords
    from realname.app.registry import RegistryDeps

PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # noqa: S105 - the characters drawn, not a password
"""No 0/o, 1/l/i: a password read off a slip of paper is typed right the first time."""
PASSWORD_GROUPS = 3
PASSWORD_GROUP_LENGTH = 4
"""Three groups of four (``k7qm-3xpa-9fhd``): 12 characters of 31, about 59 bits, slowed further by argon2id."""


def _pick(random: RandomSource, alphabet: str, count: int) -> str:
    """``count`` characters drawn uniformly from ``alphabet`` (rejection sampling: no modulo bias)."""
    picked: list[str] = []
    limit = 256 - 256 % len(alphabet)
    while len(picked) < count:
        for byte in random.token_bytes(count * 2):
            if byte < limit and len(picked) < count:
                picked.append(alphabet[byte % len(alphabet)])
    return "".join(picked)


def new_password(random: RandomSource) -> str:
    """A new random password in groups of four, e.g. ``k7qm-3xpa-9fhd``."""
    raw = _pick(random, PASSWORD_ALPHABET, PASSWORD_GROUPS * PASSWORD_GROUP_LENGTH)
    return "-".join(raw[i : i + PASSWORD_GROUP_LENGTH] for i in range(0, len(raw), PASSWORD_GROUP_LENGTH))


def new_staff_code(uow: UnitOfWork, random: RandomSource) -> str:
    """A free staff code: two letters and four digits (``LK4821``)."""
    letters = STAFF_CODE_ALPHABET[:24]
    for _ in range(50):
        code = _pick(random, letters, 2) + _pick(random, "0123456789", 4)
        if uow.staff.by_code(code) is None:
            return code
    raise Conflict("no free staff code found; give one with --code", code="staff.code_in_use")


def claim_staff_code(uow: UnitOfWork, random: RandomSource, wanted: str | None) -> str:
    """``wanted`` (normalised) if it is free, or a new code.

    Raises:
        InvalidInput: ``staff.code_invalid``. Conflict: ``staff.code_in_use``.
    """
    if wanted is None:
        return new_staff_code(uow, random)
    code = staff_code(wanted)
    if uow.staff.by_code(code) is not None:
        raise Conflict(f"staff code {code} is taken", code="staff.code_in_use")
    return code


@dataclass(frozen=True, slots=True)
class NewPassword:
    staff_code: str
    password: str
    """Shown once; only its argon2id hash is stored."""


class StaffAccounts:
    def __init__(self, deps: RegistryDeps, recent: RecentSignIns | None = None) -> None:
        self._d = deps
        self._recent = recent or RecentSignIns(0)
        """This worker's recently checked sign-ins: a disabled or reset member's are forgotten at once."""

    def list_staff(self, actor: Actor) -> Sequence[StaffMember]:
        """Every member with code, role, outlet and state (names are not shown)."""
        actor.require(Role.ADMIN, Role.AUDITOR)
        with self._d.uow() as uow:
            return uow.staff.list()

    def disable(self, actor: Actor, code: str) -> StaffMember:
        """Disable a member: their sign-ins, token renewals and every request with a token already issued are
        refused from now on (``auth.staff_disabled``); by another process (a server whose :class:`RecentSignIns`
        found the sign-in usable a moment ago), within its cache time.

        Raises:
            NotFound: ``staff.not_found``. Conflict: ``staff.disabled_already``.
        """
        actor.require(Role.ADMIN)
        with self._d.uow() as uow:
            member = self._member(uow, code)
            if not member.active:
                raise Conflict(f"staff member {member.code} is disabled already", code="staff.disabled_already")
            uow.staff.set_active(member.id, False)
            self._audit(uow, actor, "staff.disabled", member, {})
            uow.commit()
        self._recent.forget_member(member.id)
        return member

    def reset_credential(self, actor: Actor, code: str) -> NewPassword:
        """Give a member a new password (shown once); the old one stops working at once, and the member chooses
        their own at the next sign-in (``password_change_required``).

        Raises:
            NotFound: ``staff.not_found``.
        """
        actor.require(Role.ADMIN)
        password = new_password(self._d.random)
        hashed = self._d.hasher.hash(password)
        with self._d.uow() as uow:
            member = self._member(uow, code)
            uow.staff.set_credential(member.id, hashed, self._d.clock.now(), change_required=True)
            self._audit(uow, actor, "staff.credential_reset", member, {})
            uow.commit()
        self._recent.forget_member(member.id)
        return NewPassword(member.code or "", password)

    def _member(self, uow: UnitOfWork, code: str) -> StaffMember:
        member = uow.staff.by_code(staff_code(code))
        if member is None:
            raise NotFound("no staff member has this code", code="staff.not_found")
        return member

    def _audit(self, uow: UnitOfWork, actor: Actor, action: str, member: StaffMember, details: dict[str, str]) -> None:
        uow.audit.append(
            AuditRecord(
                action,
                actor.ref,
                str(member.outlet_code),
                f"staff:{member.id}",
                {"code": member.code or "", "role": member.role.value, **details},
            ),
            self._d.clock.now(),
        )
