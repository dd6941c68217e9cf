"""Key custody: the database remembers which key material its data was written with — fingerprints,
never keys — so a missing, swapped or stale key file is refused instead of silently replaced.

Three kinds of key are recorded: every KEK version (``kek``), the blind-index key (``blind_index``)
and every audit-signing key (``signing``). A key file *matches* a database when every recorded key
that is still needed is in the file with the same fingerprint: a retired KEK may have lost its bytes
(nothing is stored under it any more); every other recorded key must be there. Keys in the file that
the database has not recorded yet (a KEK created by ``keys rotate``, a database that never saw these
keys) are recorded by :meth:`KeyCustody.record`.

A database with data but nothing recorded (written before key custody existed) is adopted only if the
key file really opens its data: a stored ciphertext of each kind decrypts, a stored blind index is
found again from its decrypted ID number, and the newest checkpoint's signing key is in the file.

Backups (``keys backup`` / ``keys restore``) go through :class:`KeyBackups`; a restore is checked
against the database before it is put in place.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from realname.app.actors import Actor
from realname.app.ports import BlindIndexer, Clock, FieldCipher
from realname.app.privacy import CIPHERTEXT_COLUMNS, CiphertextColumn, PrivacyUnitOfWork
from realname.domain.audit import AuditRecord, JsonValue
from realname.domain.errors import DependencyUnavailable
from realname.domain.organisation import Role


class KeyKind(enum.StrEnum):
    KEK = "kek"
    BLIND_INDEX = "blind_index"
    SIGNING = "signing"


@dataclass(frozen=True, slots=True)
class KeyFingerprint:
    """One key of the key material. ``fingerprint`` (hex SHA-256 under a domain label; for signing keys,
    of the public key) is None when the key's secret is gone: a retired KEK."""

    kind: KeyKind
    key_id: str
    fingerprint: str | None

    @property
    def label(self) -> str:
        return key_label(self.kind, self.key_id)


@dataclass(frozen=True, slots=True)
class RecordedKey:
    """A key the database's data was written with, as the database records it."""

    kind: KeyKind
    key_id: str
    fingerprint: str
    retired: bool


def key_label(kind: KeyKind, key_id: str) -> str:
    if kind is KeyKind.KEK:
        return f"KEK version {key_id}"
    if kind is KeyKind.BLIND_INDEX:
        return "the blind-index key"
    return f"signing key {key_id}"


def key_mismatches(recorded: Sequence[RecordedKey], present: Sequence[KeyFingerprint]) -> tuple[str, ...]:
    """What is wrong with ``present`` key material for a database that recorded ``recorded`` (empty: it
    matches)."""
    by_key = {(k.kind, k.key_id): k for k in present}
    problems: list[str] = []
    for key in recorded:
        found = by_key.get((key.kind, key.key_id))
        label = key_label(key.kind, key.key_id)
        if found is None:
            if not key.retired:
                problems.append(f"{label} is missing")
        elif found.fingerprint is not None and found.fingerprint != key.fingerprint:
            problems.append(f"{label} is not the one the data was written with")
    return tuple(problems)


class KeyMismatch(DependencyUnavailable):
    """The key file does not match the database: refuse to start rather than write under wrong keys."""

    code = "keys.mismatch"


class CustodyKeys(Protocol):
    """Key material as custody needs it: its fingerprints, and a cipher and an indexer to try it on data."""

    def key_fingerprints(self) -> tuple[KeyFingerprint, ...]: ...

    def cipher(self) -> FieldCipher: ...

    def blind_indexer(self) -> BlindIndexer: ...


class StagedKeys(CustodyKeys, Protocol):
    """Key material read from a backup and written beside the key file, not yet in its place."""

    def install(self, *, replace_existing: bool) -> Path | None:
        """Put the staged file in the key file's place. Returns where an existing key file was moved
        (only with ``replace_existing``; it is never deleted).

        Raises:
            Conflict: ``keys.exists`` — a key file is there and ``replace_existing`` is False.
        """
        ...

    def discard(self) -> None: ...


