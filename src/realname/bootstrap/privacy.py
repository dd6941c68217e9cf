"""Builds the privacy use cases (audit checkpoints with their witnesses, export, key rotation, key custody,
retention) for the container, and the scheduled privacy jobs of ``serve``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

from realname.adapters.audit_witness import FileAuditWitness, HttpAuditWitness
from realname.adapters.cli.privacy_commands import PrivacyServices
from realname.adapters.crypto.signing import Ed25519Signer
from realname.adapters.storage.privacy_repositories import SqlPrivacyUnitOfWork
from realname.app.actors import SYSTEM
from realname.app.audit_admin import AuditAdmin
from realname.app.key_custody import CustodyKeys, KeyCustody
from realname.app.key_rotation import KeyRotation
from realname.app.keys import KeyProvider, RewrappingCipher, SecretMaterial
from realname.app.ports import Clock
from realname.app.privacy import AuditWitness, PrivacyUnitOfWorkFactory, WitnessLog
from realname.app.retention import Retention
from realname.domain.errors import RealnameError
from realname.domain.policy import Policy

log = logging.getLogger("realname.privacy")


def privacy_unit_of_work(engine: sa.Engine) -> PrivacyUnitOfWorkFactory:
    return lambda: SqlPrivacyUnitOfWork(engine)


def build_checkpoint_signer(material: SecretMaterial) -> Ed25519Signer:
    keys = material.signing_keys()
    return Ed25519Signer(keys.private_key, keys.public_keys)


def build_key_custody(engine: sa.Engine, clock: Clock, keys: Callable[[], CustodyKeys]) -> KeyCustody:
    """Key custody over the database; ``keys`` loads the live key material when an operation needs it."""
    return KeyCustody(lambda: SqlPrivacyUnitOfWork(engine), clock, keys)


def build_witnesses(witness_dir: Path | None, witness_url: str | None) -> tuple[WitnessLog | None, list[AuditWitness]]:
    """The witness file (in ``witness_dir``) and the external witness (at ``witness_url``), where configured."""
    remote: list[AuditWitness] = [HttpAuditWitness(witness_url)] if witness_url else []
    return (FileAuditWitness(witness_dir) if witness_dir is not None else None), remote


def build_privacy_services(
    *,
    engine: sa.Engine,
    keys: KeyProvider,
    material: SecretMaterial,
    cipher: RewrappingCipher,
    clock: Clock,
    policy: Policy,
    checkpoint_every: int,
    checkpoint_minutes: float | None = None,
    witness: WitnessLog | None = None,
    remote_witnesses: Sequence[AuditWitness] = (),
    custody: KeyCustody | None = None,
) -> PrivacyServices:
    """The use cases behind ``realname keys|audit checkpoint|audit export|purge``."""
    uow = privacy_unit_of_work(engine)
    return PrivacyServices(
        audit_admin=AuditAdmin(
            uow,
            build_checkpoint_signer(material),
            clock,
            every_events=checkpoint_every,
            every_minutes=checkpoint_minutes,
            witness=witness,
            remote_witnesses=remote_witnesses,
        ),
        key_rotation=KeyRotation(uow, keys, cipher, clock, custody=custody),
        retention=Retention(uow, clock, policy),
    )


class PrivacyJobs:
    """The scheduled privacy work of ``serve``: an audit checkpoint when due (every N events or every N
    minutes, witnessed outside the database), the retention purge, and (with the purge) forgetting relying
    parties' request nonces too old to be replayed (``forget_nonces``), so that table stays small; and, every run,
    the printable receipt copies whose time is over (``forget_receipt_copies``).

    ``run_once`` is safe to call from several workers at once (checkpoints are unique per sequence
    number, purges lock the rows they clear). Logs carry counts only.
    """

    def __init__(
        self,
        services: PrivacyServices,
        *,
        purge_every_seconds: float = 3600.0,
        forget_nonces: Callable[[], int] | None = None,
        forget_receipt_copies: Callable[[], int] | None = None,
    ) -> None:
        self._services = services
        self._purge_every_seconds = purge_every_seconds
        self._forget_nonces = forget_nonces
        self._forget_receipt_copies = forget_receipt_copies
        self._last_purge: float | None = None

    def run_once(self, monotonic_now: float) -> None:
        if self._forget_receipt_copies is not None:
            # Every run (30 s), not with the hourly purge: a copy is due the attempt time after its receipt.
            forgotten = self._forget_receipt_copies()
            if forgotten:
                log.info("receipt copies deleted", extra={"count": forgotten})
        try:
            checkpoint = self._services.audit_admin.checkpoint_if_due()
        except RealnameError as exc:  # e.g. stored but not witnessed: the purge still runs
            log.warning("audit checkpoint not completed", extra={"code": exc.code})
        else:
            if checkpoint is not None:
                log.info("audit checkpoint signed", extra={"seq": checkpoint.seq, "key_id": checkpoint.key_id})
        if self._last_purge is None or monotonic_now - self._last_purge >= self._purge_every_seconds:
            report = self._services.retention.purge(SYSTEM)
            self._last_purge = monotonic_now
            log.info(
                "retention purge done",
                extra={"attempts": report.attempts, "evidence": report.evidence, "subscribers": report.subscribers},
            )
            if self._forget_nonces is not None:
                log.info("party nonces forgotten", extra={"count": self._forget_nonces()})

    def run_until(self, stop: threading.Event, *, interval_seconds: float = 30.0) -> None:
        """Run every ``interval_seconds`` until ``stop`` is set; failures are logged and retried."""
        while not stop.is_set():
            try:
                self.run_once(time.monotonic())
            except RealnameError as exc:
                log.warning("privacy job failed", extra={"code": exc.code})
            stop.wait(interval_seconds)

    def start(self, *, interval_seconds: float = 30.0) -> tuple[threading.Thread, threading.Event]:
        """Start :meth:`run_until` on a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        thread = threading.Thread(
            target=self.run_until, args=(stop,), kwargs={"interval_seconds": interval_seconds}, daemon=True
        )
        thread.start()
        return thread, stop
