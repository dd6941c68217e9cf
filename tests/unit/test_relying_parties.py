"""The pure rules of relying parties' checks: signing, freshness, request headers, names, held-since, enumeration."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from realname.domain.errors import Forbidden, InvalidInput, Unauthenticated
from realname.domain.relying_parties import (
    BindingSpan,
    CheckKind,
    CheckPolicy,
    Consent,
    Elements,
    PartyStatus,
    RelyingParty,
    SignedRequest,
    canonical_request,
    cert_fingerprint,
    enumeration_suspected,
    held_since,
    identity_result,
    normalise_name,
    parse_fingerprint,
    probe_ref,
    require_fresh,
    require_valid_signature,
    sign_request,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
SECRET = b"s3cret-of-the-party"


def signed(**changes: str) -> SignedRequest:
    body = b'{"kind":"status"}'
    ts, nonce = str(int(NOW.timestamp())), "abcdefghijklmnop"
    request = SignedRequest(
        "demo-bank", ts, nonce, sign_request(SECRET, "POST", "/v1/checks", ts, nonce, body), "POST", "/v1/checks", body
    )
    return replace(request, **changes)  # type: ignore[arg-type]


def test_signature_is_hmac_over_the_documented_lines() -> None:
    body = b'{"kind":"status"}'
    lines = [
        "REALNAME-HMAC-SHA256",
        "POST",
        "/v1/checks",
        "1765022400",
        "abcdefghijklmnop",
        hashlib.sha256(body).hexdigest(),
    ]
    assert canonical_request("post", "/v1/checks", "1765022400", "abcdefghijklmnop", body) == "\n".join(lines).encode()
    expected = hmac.new(SECRET, "\n".join(lines).encode(), hashlib.sha256).hexdigest()
    assert sign_request(SECRET, "POST", "/v1/checks", "1765022400", "abcdefghijklmnop", body) == expected


def test_signature_covers_every_part() -> None:
    require_valid_signature(SECRET, signed())
    for tampered in (
        signed(method="PUT"),
        signed(path="/v1/checks?x=1"),
        signed(timestamp=str(int(NOW.timestamp()) + 1)),
        signed(nonce="abcdefghijklmnoq"),
        replace(signed(), body=b'{"kind":"three_element"}'),
    ):
        with pytest.raises(Unauthenticated) as refused:
            require_valid_signature(SECRET, tampered)
        assert refused.value.code == "party.signature_invalid"
    with pytest.raises(Unauthenticated):
        require_valid_signature(b"another secret", signed())


@pytest.mark.parametrize(
    "changes",
    [
        {"party_id": ""},
        {"timestamp": ""},
        {"timestamp": "12.5"},
        {"timestamp": "١٧٦٥٠٢٢٤٠٠"},  # Arabic-Indic digits are digits to Python, not to us
        {"nonce": "short"},
        {"nonce": "has spaces in it ....."},
        {"signature": "zz" * 32},
        {"signature": "ab" * 31},
        {"party_id": "Demo_Bank"},
    ],
)
def test_malformed_headers_are_missing_signatures(changes: dict[str, str]) -> None:
    with pytest.raises(Unauthenticated) as refused:
        signed(**changes).require_well_formed()
    assert refused.value.code == "party.signature_missing"


def test_replay_window_is_symmetric() -> None:
    moment = int(NOW.timestamp())
    require_fresh(moment - 300, NOW, 300)
    require_fresh(moment + 300, NOW, 300)
    for off in (-301, 301):
        with pytest.raises(Unauthenticated) as refused:
            require_fresh(moment + off, NOW, 300)
        assert refused.value.code == "party.signature_expired"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("张三", "张三"),
        ("  张\u3000三 ", "张 三"),
        ("ＡＢＣ", "abc"),
        ("阿依古丽・买买提", "阿依古丽·买买提"),
        ("阿依古丽 • 买买提", "阿依古丽·买买提"),
        ("Jean   Dupont", "jean dupont"),
    ],
)
def test_names_are_normalised(given: str, expected: str) -> None:
    assert normalise_name(given) == expected


@pytest.mark.parametrize("bad", ["", "   ", "a\x00b", "x" * 101])
def test_unusable_names_are_input_errors(bad: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_name(bad)
    assert refused.value.code == "check.name_invalid"


def span(holder: str, start: int, end: int | None = None, reason: str | None = None) -> BindingSpan:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return BindingSpan(
        holder, base + timedelta(days=start), base + timedelta(days=end) if end is not None else None, reason
    )


def test_held_since_walks_back_over_sim_replacements_only() -> None:
    opened = date(2026, 1, 11)
    assert held_since([span("a", 10)], opened)
    assert not held_since([span("a", 10)], date(2026, 1, 10))
    assert held_since([span("a", 5, 20, "sim_replaced"), span("a", 20)], opened)
    assert not held_since([span("b", 0, 5, "surrendered"), span("a", 20)], opened)
    assert not held_since([span("a", 0, 5, "surrendered"), span("a", 20)], opened)  # left and came back
    assert not held_since([span("a", 5, 20, "sim_replaced")], opened)  # not held now
    assert not held_since([], opened)


def test_enumeration_counts_include_the_check_asked() -> None:
    policy = CheckPolicy(max_numbers_per_id=3, max_ids_per_number=2)
    assert not enumeration_suspected(3, 2, policy)
    assert enumeration_suspected(4, 1, policy)
    assert enumeration_suspected(1, 3, policy)


def test_probe_refs_are_party_scoped() -> None:
    index = "a" * 64
    assert probe_ref("bank-a", index) != probe_ref("bank-b", index)
    assert index not in probe_ref("bank-a", index) and len(probe_ref("bank-a", index)) == 32


def test_identity_result_needs_every_asked_element() -> None:
    assert identity_result(Elements(True, True, True)).value == "match"
    assert identity_result(Elements(True, True, None)).value == "match"
    assert identity_result(Elements(True, True, False)).value == "no_match"
    assert identity_result(Elements(False, True, True)).value == "no_match"


def test_party_rules() -> None:
    party = RelyingParty("demo-bank", "Demo", "accounts", frozenset({CheckKind.STATUS}), 10, 5, NOW)
    party.require_usable()
    with pytest.raises(Forbidden) as kind:
        party.require_allowed(CheckKind.THREE_ELEMENT)
    assert kind.value.code == "check.kind_not_allowed"
    for status, code in ((PartyStatus.DISABLED, "party.disabled"), (PartyStatus.SUSPENDED, "party.suspended")):
        with pytest.raises(Forbidden) as refused:
            replace(party, status=status).require_usable()
        assert refused.value.code == code
    bad_fields: list[dict[str, object]] = [
        {"id": "X"},
        {"allowed_kinds": frozenset()},
        {"daily_quota": 0},
        {"name": "\x1b[31m"},
    ]
    for bad in bad_fields:
        with pytest.raises(InvalidInput):
            replace(party, **bad)  # type: ignore[arg-type]


def test_a_pinned_party_needs_exactly_its_certificate() -> None:
    pinned_sha256 = cert_fingerprint(b"the party's certificate, DER")
    party = RelyingParty(
        "demo-bank", "Demo", "accounts", frozenset({CheckKind.STATUS}), 10, 5, NOW, client_cert_sha256=pinned_sha256
    )
    party.require_client_cert(pinned_sha256)
    with pytest.raises(Unauthenticated) as missing:
        party.require_client_cert(None)
    assert missing.value.code == "party.client_cert_required"
    with pytest.raises(Forbidden) as other:
        party.require_client_cert(cert_fingerprint(b"another certificate the same CA signed"))
    assert other.value.code == "party.client_cert_mismatch"
    unpinned = replace(party, client_cert_sha256=None)
    unpinned.require_client_cert(None)
    unpinned.require_client_cert(pinned_sha256)
    for bad in ("AB" * 32, "ab" * 31, "sha256:" + "ab" * 32, "zz" * 32):
        with pytest.raises(InvalidInput) as refused:
            replace(party, client_cert_sha256=bad)
        assert refused.value.code == "party.client_cert_invalid"


def test_fingerprints_are_read_as_proxies_write_them() -> None:
    hex_digest = hashlib.sha256(b"x").hexdigest()
    assert cert_fingerprint(b"x") == hex_digest
    colons = ":".join(hex_digest[i : i + 2] for i in range(0, 64, 2)).upper()
    for written in (hex_digest, hex_digest.upper(), colons, f"sha256:{hex_digest}", f" {hex_digest} "):
        assert parse_fingerprint(written) == hex_digest
    for bad in ("", hex_digest[:-1], hex_digest + "0", colons[:-1], "sha1:" + hex_digest, hex_digest[:-2] + "zz"):
        assert parse_fingerprint(bad) is None


def test_consent_is_recent_and_not_in_the_future() -> None:
    policy = CheckPolicy()
    Consent("app-consent/1", NOW - timedelta(days=366)).require_valid(NOW, policy)
    Consent("app-consent/1", NOW + timedelta(minutes=4)).require_valid(NOW, policy)
    cases = {
        "check.consent_stale": Consent("app-consent/1", NOW - timedelta(days=367)),
        "check.consent_invalid": Consent("app-consent/1", NOW + timedelta(minutes=6)),
    }
    for code, consent in cases.items():
        with pytest.raises(InvalidInput) as refused:
            consent.require_valid(NOW, policy)
        assert refused.value.code == code
    with pytest.raises(InvalidInput):
        Consent("has spaces", NOW).require_valid(NOW, policy)