class KeyBackups(Protocol):
    """Passphrase-protected copies of the key file (``realname.adapters.crypto.key_custody``)."""

    def write(self, destination: Path, passphrase: str) -> None:
        """Write a backup of the current key file to ``destination`` (created 0600, never overwritten)."""
        ...

    def stage(self, source: Path, passphrase: str) -> StagedKeys:
        """Decrypt the backup at ``source`` and stage it beside the key file.

        Raises:
            InvalidInput: not a backup, or the passphrase is wrong.
        """
        ...


class KeyRecords(Protocol):
    """The database side (``key_fingerprint`` table and a few probes of stored data)."""

    def recorded(self) -> Sequence[RecordedKey]: ...

    def add(self, key: KeyFingerprint, at: datetime) -> bool:
        """Record ``key`` (which has a fingerprint); False if it was recorded already."""
        ...

    def mark_retired(self, kind: KeyKind, key_id: str, at: datetime) -> None: ...

    def holds_data(self) -> bool:
        """Whether anything was ever written: audit events, subscribers, staff, attempts or evidence."""
        ...

    def blind_index_samples(self) -> Sequence[tuple[CiphertextColumn, str, str, bytes]]:
        """A few ``(column, row id, blind index, ID-number ciphertext)`` of subscribers and attempts that
        hold both."""
        ...


class CustodyUnitOfWork(PrivacyUnitOfWork, Protocol):
    keys: KeyRecords


class CustodyUnitOfWorkFactory(Protocol):
    def __call__(self) -> CustodyUnitOfWork: ...


@dataclass(frozen=True, slots=True)
class RestoreReport:
    key_file_moved_to: Path | None
    newly_recorded: int


