"""A populated database with real crypto for the privacy suite: key file in tmp_path, EnvelopeCipher,
Ed25519 signer, and helpers that write rows the way the product's writers do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from realname.adapters.crypto.envelope import EnvelopeCipher
from realname.adapters.crypto.keyfile import LocalKeyFileProvider, create_key_file
from realname.adapters.crypto.signing import Ed25519Signer
from realname.adapters.storage import tables as t
from realname.adapters.storage.privacy_repositories import SqlPrivacyUnitOfWork, evidence
from realname.adapters.storage.repositories import SqlAuditLog
from realname.app.audit_admin import AuditAdmin
from realname.app.key_rotation import KeyRotation
from realname.app.privacy import (
    ATTEMPT_ID_NUMBER,
    EVIDENCE_FRAME,
    STAFF_NAME,
    SUBSCRIBER_ID_NUMBER,
    SUBSCRIBER_NAME,
    PrivacyUnitOfWork,
)
from realname.app.retention import Retention
from realname.domain.audit import AuditRecord
from realname.domain.policy import Policy
from tests.fakes import FakeBlindIndexer, FixedClock

OUTLET = "BJ-001"


@dataclass
class PrivacyWorld:
    engine: sa.Engine
    keys: LocalKeyFileProvider
    cipher: EnvelopeCipher
    signer: Ed25519Signer
    clock: FixedClock

    def uow(self) -> PrivacyUnitOfWork:
        return SqlPrivacyUnitOfWork(self.engine)

    def audit_admin(self, every_events: int = 1000) -> AuditAdmin:
        return AuditAdmin(self.uow, self.signer, self.clock, every_events=every_events)

    def key_rotation(self) -> KeyRotation:
        return KeyRotation(self.uow, self.keys, self.cipher, self.clock, retire_grace_seconds=0.3)

    def retention(self, policy: Policy | None = None) -> Retention:
        return Retention(self.uow, self.clock, policy or Policy())

    def append_events(self, count: int) -> None:
        with self.engine.begin() as connection:
            log = SqlAuditLog(connection)
            for i in range(count):
                self.clock.advance(seconds=1)
                log.append(AuditRecord(f"test.event{i % 4}", "cli:operator", OUTLET, f"attempt:a{i}"), self.clock.now())

    def add_staff(self, staff_id: str, name: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                t.staff.insert().values(
                    id=staff_id,
                    name_ciphertext=self.cipher.encrypt(name.encode(), STAFF_NAME.context(staff_id)),
                    role="clerk",
                    outlet_code=OUTLET,
                    credential_hash="argon2-placeholder",
                    created_at=self.clock.now(),
                )
            )

    def add_subscriber(
        self,
        subscriber_id: str,
        id_number: str,
        name: str,
        *,
        held_numbers: int = 0,
        created_at: datetime | None = None,
        last_service_ended_at: datetime | None = None,
    ) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                t.subscriber.insert().values(
                    id=subscriber_id,
                    id_index=FakeBlindIndexer().index(id_number),
                    id_ciphertext=self.cipher.encrypt(id_number.encode(), SUBSCRIBER_ID_NUMBER.context(subscriber_id)),
                    name_ciphertext=self.cipher.encrypt(name.encode(), SUBSCRIBER_NAME.context(subscriber_id)),
                    held_numbers=held_numbers,
                    created_at=created_at or self.clock.now(),
                    last_service_ended_at=last_service_ended_at,
                )
            )

    def add_attempt(self, attempt_id: str, id_number: str, *, created_at: datetime | None = None) -> None:
        created = created_at or self.clock.now()
        with self.engine.begin() as connection:
            connection.execute(
                t.attempt.insert().values(
                    id=attempt_id,
                    purpose="register",
                    outlet_code=OUTLET,
                    clerk_ref="staff:clerk-1",
                    device_id="kiosk-1",
                    state="decided",
                    created_at=created,
                    expires_at=created + timedelta(minutes=30),
                    id_index=FakeBlindIndexer().index(id_number),
                    id_ciphertext=self.cipher.encrypt(id_number.encode(), ATTEMPT_ID_NUMBER.context(attempt_id)),
                    outcome="rejected",
                    reasons='["face.mismatch"]',
                )
            )

    def add_evidence(self, evidence_id: str, attempt_id: str, frame: bytes, delete_after: datetime) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                evidence.insert().values(
                    id=evidence_id,
                    attempt_id=attempt_id,
                    ciphertext=self.cipher.encrypt(frame, EVIDENCE_FRAME.context(evidence_id)),
                    created_at=self.clock.now(),
                    delete_after=delete_after,
                )
            )


def build_world(engine: sa.Engine, tmp_path: Path) -> PrivacyWorld:
    key_file = tmp_path / "keys" / "keys.json"
    create_key_file(key_file)
    keys = LocalKeyFileProvider(key_file)
    material = keys.signing_keys()
    with engine.begin() as connection:
        connection.execute(t.outlet.insert().values(code=OUTLET, name="Beijing Xidan", created_at=FixedClock().now()))
    return PrivacyWorld(
        engine=engine,
        keys=keys,
        cipher=EnvelopeCipher(keys),
        signer=Ed25519Signer(material.private_key, material.public_keys),
        clock=FixedClock(),
    )
