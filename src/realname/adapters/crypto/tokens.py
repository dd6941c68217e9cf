"""Short-lived staff tokens: ``rn1.<payload>.<mac>``, base64url, HMAC-SHA-256 under the token key.

The payload is compact JSON with the staff id, role, outlet, issue and expiry times (whole seconds
since the epoch), a random token id and, on staff tokens, when the member signed in (``auth``: renewals carry it). Verification checks the MAC in constant time before reading
anything in the payload.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from realname.app.keys import TokenClaims
from realname.domain.errors import InvalidInput, Unauthenticated
from realname.domain.organisation import OutletCode, Role

TOKEN_PREFIX = "rn1"  # noqa: S105 - a format marker, not a secret
MIN_KEY_BYTES = 32
MAX_TOKEN_CHARS = 2048
MAX_TTL = timedelta(hours=24)
ALLOWED_CLOCK_SKEW = timedelta(seconds=60)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    data = base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True)
    if _b64url(data) != text:
        # Non-canonical encodings (different unused trailing bits) would let one token have many spellings.
        raise ValueError("non-canonical base64url")
    return data


def _invalid(cause: str = "the token is invalid") -> Unauthenticated:
    return Unauthenticated(cause, code="auth.token_invalid")


def _epoch_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("token times must be timezone-aware")
    return int(moment.timestamp())


class HmacTokenIssuer:
    """``TokenIssuer`` keyed by a secret of at least 32 bytes."""

    def __init__(self, key: bytes, default_ttl: timedelta = timedelta(minutes=15)) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a token key has at least {MIN_KEY_BYTES} bytes")
        if not timedelta(0) < default_ttl <= MAX_TTL:
            raise ValueError("a token lifetime is positive and at most 24 hours")
        self._key = key
        self._default_ttl = default_ttl

    def __repr__(self) -> str:
        return f"HmacTokenIssuer(default_ttl={self._default_ttl})"

    def issue(
        self,
        staff_id: str,
        role: Role,
        outlet_code: OutletCode,
        now: datetime,
        ttl: timedelta | None = None,
        signed_in_at: datetime | None = None,
    ) -> str:
        lifetime = self._default_ttl if ttl is None else ttl
        if not timedelta(0) < lifetime <= MAX_TTL:
            raise ValueError("a token lifetime is positive and at most 24 hours")
        issued_at = _epoch_seconds(now)
        payload = {
            "sub": staff_id,
            "role": role.value,
            "outlet": outlet_code.value,
            "iat": issued_at,
            "exp": issued_at + int(lifetime.total_seconds()),
            "jti": secrets.token_hex(12),
        }
        if signed_in_at is not None:
            payload["auth"] = _epoch_seconds(signed_in_at)
        body = _b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        signed = f"{TOKEN_PREFIX}.{body}"
        return f"{signed}.{_b64url(self._mac(signed))}"

    def verify(self, token: str, now: datetime) -> TokenClaims:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise _invalid()
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise _invalid()
        try:
            given_mac = _unb64url(parts[2])
        except (binascii.Error, ValueError) as exc:
            raise _invalid() from exc
        if not hmac.compare_digest(self._mac(f"{parts[0]}.{parts[1]}"), given_mac):
            raise _invalid()
        try:
            claims = self._claims(json.loads(_unb64url(parts[1])))
        except (binascii.Error, ValueError, KeyError, TypeError, OverflowError, OSError, InvalidInput) as exc:
            raise _invalid() from exc
        moment = now.astimezone(UTC)
        if claims.issued_at > moment + ALLOWED_CLOCK_SKEW:
            raise _invalid("the token was issued in the future")
        if moment >= claims.expires_at:
            raise Unauthenticated("the token has expired; sign in again", code="auth.token_expired")
        return claims

    def _mac(self, signed: str) -> bytes:
        return hmac.new(self._key, signed.encode("ascii"), hashlib.sha256).digest()

    @staticmethod
    def _claims(payload: Any) -> TokenClaims:
        if not isinstance(payload, dict):
            raise TypeError("payload is not an object")
        issued_at, expires_at = payload["iat"], payload["exp"]
        for field in (issued_at, expires_at):
            if not isinstance(field, int) or isinstance(field, bool):
                raise TypeError("token times are integers")
        if not 0 < expires_at - issued_at <= MAX_TTL.total_seconds():
            raise ValueError("token lifetime out of range")
        signed_in_at = payload.get("auth", issued_at)
        if not isinstance(signed_in_at, int) or isinstance(signed_in_at, bool) or signed_in_at > issued_at:
            raise TypeError("the sign-in time is an integer no later than the issue time")
        staff_id, role, outlet, token_id = payload["sub"], payload["role"], payload["outlet"], payload["jti"]
        if not all(isinstance(v, str) for v in (staff_id, role, outlet, token_id)) or not staff_id:
            raise TypeError("token claims are strings")
        return TokenClaims(
            staff_id=staff_id,
            role=Role(role),
            outlet_code=OutletCode(outlet),
            issued_at=datetime.fromtimestamp(issued_at, UTC),
            expires_at=datetime.fromtimestamp(expires_at, UTC),
            token_id=token_id,
            signed_in_at=datetime.fromtimestamp(signed_in_at, UTC),
        )