class KeyCustody:
    """Checks the key material against the database, records it, backs it up and restores it.

    ``keys`` loads the live key material (raising ``DependencyUnavailable`` ``keys.missing`` when
    there is no key file); it is called only by the operations that need it.
    """

    def __init__(self, uow: CustodyUnitOfWorkFactory, clock: Clock, keys: Callable[[], CustodyKeys]) -> None:
        self._uow = uow
        self._clock = clock
        self._keys = keys

    def holds_data(self) -> bool:
        """Whether the database holds anything written under some key material (needs no key file)."""
        with self._uow() as work:
            return work.keys.holds_data()

    def check(self) -> None:
        """Refuse key material that does not match the database.

        Raises:
            KeyMismatch: ``keys.mismatch`` — a recorded key is missing or different, or the database
                holds data and has recorded no key material yet (run ``realname init``).
            DependencyUnavailable: no key file, or the database is unavailable.
        """
        present = self._keys().key_fingerprints()
        with self._uow() as work:
            recorded = work.keys.recorded()
            if not recorded and work.keys.holds_data():
                raise KeyMismatch("the database holds data but records no key fingerprints yet; run `realname init`")
        self._refuse(key_mismatches(recorded, present), "the key file")

    def record(self, actor: Actor) -> tuple[KeyFingerprint, ...]:
        """Check the live key material, then record what the database has not recorded yet (and mark
        retired KEKs). Returns the newly recorded keys.

        Raises:
            Forbidden: the actor is not an admin.
            KeyMismatch: as :meth:`check`, or the key file does not open the data of a database that
                records nothing yet.
        """
        actor.require(Role.ADMIN)
        return self._record(actor, self._keys(), "the key file", "keys.recorded")

    def backup(self, actor: Actor, backups: KeyBackups, destination: Path, passphrase: str) -> None:
        """Write a passphrase-protected backup of the (checked) key file; audited.

        Raises:
            Forbidden: the actor is not an admin.
            KeyMismatch: the key file does not match the database (a backup of it would be useless).
            Conflict: ``keys.backup_exists`` — ``destination`` exists.
        """
        actor.require(Role.ADMIN)
        self.check()
        backups.write(destination, passphrase)
        kept = [f"{k.kind.value}:{k.key_id}" for k in self._keys().key_fingerprints() if k.fingerprint]
        self._audit(actor, "keys.backed_up", {"keys": [*kept]})

    def restore(
        self, actor: Actor, backups: KeyBackups, source: Path, passphrase: str, *, replace_existing: bool = False
    ) -> RestoreReport:
        """Put the key file from a backup in place, after checking it against the database.

        Raises:
            Forbidden: the actor is not an admin.
            InvalidInput: not a backup, or a wrong passphrase.
            KeyMismatch: the backup is not the key material this database was written with.
            Conflict: ``keys.exists`` — a key file is in place (use ``replace_existing``).
        """
        actor.require(Role.ADMIN)
        staged = backups.stage(source, passphrase)
        try:
            with self._uow() as work:
                self._verify(work, staged, "the backup")
            moved = staged.install(replace_existing=replace_existing)
        except BaseException:
            staged.discard()
            raise
        self._audit(actor, "keys.restored", {"replaced_existing": moved is not None})
        newly = self._record(actor, self._keys(), "the restored key file", "keys.recorded")
        return RestoreReport(moved, len(newly))

    # internals

    def _record(self, actor: Actor, keys: CustodyKeys, what: str, action: str) -> tuple[KeyFingerprint, ...]:
        now = self._clock.now()
        with self._uow() as work:
            recorded = self._verify(work, keys, what)
            present = keys.key_fingerprints()
            known = {(k.kind, k.key_id): k for k in recorded}
            added = tuple(k for k in present if k.fingerprint is not None and work.keys.add(k, now))
            for key in present:
                previous = known.get((key.kind, key.key_id))
                if key.fingerprint is None and previous is not None and not previous.retired:
                    work.keys.mark_retired(key.kind, key.key_id, now)
            if added:
                work.audit.append(
                    AuditRecord(
                        action,
                        actor.ref,
                        actor.outlet_code,
                        "keys:custody",
                        {"keys": [f"{k.kind.value}:{k.key_id}" for k in added]},
                    ),
                    now,
                )
            work.commit()
        return added

    def _verify(self, work: CustodyUnitOfWork, keys: CustodyKeys, what: str) -> Sequence[RecordedKey]:
        recorded = work.keys.recorded()
        if recorded:
            self._refuse(key_mismatches(recorded, keys.key_fingerprints()), what)
        elif work.keys.holds_data():
            self._refuse(self._probe(work, keys), what)
        return recorded

    @staticmethod
    def _probe(work: CustodyUnitOfWork, keys: CustodyKeys) -> tuple[str, ...]:
        """Try the key material on stored data (for a database that records no fingerprints yet)."""
        problems: list[str] = []
        cipher = keys.cipher()
        for column in CIPHERTEXT_COLUMNS:
            for row_id, ciphertext in work.ciphertexts.batch(column, after_row_id="", limit=1):
                try:
                    cipher.decrypt(ciphertext, column.context(row_id))
                except DependencyUnavailable:
                    problems.append(f"it does not decrypt the stored {column.name}")
        indexer = keys.blind_indexer()
        for column, row_id, id_index, ciphertext in work.keys.blind_index_samples():
            try:
                clear = cipher.decrypt(ciphertext, column.context(row_id))
            except DependencyUnavailable:
                continue  # reported above for the column
            if indexer.index(clear.decode("utf-8")) != id_index:
                problems.append("its blind-index key does not find the stored ID numbers again")
                break
        latest = work.archive.latest_checkpoint()
        signing = {k.key_id for k in keys.key_fingerprints() if k.kind is KeyKind.SIGNING}
        if latest is not None and latest.key_id not in signing:
            problems.append(f"it lacks signing key {latest.key_id} of the newest audit checkpoint")
        return tuple(dict.fromkeys(problems))

    @staticmethod
    def _refuse(problems: tuple[str, ...], what: str) -> None:
        if problems:
            raise KeyMismatch(
                f"{what} does not match this database ({'; '.join(problems)}); restore the key file the data "
                "was written with: `realname keys restore BACKUP`"
            )

    def _audit(self, actor: Actor, action: str, details: dict[str, JsonValue]) -> None:
        with self._uow() as work:
            work.audit.append(
                AuditRecord(action, actor.ref, actor.outlet_code, "keys:custody", details), self._clock.now()
            )
            work.commit()
