"""Staff sign-in: per-person credentials (argon2 hashes) exchanged for short-lived signed tokens.

Failed sign-ins lock the staff id they named (``max_failed_attempts`` within ``lockout_window_minutes``
lock it for ``lockout_minutes``), whether or not such a member exists; and an unknown or disabled id
is checked against a dummy hash, so that neither the answer nor the time it takes says whether a staff
id exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from realname.app.actors import Actor
from realname.app.keys import TokenIssuer
from realname.app.ports import BlindIndexer, Clock, IdGenerator, SecretHasher
from realname.app.unit_of_work import UnitOfWorkFactory
from realname.domain.audit import AuditRecord
from realname.domain.errors import TooManyRequests, Unauthenticated
from realname.domain.lockout import lockout_periods
from realname.domain.organisation import DEFAULT_TIME_ZONE, SELF_SERVICE_OUTLET, OutletCode, Role
from realname.domain.policy import Policy

SIGN_IN_FAILURES = "staff.sign_in_failed"
"""Throttle scope of failed sign-ins, by the staff id they named."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    actor: Actor
    expires_at: datetime
    time_zone: str = DEFAULT_TIME_ZONE
    """The staff member's outlet's time zone: the pages show times on the store's clock."""


class StaffAuth:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: SecretHasher,
        tokens: TokenIssuer,
        clock: Clock,
        ids: IdGenerator,
        policy: Policy,
        blind_index: BlindIndexer,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._blind_index = blind_index
        # Made now, not on the first unknown id, so that no sign-in pays for hashing it.
        self._dummy_hash = hasher.hash(ids.new_id())

    def _hash_to_check(self, stored: str | None) -> str:
        """The member's hash, or the dummy one, so that unknown ids cost the same argon2 work."""
        return self._dummy_hash if stored is None else stored

    def sign_in(self, staff_id: str, credential: str) -> SignedIn:
        """Check a staff member's credential and issue a token.

        Raises:
            Unauthenticated: unknown staff, disabled account or wrong credential (one message for all).
            TooManyRequests: ``auth.locked`` — too many failed sign-ins for this staff id recently.
        """
        now = self._clock.now()
        refused = Unauthenticated("unknown staff id or wrong credential", code="auth.invalid_credentials")
        if not staff_id or len(staff_id) > 64 or not credential or len(credential) > 256:
            raise refused
        policy = self._policy
        since = now - timedelta(minutes=policy.lockout_window_minutes + policy.lockout_minutes)
        # Failures are counted under a keyed hash of the id typed: someone may type a phone or ID number there.
        subject = self._blind_index.index(f"staff-sign-in:{staff_id}")
        with self._uow() as uow:
            uow.throttle.forget_before(SIGN_IN_FAILURES, subject, since)
            periods = lockout_periods(
                uow.throttle.since(SIGN_IN_FAILURES, subject, since),
                max_failed=policy.max_failed_attempts,
                window_minutes=policy.lockout_window_minutes,
                lockout_minutes=policy.lockout_minutes,
            )
            locked_until = next((end for start, end in periods if start <= now < end), None)
            member = uow.staff.get(staff_id)
            usable = member if member is not None and member.active else None
            outlet = uow.outlets.get(usable.outlet_code) if usable is not None else None
            if locked_until is None:
                verified = self._hasher.verify(
                    self._hash_to_check(usable.credential_hash if usable else None), credential
                )
                ok = usable is not None and verified
            else:
                ok = False
            if not ok and locked_until is None:
                uow.throttle.add(self._ids.new_id(), SIGN_IN_FAILURES, subject, now)
            uow.audit.append(
                AuditRecord(
                    "staff.signed_in" if ok else "staff.sign_in_locked" if locked_until else "staff.sign_in_failed",
                    f"staff:{staff_id}" if member else "anonymous",
                    str(member.outlet_code) if member else None,
                    f"staff:{staff_id}" if member else None,
                ),
                now,
            )
            uow.commit()
        if locked_until is not None:
            raise TooManyRequests(
                f"too many failed sign-ins for this staff id; try again after {locked_until:%H:%M} UTC",
                retry_after_seconds=math.ceil((locked_until - now).total_seconds()),
                code="auth.locked",
            )
        if not ok or usable is None:
            raise refused
        token = self._tokens.issue(usable.id, usable.role, usable.outlet_code, now)
        claims = self._tokens.verify(token, now)
        actor = Actor(f"staff:{usable.id}", usable.role, str(usable.outlet_code))
        return SignedIn(token, actor, claims.expires_at, outlet.time_zone if outlet else DEFAULT_TIME_ZONE)

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
