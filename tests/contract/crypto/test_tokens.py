"""HmacTokenIssuer: tokens round-trip, expire, and refuse any tampering with a typed Unauthenticated."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realname.adapters.crypto.tokens import HmacTokenIssuer
from realname.domain.errors import Unauthenticated
from realname.domain.organisation import OutletCode, Role

KEY = bytes(range(32))
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
OUTLET = OutletCode("BJ-001")
ISSUER = HmacTokenIssuer(KEY, timedelta(minutes=15))


def _code_of(token: str, now: datetime = NOW, issuer: HmacTokenIssuer = ISSUER) -> str:
    with pytest.raises(Unauthenticated) as caught:
        issuer.verify(token, now)
    return caught.value.code


def test_issued_token_verifies_with_its_claims() -> None:
    token = ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW)
    claims = ISSUER.verify(token, NOW + timedelta(minutes=14))
    assert (claims.staff_id, claims.role, claims.outlet_code) == ("staff-7", Role.CLERK, OUTLET)
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + timedelta(minutes=15)
    assert len(claims.token_id) == 24


def test_token_ids_differ() -> None:
    first = ISSUER.verify(ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW), NOW)
    second = ISSUER.verify(ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW), NOW)
    assert first.token_id != second.token_id


def test_explicit_ttl_overrides_the_default() -> None:
    token = ISSUER.issue("staff-7", Role.ADMIN, OUTLET, NOW, ttl=timedelta(minutes=2))
    assert ISSUER.verify(token, NOW + timedelta(seconds=119)).role is Role.ADMIN
    assert _code_of(token, NOW + timedelta(minutes=2)) == "auth.token_expired"


def test_token_expires_at_its_expiry() -> None:
    token = ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW)
    assert _code_of(token, NOW + timedelta(minutes=15)) == "auth.token_expired"
    assert _code_of(token, NOW + timedelta(days=3)) == "auth.token_expired"


def test_token_from_the_future_is_invalid() -> None:
    token = ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW + timedelta(minutes=5))
    assert _code_of(token, NOW) == "auth.token_invalid"


def _forge(token: str, **changes: object) -> str:
    prefix, body, mac = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{prefix}.{forged}.{mac}"


@pytest.mark.parametrize(
    "changes", [{"role": "admin"}, {"outlet": "SH-002"}, {"sub": "staff-8"}, {"exp": 4_000_000_000}]
)
def test_edited_claims_are_invalid(changes: dict[str, object]) -> None:
    token = ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW)
    assert _code_of(_forge(token, **changes)) == "auth.token_invalid"


def test_token_signed_with_another_key_is_invalid() -> None:
    other = HmacTokenIssuer(bytes(range(1, 33)))
    assert _code_of(other.issue("staff-7", Role.CLERK, OUTLET, NOW)) == "auth.token_invalid"


def test_every_single_character_change_is_rejected() -> None:
    token = ISSUER.issue("staff-7", Role.REVIEWER, OUTLET, NOW)
    for position in range(len(token)):
        replacement = "A" if token[position] != "A" else "B"
        altered = token[:position] + replacement + token[position + 1 :]
        with pytest.raises(Unauthenticated):
            ISSUER.verify(altered, NOW)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300) | st.from_regex(r"rn1\.[A-Za-z0-9_-]{0,80}\.[A-Za-z0-9_-]{0,60}", fullmatch=True))
def test_arbitrary_strings_are_only_ever_invalid(text: str) -> None:
    with pytest.raises(Unauthenticated) as caught:
        ISSUER.verify(text, NOW)
    assert caught.value.code == "auth.token_invalid"


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1), timedelta(hours=25)])
def test_lifetimes_out_of_range_are_refused(ttl: timedelta) -> None:
    with pytest.raises(ValueError):
        ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW, ttl=ttl)


def test_short_key_and_naive_time_are_refused() -> None:
    with pytest.raises(ValueError):
        HmacTokenIssuer(b"short")
    with pytest.raises(ValueError):
        ISSUER.issue("staff-7", Role.CLERK, OUTLET, datetime(2026, 11, 22, 9, 30))


def test_a_renewed_token_carries_the_sign_in_time_and_an_edited_one_is_invalid() -> None:
    signed_in = NOW - timedelta(hours=3)
    token = ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW, signed_in_at=signed_in)
    claims = ISSUER.verify(token, NOW)
    assert (claims.signed_in_at, claims.issued_at) == (signed_in, NOW)
    # A token without the claim (issued before it existed) was signed in when it was issued.
    assert ISSUER.verify(ISSUER.issue("staff-7", Role.CLERK, OUTLET, NOW), NOW).signed_in_at == NOW
    assert _code_of(_forge(token, auth=int(NOW.timestamp()))) == "auth.token_invalid"


def test_a_sign_in_time_after_the_issue_time_is_refused() -> None:
    key_holder = HmacTokenIssuer(KEY, timedelta(minutes=15))
    later = key_holder.issue("staff-7", Role.CLERK, OUTLET, NOW, signed_in_at=NOW + timedelta(minutes=5))
    assert _code_of(later) == "auth.token_invalid"
