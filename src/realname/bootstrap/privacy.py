"""Builds the privacy use cases (audit checkpoints and export, key rotation, retention) for the container."""

from __future__ import annotations

import sqlalchemy as sa

from realname.adapters.cli.privacy_commands import PrivacyServices
from realname.adapters.crypto.signing import Ed25519Signer
from realname.adapters.storage.privacy_repositories import SqlPrivacyUnitOfWork
from realname.app.audit_admin import AuditAdmin
from realname.app.key_rotation import KeyRotation
from realname.app.keys import KeyProvider, RewrappingCipher, SecretMaterial
from realname.app.ports import Clock
from realname.app.privacy import PrivacyUnitOfWorkFactory
from realname.app.retention import Retention
from realname.domain.policy import Policy


def privacy_unit_of_work(engine: sa.Engine) -> PrivacyUnitOfWorkFactory:
    return lambda: SqlPrivacyUnitOfWork(engine)


def build_checkpoint_signer(material: SecretMaterial) -> Ed25519Signer:
    keys = material.signing_keys()
    return Ed25519Signer(keys.private_key, keys.public_keys)


def build_privacy_services(
    *,
    engine: sa.Engine,
    keys: KeyProvider,
    material: SecretMaterial,
    cipher: RewrappingCipher,
    clock: Clock,
    policy: Policy,
    checkpoint_every: int,
) -> PrivacyServices:
    """The use cases behind ``realname keys|audit checkpoint|audit export|purge``."""
    uow = privacy_unit_of_work(engine)
    return PrivacyServices(
        audit_admin=AuditAdmin(uow, build_checkpoint_signer(material), clock, every_events=checkpoint_every),
        key_rotation=KeyRotation(uow, keys, cipher, clock),
        retention=Retention(uow, clock, policy),
    )
