"""The crypto builders the composition root calls, wired end to end over one key file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from realname.app.ports import EncryptionContext
from realname.bootstrap import crypto
from realname.domain.errors import DependencyUnavailable, Unauthenticated
from realname.domain.organisation import OutletCode, Role


def test_ensure_key_file_creates_once(tmp_path: Path) -> None:
    path = tmp_path / "var" / "keys.json"
    assert crypto.ensure_key_file(path) is True
    first = path.read_bytes()
    assert crypto.ensure_key_file(path) is False
    assert path.read_bytes() == first


def test_builders_give_working_adapters(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    crypto.ensure_key_file(path)
    provider = crypto.build_key_provider(path)
    cipher = crypto.build_cipher(provider)
    context = EncryptionContext("subscribers", "s-1", "name")
    assert cipher.decrypt(cipher.encrypt(b"name", context), context) == b"name"
    assert len(crypto.build_blind_indexer(provider).index("110101199003077777")) == 64
    signer = crypto.build_signer(provider)
    assert signer.verify(b"m", signer.sign(b"m"), signer.key_id)
    issuer = crypto.build_token_issuer(provider, ttl_minutes=15)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert issuer.verify(issuer.issue("s", Role.AUDITOR, OutletCode("HQ"), now), now).role is Role.AUDITOR


def test_token_issuer_from_a_configured_secret() -> None:
    issuer = crypto.build_token_issuer("a-long-configured-secret-value", ttl_minutes=5)
    other = crypto.build_token_issuer("another-long-configured-secret", ttl_minutes=5)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    token = issuer.issue("s", Role.CLERK, OutletCode("HQ"), now)
    assert issuer.verify(token, now).staff_id == "s"
    with pytest.raises(Unauthenticated):
        other.verify(token, now)
    with pytest.raises(ValueError):
        crypto.build_token_issuer("short", ttl_minutes=5)


def test_missing_key_file_fails_closed(tmp_path: Path) -> None:
    with pytest.raises(DependencyUnavailable) as caught:
        crypto.build_key_provider(tmp_path / "absent.json")
    assert caught.value.code == "keys.missing"
