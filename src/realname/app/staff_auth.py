"""Staff sign-in: a short staff code and a password (argon2id hash) exchanged for a short-lived signed token, and
the token renewed while the clerk works.

Failed sign-ins lock the staff code they named (``max_failed_attempts`` within ``lockout_window_minutes``
lock it for ``lockout_minutes``), whether or not such a member exists; and an unknown code is checked
against a dummy hash, so that neither the answer nor the time it takes says whether a staff code exists.
Only the right password of a disabled member is told that the member is disabled.

A token lasts ``token_ttl_minutes``; the page renews it while the clerk is active (and locks itself after
``idle_lock_minutes`` without activity). A renewal needs a valid token of a member who is still active, and
carries the sign-in time on: ``max_session_hours`` after typing the password, the password is asked again.

Every request with a staff token reads the member's state and the sign-in's last activity in one primary-key read
(:meth:`StaffAuth.actor_for`): a member disabled since signing in is refused at once, a member who must change their
password is served nothing else, and the sign-in's last activity is written (at most every
``ACTIVITY_WRITE_SECONDS``). After ``idle_lock_minutes`` without a request (and ``ACTIVITY_GRACE_SECONDS``) the
sign-in serves nothing more, neither a renewal nor any other request (401 ``auth.idle_timeout``, audited as
``staff.idle_timeout``): the password is typed again. The page reports a clerk's touches while it makes no other
request (``/v1/auth/activity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from realname.app.actors import Actor
from realname.app.keys import TokenClaims, TokenIssuer
from realname.app.ports import BlindIndexer, Clock, IdGenerator, SecretHasher
from realname.app.recent_sign_ins import RecentSignIns
from realname.app.unit_of_work import UnitOfWork, UnitOfWorkFactory
from realname.domain.audit import AuditRecord
from realname.domain.errors import Forbidden, InvalidInput, TooManyRequests, Unauthenticated
from realname.domain.lockout import lockout_periods
from realname.domain.organisation import (
    DEFAULT_TIME_ZONE,
    SELF_SERVICE_OUTLET,
    OutletCode,
    Role,
    StaffMember,
    StaffSessionState,
    staff_code,
)
from realname.domain.passwords import broken_password_rules
from realname.domain.policy import Policy

SIGN_IN_FAILURES = "staff.sign_in_failed"
"""Throttle scope of failed sign-ins, by the staff code they named."""


DEFAULT_IDLE_LOCK_MINUTES = 5
ACTIVITY_WRITE_SECONDS = 15
"""A sign-in's last activity is written when the stored one is older than this: not a write per request."""
ACTIVITY_GRACE_SECONDS = 60
"""Added to the idle time before a renewal is refused: the page reports touches every 30 s, written every 15 s."""


@dataclass(frozen=True, slots=True)
class SessionRules:
    """How long a signed-in page stays usable."""

    idle_lock_minutes: int = DEFAULT_IDLE_LOCK_MINUTES
    """The page locks (and asks for the password again, keeping the visit) after this long without activity."""
    max_session_hours: int = 12
    """A token is renewed at most this long after the password was typed; then the password is asked again."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    actor: Actor
    expires_at: datetime
    time_zone: str = DEFAULT_TIME_ZONE
    """The staff member's outlet's time zone: the pages show times on the store's clock."""
    staff_code: str = ""
    idle_lock_minutes: int = DEFAULT_IDLE_LOCK_MINUTES
    signed_in_at: datetime | None = None
    expires_in_seconds: int = 0
    """The token's lifetime from now: pages count it on their own clock, which may be off the server's."""
    password_change_required: bool = False
    """The member must choose a new password first: the token serves only ``change_password`` until then."""


class StaffDisabled(Forbidden):
    code = "auth.staff_disabled"


class PasswordChangeRequired(Forbidden):
    code = "auth.password_change_required"


class IdleTimeout(Unauthenticated):
    code = "auth.idle_timeout"


