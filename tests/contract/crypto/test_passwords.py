"""Argon2SecretHasher: argon2id hashes that verify the right secret only, and know when to rehash."""

from __future__ import annotations

import pytest

from realname.adapters.crypto.passwords import Argon2SecretHasher

# Cheap parameters keep the suite fast; the production defaults are checked once below.
FAST = {"time_cost": 1, "memory_kib": 8 * 1024, "parallelism": 1}


@pytest.fixture(scope="module")
def hasher() -> Argon2SecretHasher:
    return Argon2SecretHasher(**FAST)


def test_hash_is_argon2id_and_verifies(hasher: Argon2SecretHasher) -> None:
    hashed = hasher.hash("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert "correct horse" not in hashed
    assert hasher.verify(hashed, "correct horse battery staple")


def test_wrong_secret_fails(hasher: Argon2SecretHasher) -> None:
    hashed = hasher.hash("correct horse battery staple")
    assert not hasher.verify(hashed, "correct horse battery stapl")
    assert not hasher.verify(hashed, "")


def test_hashes_are_salted(hasher: Argon2SecretHasher) -> None:
    assert hasher.hash("same secret") != hasher.hash("same secret")


@pytest.mark.parametrize("stored", ["", "not a hash", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$BBBB"])
def test_malformed_stored_hash_fails_closed(hasher: Argon2SecretHasher, stored: str) -> None:
    assert not hasher.verify(stored, "anything")


def test_needs_rehash_when_parameters_change(hasher: Argon2SecretHasher) -> None:
    hashed = hasher.hash("secret")
    assert not hasher.needs_rehash(hashed)
    assert Argon2SecretHasher(time_cost=2, memory_kib=8 * 1024, parallelism=1).needs_rehash(hashed)
    assert hasher.needs_rehash("garbage")


def test_default_parameters_are_argon2id_t3_m64mib_p4() -> None:
    hashed = Argon2SecretHasher().hash("secret")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


@pytest.mark.parametrize("secret", ["", "x" * 1025])
def test_empty_or_huge_secret_is_refused(hasher: Argon2SecretHasher, secret: str) -> None:
    with pytest.raises(ValueError):
        hasher.hash(secret)
    assert not hasher.verify(hasher.hash("x"), secret)
