"""Ed25519Signer: signatures verify, tampering fails, and old key ids verify after a signing-key rotation."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from realname.adapters.crypto.keyfile import LocalKeyFileProvider
from realname.adapters.crypto.signing import Ed25519Signer, key_id_for
from realname.domain.errors import DependencyUnavailable

CHECKPOINT = b'{"seq":1000,"head":"ab12"}'


def _signer(provider: LocalKeyFileProvider) -> Ed25519Signer:
    keys = provider.signing_keys()
    return Ed25519Signer(keys.private_key, keys.public_keys)


def test_signature_verifies(local_provider: LocalKeyFileProvider) -> None:
    signer = _signer(local_provider)
    signature = signer.sign(CHECKPOINT)
    assert len(signature) == 64
    assert signer.verify(CHECKPOINT, signature, signer.key_id)


def test_key_id_is_a_prefix_of_the_public_key_hash(local_provider: LocalKeyFileProvider) -> None:
    signer = _signer(local_provider)
    public = signer.public_key(signer.key_id)
    assert public is not None and len(public) == 32
    assert signer.key_id == hashlib.sha256(public).hexdigest()[:16] == key_id_for(public)


def test_tampered_message_or_signature_fails(local_provider: LocalKeyFileProvider) -> None:
    signer = _signer(local_provider)
    signature = signer.sign(CHECKPOINT)
    assert not signer.verify(CHECKPOINT.replace(b"1000", b"1001"), signature, signer.key_id)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not signer.verify(CHECKPOINT, flipped, signer.key_id)
    assert not signer.verify(CHECKPOINT, signature[:-1], signer.key_id)
    assert not signer.verify(CHECKPOINT, signature, "0123456789abcdef")


def test_old_key_id_still_verifies_after_rotation(local_provider: LocalKeyFileProvider) -> None:
    before = _signer(local_provider)
    old_signature = before.sign(CHECKPOINT)
    local_provider.rotate_signing_key()
    after = _signer(local_provider)
    assert after.key_id != before.key_id
    assert after.known_key_ids == {before.key_id, after.key_id}
    assert after.verify(CHECKPOINT, old_signature, before.key_id)
    assert not after.verify(CHECKPOINT, old_signature, after.key_id)
    assert after.verify(CHECKPOINT, after.sign(CHECKPOINT), after.key_id)


def test_a_signature_by_an_unknown_key_fails() -> None:
    stranger = Ed25519PrivateKey.generate()
    signer = Ed25519Signer(Ed25519PrivateKey.generate().private_bytes_raw())
    assert not signer.verify(CHECKPOINT, stranger.sign(CHECKPOINT), signer.key_id)


def test_a_public_key_filed_under_the_wrong_id_is_refused() -> None:
    private = Ed25519PrivateKey.generate().private_bytes_raw()
    other_public = Ed25519Signer(Ed25519PrivateKey.generate().private_bytes_raw())
    public = other_public.public_key(other_public.key_id)
    assert public is not None
    with pytest.raises(DependencyUnavailable):
        Ed25519Signer(private, {"0000000000000000": public})