def session_key(staff_id: str, signed_in_at: datetime) -> str:
    """A sign-in's key: the member and the sign-in time (Unix seconds), which every renewed token carries on."""
    return f"{staff_id}:{int(signed_in_at.timestamp())}"


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
        rules: SessionRules | None = None,
        recent: RecentSignIns | None = None,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        self._ids = ids
        self._policy = policy
        self._blind_index = blind_index
        self._rules = rules or SessionRules()
        self._recent = recent or RecentSignIns(0)
        # Made now, not on the first unknown id, so that no sign-in pays for hashing it.
        self._dummy_hash = hasher.hash(ids.new_id())

    def _failures_since(self, now: datetime) -> datetime:
        """How far back failed sign-ins can still matter to a lock-out."""
        return now - timedelta(minutes=self._policy.lockout_window_minutes + self._policy.lockout_minutes)

    def _locked_until(self, uow: UnitOfWork, subject: str, now: datetime) -> datetime | None:
        """The end of the sign-in lock-out ``subject`` (a staff code's keyed hash) is under at ``now``, if any."""
        policy = self._policy
        periods = lockout_periods(
            uow.throttle.since(SIGN_IN_FAILURES, subject, self._failures_since(now)),
            max_failed=policy.max_failed_attempts,
            window_minutes=policy.lockout_window_minutes,
            lockout_minutes=policy.lockout_minutes,
        )
        return next((end for start, end in periods if start <= now < end), None)

    def _hash_to_check(self, stored: str | None) -> str:
        """The member's hash, or the dummy one, so that unknown ids cost the same argon2 work."""
        return self._dummy_hash if stored is None else stored

    def sign_in(self, code: str, password: str) -> SignedIn:
        """Check a staff member's code and password and issue a token.

        Raises:
            Unauthenticated: ``auth.invalid_credentials`` — unknown code or wrong password (one answer for both).
            StaffDisabled: ``auth.staff_disabled`` — the right password of a disabled member.
            TooManyRequests: ``auth.locked`` — too many failed sign-ins for this code recently.
        """
        now = self._clock.now()
        refused = Unauthenticated("unknown staff code or wrong password", code="auth.invalid_credentials")
        if not code or len(code) > 64 or not password or len(password) > 256:
            raise refused
        try:
            typed = staff_code(code)
        except InvalidInput:
            typed = code.strip()  # counted and refused like an unknown code: no answer says what a code looks like
        # Failures are counted under a keyed hash of the code typed: someone may type a phone or ID number there.
        subject = self._blind_index.index(f"staff-sign-in:{typed}")
        with self._uow() as uow:
            uow.throttle.forget_before(SIGN_IN_FAILURES, subject, self._failures_since(now))
            locked_until = self._locked_until(uow, subject, now)
            member = uow.staff.by_code(typed)
            outlet = uow.outlets.get(member.outlet_code) if member is not None else None
            verified = False
            if locked_until is None:
                verified = self._hasher.verify(
                    self._hash_to_check(member.credential_hash if member else None), password
                )
            ok = member is not None and verified and member.active
            disabled = member is not None and verified and not member.active
            if (member is None or not verified) and locked_until is None:
                uow.throttle.add(self._ids.new_id(), SIGN_IN_FAILURES, subject, now)
            action = (
                "staff.signed_in"
                if ok
                else "staff.sign_in_locked"
                if locked_until
                else "staff.sign_in_disabled"
                if disabled
                else "staff.sign_in_failed"
            )
            uow.audit.append(
                AuditRecord(
                    action,
                    f"staff:{member.id}" if member else "anonymous",
                    str(member.outlet_code) if member else None,
                    f"staff:{member.id}" if member else None,
                ),
                now,
            )
            if ok and member is not None:
                uow.staff.forget_sessions_before(now - timedelta(hours=self._rules.max_session_hours))
                uow.staff.record_activity(member.id, session_key(member.id, now), now)
            uow.commit()
        if locked_until is not None:
            raise TooManyRequests(
                f"too many failed sign-ins for this staff code; try again after {locked_until:%H:%M} UTC",
                retry_after_seconds=math.ceil((locked_until - now).total_seconds()),
                code="auth.locked",
            )
        if disabled:
            raise StaffDisabled("this staff member is disabled; ask an administrator")
        if not ok or member is None:
            raise refused
        return self._signed_in(member, outlet.time_zone if outlet else DEFAULT_TIME_ZONE, now, signed_in_at=now)

    def renew(self, token: str) -> SignedIn:
        """A new token for the member a valid token stands for, with the same sign-in time.

        Raises:
            Unauthenticated: the token expired (``auth.token_expired``) or is forged (``auth.token_invalid``), or
                the session is older than ``max_session_hours`` (``auth.session_ended``).
            Forbidden: a self-service token (``auth.role_forbidden``).
            StaffDisabled: the member was disabled since signing in.
            PasswordChangeRequired: ``auth.password_change_required`` — the member has not chosen a password yet.
            IdleTimeout: ``auth.idle_timeout`` — no request with this sign-in for ``idle_lock_minutes`` (and a
                minute's grace for the page's activity reports).
        """
        now = self._clock.now()
        claims = self._tokens.verify(token, now)
        if claims.role is Role.SUBSCRIBER:
            raise Forbidden("only staff tokens are renewed", code="auth.role_forbidden")
        signed_in_at = claims.signed_in_at or claims.issued_at
        if now - signed_in_at >= timedelta(hours=self._rules.max_session_hours):
            raise Unauthenticated("the session has ended; sign in with your password again", code="auth.session_ended")
        with self._uow() as uow:
            member = uow.staff.get(claims.staff_id)
            outlet = uow.outlets.get(member.outlet_code) if member is not None else None
            state = uow.staff.session_state(claims.staff_id, session_key(claims.staff_id, signed_in_at))
            if member is None or state is None:
                raise Unauthenticated("the token is invalid", code="auth.token_invalid")
            if not member.active:
                raise StaffDisabled("this staff member is disabled; ask an administrator")
            if member.password_change_required:
                raise PasswordChangeRequired("choose a new password first")
            if self._idle(state.last_active_at, now):
                raise self._idle_refusal(uow, claims.staff_id, str(member.outlet_code), "renew", now)
            self._note_activity(uow, claims.staff_id, session_key(claims.staff_id, signed_in_at), state, now)
        return self._signed_in(
            member, outlet.time_zone if outlet else DEFAULT_TIME_ZONE, now, signed_in_at=signed_in_at
        )

    def change_password(self, token: str, current_password: str, new_password: str) -> SignedIn:
        """The signed-in member's new password, replacing ``current_password``; a fresh token (same sign-in time)
        that serves everything again when the change was required. Audited as ``staff.password_changed``.

        Raises:
            Unauthenticated: the token expired or is invalid. StaffDisabled.
            Forbidden: ``auth.password_wrong`` — the current password is wrong (counted toward the staff code's
                sign-in lock-out); ``auth.role_forbidden`` for a self-service token.
            TooManyRequests: ``auth.locked``.
            InvalidInput: ``auth.password_policy`` — the new password breaks a rule (:func:`broken_password_rules`; the
                message names every rule broken).
        """
        now = self._clock.now()
        claims = self._tokens.verify(token, now)
        if claims.role is Role.SUBSCRIBER:
            raise Forbidden("only staff change passwords", code="auth.role_forbidden")
        signed_in_at = claims.signed_in_at or claims.issued_at
        with self._uow() as uow:
            member = uow.staff.get(claims.staff_id)
        if member is None:
            raise Unauthenticated("the token is invalid", code="auth.token_invalid")
        if not member.active:
            raise StaffDisabled("this staff member is disabled; ask an administrator")
        broken = broken_password_rules(new_password, current_password, member.code or "")
        if broken:
            raise InvalidInput("; ".join(rule.message for rule in broken), code="auth.password_policy")
        subject = self._blind_index.index(f"staff-sign-in:{member.code or member.id}")
        new_hash = self._hasher.hash(new_password)
        with self._uow() as uow:
            locked_until = self._locked_until(uow, subject, now)
            verified = locked_until is None and self._hasher.verify(member.credential_hash, current_password)
            if verified:
                uow.staff.set_credential(member.id, new_hash, now, change_required=False)
            elif locked_until is None:
                uow.throttle.add(self._ids.new_id(), SIGN_IN_FAILURES, subject, now)
            uow.audit.append(
                AuditRecord(
                    "staff.password_changed" if verified else "staff.password_change_refused",
                    f"staff:{member.id}",
                    str(member.outlet_code),
                    f"staff:{member.id}",
                    {"forced": member.password_change_required} if verified else {"locked": locked_until is not None},
                ),
                now,
            )
            uow.staff.record_activity(member.id, session_key(member.id, signed_in_at), now)
            outlet = uow.outlets.get(member.outlet_code)
            uow.commit()
        if locked_until is not None:
            raise TooManyRequests(
                "too many wrong passwords for this staff code; try again later",
                retry_after_seconds=math.ceil((locked_until - now).total_seconds()),
                code="auth.locked",
            )
        if not verified:
            raise Forbidden("the current password is wrong", code="auth.password_wrong")
        changed = replace(member, password_change_required=False)
        return self._signed_in(
            changed, outlet.time_zone if outlet else DEFAULT_TIME_ZONE, now, signed_in_at=signed_in_at
        )

    def _note_activity(self, uow: UnitOfWork, staff_id: str, key: str, state: StaffSessionState, now: datetime) -> None:
        """A request with the sign-in ``key``: its last activity written (and committed) if older than
        ``ACTIVITY_WRITE_SECONDS``."""
        seen = state.last_active_at
        if seen is None or now - seen >= timedelta(seconds=ACTIVITY_WRITE_SECONDS):
            uow.staff.record_activity(staff_id, key, now)
            uow.commit()

    def _idle(self, last_active_at: datetime | None, now: datetime) -> bool:
        """Whether a sign-in last active at ``last_active_at`` has been idle too long to serve anything at ``now``."""
        idle = timedelta(minutes=self._rules.idle_lock_minutes, seconds=ACTIVITY_GRACE_SECONDS)
        return last_active_at is None or now - last_active_at > idle

    def _idle_refusal(self, uow: UnitOfWork, staff_id: str, outlet: str, via: str, now: datetime) -> IdleTimeout:
        """Audit an idle sign-in's refused request (``via``: ``renew`` or ``request``) and return the error to raise."""
        uow.audit.append(
            AuditRecord("staff.idle_timeout", f"staff:{staff_id}", outlet, f"staff:{staff_id}", {"via": via}), now
        )
        uow.commit()
        return IdleTimeout(
            f"no activity for more than {self._rules.idle_lock_minutes} minutes; enter your password again"
        )

    def _signed_in(self, member: StaffMember, time_zone: str, now: datetime, *, signed_in_at: datetime) -> SignedIn:
        token = self._tokens.issue(member.id, member.role, member.outlet_code, now, signed_in_at=signed_in_at)
        claims = self._tokens.verify(token, now)
        return SignedIn(
            token,
            Actor(f"staff:{member.id}", member.role, str(member.outlet_code)),
            claims.expires_at,
            time_zone,
            staff_code=member.code or "",
            idle_lock_minutes=self._rules.idle_lock_minutes,
            signed_in_at=claims.signed_in_at or signed_in_at,
            expires_in_seconds=int((claims.expires_at - now).total_seconds()),
            password_change_required=member.password_change_required,
        )

    def self_service_token(self, attempt_id: str) -> tuple[str, datetime]:
        """A token that lets the subscriber act on their own self-service attempt, and nothing else."""
        now = self._clock.now()
        token = self._tokens.issue(attempt_id, Role.SUBSCRIBER, OutletCode(SELF_SERVICE_OUTLET), now)
        return token, self._tokens.verify(token, now).expires_at

    def known_actor(self, token: str) -> Actor | None:
        """The actor a bearer token stands for when that needs no read: a self-service token, or a staff sign-in
        this worker found usable less than the :class:`RecentSignIns` time ago. None when :meth:`actor_for` must
        read the sign-in (it answers the same for a known one), so a caller may keep the read off its event loop.

        Raises:
            Unauthenticated: the token expired or is forged.
        """
        now = self._clock.now()
        return self._known_actor(self._tokens.verify(token, now), now)

    def _known_actor(self, claims: TokenClaims, now: datetime) -> Actor | None:
        if claims.role is Role.SUBSCRIBER:
            return Actor(f"self:{claims.staff_id}", Role.SUBSCRIBER, SELF_SERVICE_OUTLET)
        if self._recent.usable(session_key(claims.staff_id, claims.signed_in_at or claims.issued_at), now):
            return Actor(f"staff:{claims.staff_id}", claims.role, str(claims.outlet_code))
        return None

    def actor_for(self, token: str) -> Actor:
        """The actor a bearer token stands for. A staff token's member is read (one primary-key read, joined with
        the sign-in's last activity, which is written when older than ``ACTIVITY_WRITE_SECONDS``), unless this
        worker found the sign-in usable less than the :class:`RecentSignIns` time ago (then no transaction).

        Raises:
            Unauthenticated: the token expired or is forged, or its member is gone (``auth.token_invalid``).
            StaffDisabled: the member was disabled since signing in (at once, not when the token expires).
            PasswordChangeRequired: the member must choose a new password before anything else.
            IdleTimeout: ``auth.idle_timeout`` — no request with this sign-in for ``idle_lock_minutes`` (and
                ``ACTIVITY_GRACE_SECONDS``); audited as ``staff.idle_timeout``.
        """
        now = self._clock.now()
        claims = self._tokens.verify(token, now)
        known = self._known_actor(claims, now)
        if known is not None:
            return known
        key = session_key(claims.staff_id, claims.signed_in_at or claims.issued_at)
        actor = Actor(f"staff:{claims.staff_id}", claims.role, str(claims.outlet_code))
        with self._uow() as uow:
            state = uow.staff.session_state(claims.staff_id, key)
            if state is None:
                raise Unauthenticated("the token is invalid", code="auth.token_invalid")
            if not state.active:
                raise StaffDisabled("this staff member is disabled; ask an administrator")
            if state.password_change_required:
                raise PasswordChangeRequired("choose a new password first (POST /v1/auth/password)")
            if self._idle(state.last_active_at, now):
                raise self._idle_refusal(uow, claims.staff_id, str(claims.outlet_code), "request", now)
            self._note_activity(uow, claims.staff_id, key, state, now)
        self._recent.remember(claims.staff_id, key, now)
        return actor
