"""Key rotation without downtime: a new KEK version, every stored data key re-wrapped under it, then
the old versions retired.

Order matters and is the whole point:

1. ``rotate`` makes a new KEK current; new records are written under it from now on, and every old
   version stays readable, so reads never fail.
2. Every ciphertext column (``CIPHERTEXT_COLUMNS``) is walked in batches of short transactions; each
   record under an older version is re-wrapped (only its 32-byte data key; the payload is untouched)
   and written back only if the cell still holds what was read (a concurrent writer wins and writes
   under the new version anyway).
3. Passes repeat until one finds no record under an old version.
4. After a short grace period for reads in flight, the old versions are retired. Retirement erases
   their key bytes (crypto-erasure), so a record still under a retired version would be lost: if any record could not be re-wrapped,
   nothing is retired and the run fails with the number of such records.

With key custody, the new version's fingerprint is recorded in the database right after step 1 and
the retirements after step 4, so the database always knows which key file it needs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from realname.app.actors import Actor
from realname.app.key_custody import KeyCustody
from realname.app.keys import KekStatus, KekVersion, KeyProvider, RewrappingCipher
from realname.app.ports import Clock
from realname.app.privacy import CIPHERTEXT_COLUMNS, CiphertextColumn, PrivacyUnitOfWorkFactory
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import Conflict, DependencyUnavailable
from realname.domain.organisation import Role

DEFAULT_BATCH_SIZE = 200
MAX_PASSES = 5
DEFAULT_RETIRE_GRACE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class RotationProgress:
    """Progress through one column in one pass: ``done`` of ``total`` rows looked at."""

    pass_number: int
    column: str
    done: int
    total: int
    rewrapped: int


@dataclass(frozen=True, slots=True)
class RotationReport:
    new_version: int
    rewrapped: int
    passes: int
    retired: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ColumnKeyUsage:
    """How many records of a column are wrapped under each KEK version."""

    column: str
    by_version: dict[int, int]


@dataclass(frozen=True, slots=True)
class KeyStatusReport:
    current_version: int
    versions: tuple[KekVersion, ...]
    columns: tuple[ColumnKeyUsage, ...]


ProgressCallback = Callable[[RotationProgress], None]


@dataclass(frozen=True, slots=True)
class _PassResult:
    looked_at: int
    rewrapped: int
    failed: int


class KeyRotation:
    """Rotates the KEK and moves every stored record to it."""

    def __init__(
        self,
        uow: PrivacyUnitOfWorkFactory,
        keys: KeyProvider,
        cipher: RewrappingCipher,
        clock: Clock,
        *,
        columns: tuple[CiphertextColumn, ...] = CIPHERTEXT_COLUMNS,
        max_passes: int = MAX_PASSES,
        retire_grace_seconds: float = DEFAULT_RETIRE_GRACE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        custody: KeyCustody | None = None,
    ) -> None:
        self._uow = uow
        self._keys = keys
        self._cipher = cipher
        self._clock = clock
        self._columns = columns
        self._max_passes = max_passes
        self._retire_grace_seconds = retire_grace_seconds
        self._sleep = sleep
        self._custody = custody

    def rotate(
        self,
        actor: Actor,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        new_version: bool = True,
        on_progress: ProgressCallback | None = None,
    ) -> RotationReport:
        """Rotate (unless ``new_version`` is False: resume moving to the current version), re-wrap every
        record, retire the old versions.

        Raises:
            Forbidden: the actor is not an admin.
            Conflict: ``keys.rewrap_incomplete`` — some records could not be re-wrapped (damaged, or
                their KEK unavailable); nothing was retired.
            DependencyUnavailable: the database or the key provider is unavailable.
        """
        actor.require(Role.ADMIN)
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        if self._custody is not None:
            self._custody.check()
        target = self._keys.rotate() if new_version else self._keys.current_kek_version()
        self._record_keys(actor)
        self._audit(actor, "keys.rotated", {"version": target, "new_version": new_version})
        rewrapped_total = 0
        for pass_number in range(1, self._max_passes + 1):
            rewrapped = failed = 0
            for column in self._columns:
                result = self._rewrap_column(column, target, pass_number, batch_size, on_progress)
                rewrapped += result.rewrapped
                failed += result.failed
            rewrapped_total += rewrapped
            if failed:
                self._audit(actor, "keys.rewrap_failed", {"version": target, "failed": failed})
                raise Conflict(
                    f"{failed} records could not be re-wrapped; no key version was retired",
                    code="keys.rewrap_incomplete",
                )
            if rewrapped == 0:
                # A reader that fetched a record just before its re-wrap may still be decrypting it:
                # give in-flight reads a moment before the old key bytes are erased.
                self._sleep(self._retire_grace_seconds)
                retired = self._retire_old(target)
                self._record_keys(actor)
                self._audit(
                    actor,
                    "keys.retired",
                    {"version": target, "retired": [*map(int, retired)], "rewrapped": rewrapped_total},
                )
                return RotationReport(target, rewrapped_total, pass_number, retired)
        raise Conflict(
            f"records kept appearing under old key versions after {self._max_passes} passes; nothing retired",
            code="keys.rewrap_incomplete",
        )

    def status(self, actor: Actor) -> KeyStatusReport:
        """KEK versions and how many stored records each one wraps (read from record headers)."""
        actor.require(Role.ADMIN, Role.AUDITOR)
        usage: list[ColumnKeyUsage] = []
        for column in self._columns:
            counts: dict[int, int] = {}
            after = ""
            while True:
                with self._uow() as work:
                    rows = work.ciphertexts.batch(column, after_row_id=after, limit=DEFAULT_BATCH_SIZE * 5)
                if not rows:
                    break
                for _, ciphertext in rows:
                    try:
                        version = self._cipher.kek_version_of(ciphertext)
                    except DependencyUnavailable:
                        version = 0  # not an envelope this build can read
                    counts[version] = counts.get(version, 0) + 1
                after = rows[-1][0]
            usage.append(ColumnKeyUsage(column.name, dict(sorted(counts.items()))))
        return KeyStatusReport(self._keys.current_kek_version(), self._keys.kek_versions(), tuple(usage))

    def _rewrap_column(
        self,
        column: CiphertextColumn,
        target: int,
        pass_number: int,
        batch_size: int,
        on_progress: ProgressCallback | None,
    ) -> _PassResult:
        with self._uow() as work:
            total = work.ciphertexts.count(column)
        looked_at = rewrapped = failed = 0
        after = ""
        if on_progress is not None:
            on_progress(RotationProgress(pass_number, column.name, 0, total, 0))
        while True:
            with self._uow() as work:
                rows = work.ciphertexts.batch(column, after_row_id=after, limit=batch_size)
                if not rows:
                    break
                for row_id, ciphertext in rows:
                    looked_at += 1
                    try:
                        if self._cipher.kek_version_of(ciphertext) == target:
                            continue
                        moved = self._cipher.rewrap(ciphertext, column.context(row_id))
                    except DependencyUnavailable:
                        failed += 1
                        continue
                    if work.ciphertexts.replace(column, row_id, ciphertext, moved):
                        rewrapped += 1
                work.commit()
            after = rows[-1][0]
            if on_progress is not None:
                on_progress(RotationProgress(pass_number, column.name, looked_at, max(total, looked_at), rewrapped))
        return _PassResult(looked_at, rewrapped, failed)

    def _retire_old(self, target: int) -> tuple[int, ...]:
        retired: list[int] = []
        for version in self._keys.kek_versions():
            if version.status is KekStatus.ACTIVE and version.version != target:
                self._keys.retire(version.version)
                retired.append(version.version)
        return tuple(retired)

    def _record_keys(self, actor: Actor) -> None:
        if self._custody is not None:
            self._custody.record(actor)

    def _audit(self, actor: Actor, action: str, details: dict[str, JsonValue]) -> None:
        with self._uow() as work:
            work.audit.append(
                AuditRecord(action, actor.ref, actor.outlet_code, "keys:kek", details),
                self._clock.now(),
            )
            work.commit()
