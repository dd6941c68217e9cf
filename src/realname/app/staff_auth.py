"""Staff sign-in: per-person credentials (argon2 hashes) exchanged for short-lived signed tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from realname.app.actors import Actor
from realname.app.keys import TokenIssuer
from realname.app.ports import Clock, SecretHasher
from realname.app.unit_of_work import UnitOfWorkFactory
from realname.domain.audit import AuditRecord
from realname.domain.errors import Unauthenticated
from realname.domain.organisation import SELF_SERVICE_OUTLET, OutletCode, Role


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    actor: Actor
    expires_at: datetime


class StaffAuth:
    def __init__(self, uow: UnitOfWorkFactory, hasher: SecretHasher, tokens: TokenIssuer, clock: Clock) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock

    def sign_in(self, staff_id: str, credential: str) -> SignedIn:
        """Check a staff member's credential and issue a token.

        Raises:
            Unauthenticated: unknown staff, disabled account or wrong credential (one message for all).
        """
        now = self._clock.now()
        refused = Unauthenticated("unknown staff id or wrong credential", code="auth.invalid_credentials")
        if not staff_id or len(staff_id) > 64 or not credential or len(credential) > 256:
            raise refused
        with self._uow() as uow:
            member = uow.staff.get(staff_id)
            ok = member is not None and member.active and self._hasher.verify(member.credential_hash, credential)
            uow.audit.append(
                AuditRecord(
                    "staff.signed_in" if ok else "staff.sign_in_failed",
                    f"staff:{staff_id}" if member else "anonymous",
                    str(member.outlet_code) if member else None,
                    f"staff:{staff_id}" if member else None,
                ),
                now,
            )
            uow.commit()
        if not ok or member is None:
            raise refused
        token = self._tokens.issue(member.id, member.role, member.outlet_code, now)
        claims = self._tokens.verify(token, now)
        actor = Actor(f"staff:{member.id}", member.role, str(member.outlet_code))
        return SignedIn(token, actor, claims.expires_at)

    def self_service_token(self, attempt_id: str) -> tuple[str, datetime]:
        """A token that lets the subscriber act on their own self-service attempt, and nothing else."""
        now = self._clock.now()
        token = self._tokens.issue(attempt_id, Role.SUBSCRIBER, OutletCode(SELF_SERVICE_OUTLET), now)
        return token, self._tokens.verify(token, now).expires_at

    def actor_for(self, token: str) -> Actor:
        """The actor a bearer token stands for. Raises Unauthenticated when expired or forged."""
        claims = self._tokens.verify(token, self._clock.now())
        if claims.role is Role.SUBSCRIBER:
            return Actor(f"self:{claims.staff_id}", Role.SUBSCRIBER, SELF_SERVICE_OUTLET)
        return Actor(f"staff:{claims.staff_id}", claims.role, str(claims.outlet_code))
