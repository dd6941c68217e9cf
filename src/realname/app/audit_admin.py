"""Audit administration: signed checkpoints (on demand, every N events and every N minutes) and their
witnesses outside the database, verification of the chain with its stored and witnessed checkpoints,
and export of a range for inspectors as JSON Lines they can verify offline.

Export format (one JSON object per line, ``type`` first in meaning):

- ``header``: ``format``, the requested range, ``exported_at``, ``chains`` (by audit chain, the first
  and last sequence numbers exported; ``first_seq``/``last_seq`` are their extremes) and
  ``public_keys`` — every Ed25519 public key (base64, raw 32 bytes) by key id, so the export verifies
  with nothing else;
- ``event``: the audit event exactly as hashed (``chain`` when not 0, ``seq``, ``at``, ``action``,
  ``actor``, ``outlet``, ``subject``, ``details``) plus ``prev_hash`` and ``hash``, chain after chain;
- ``checkpoint``: ``seq``, ``hash`` (format 2: the Merkle root), ``heads`` (format 2), ``at``,
  ``key_id`` and ``signature`` (base64) of every checkpoint that pins an exported chain at or just
  before its exported segment.

Sequence numbers count within a chain; ``--from-seq``/``--to-seq`` select the same positions in every
chain (with one chain in use — SQLite, or a quiet PostgreSQL — the whole log).

Audit events hold references (``sub:…``, ``attempt:…``), never personal data, so an export carries none.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from realname.app.actors import SYSTEM, Actor
from realname.app.ports import Clock
from realname.app.privacy import AuditWitness, CheckpointSigner, PrivacyUnitOfWorkFactory, WitnessLog
from realname.domain.audit import AuditEvent, AuditRecord, JsonValue, canonical_json
from realname.domain.audit_checkpoints import (
    ChainHead,
    Checkpoint,
    TrailVerification,
    checkpoint_due,
    verify_chains,
)
from realname.domain.errors import Conflict, DependencyUnavailable, InvalidInput
from realname.domain.organisation import Role

EXPORT_FORMAT = "realname-audit-export/2"
SINGLE_CHAIN_EXPORT_FORMAT = "realname-audit-export/1"
EXPORT_PAGE_EVENTS = 1000

PublicKeyCheck = Callable[[bytes, bytes, bytes], bool]
"""``(public_key, message, signature) -> valid``: an Ed25519 verification, supplied by an adapter."""


@dataclass(frozen=True, slots=True)
class ExportRange:
    """What to export: a time window ``[from_at, to_at)`` and/or a sequence window ``[from_seq, to_seq]``."""

    from_at: datetime | None = None
    to_at: datetime | None = None
    from_seq: int | None = None
    to_seq: int | None = None

    def __post_init__(self) -> None:
        for moment in (self.from_at, self.to_at):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput("export times need a time zone (e.g. 2026-11-22T00:00:00+00:00)", code="audit.range")
        if self.from_at and self.to_at and self.from_at >= self.to_at:
            raise InvalidInput("--from must be before --to", code="audit.range")
        if self.from_seq is not None and self.to_seq is not None and self.from_seq > self.to_seq:
            raise InvalidInput("the first sequence number is after the last", code="audit.range")


class AuditAdmin:
    """Use cases over the audit chain's checkpoints. Checkpoints are taken by admins or the system;
    verification and export by admins and auditors.

    Every checkpoint is stored in the database and then *witnessed*: appended to ``witness`` (the
    append-only witness file outside the data folder) and posted to each of ``remote_witnesses``.
    """

    def __init__(
        self,
        uow: PrivacyUnitOfWorkFactory,
        signer: CheckpointSigner,
        clock: Clock,
        *,
        every_events: int = 1000,
        every_minutes: float | None = None,
        witness: WitnessLog | None = None,
        remote_witnesses: Sequence[AuditWitness] = (),
    ) -> None:
        if every_events < 1:
            raise ValueError("checkpoints are taken every one or more events")
        if every_minutes is not None and every_minutes <= 0:
            raise ValueError("checkpoints are taken every so many minutes, more than zero")
        self._uow = uow
        self._signer = signer
        self._clock = clock
        self._every_events = every_events
        self._every_minutes = every_minutes
        self._witness = witness
        self._remote_witnesses = tuple(remote_witnesses)

    def checkpoint(self, actor: Actor) -> Checkpoint | None:
        """Sign the chain's current head, store the checkpoint and witness it. Returns the checkpoint (an
        existing one if the head has not moved since; it is witnessed now if it was not yet), or None
        when the chain is empty.

        Raises:
            Forbidden: the actor is not an admin.
            DependencyUnavailable: the database or the signing key is unavailable; or
                ``audit.witness_unavailable``: the checkpoint is stored but a witness did not take it.
        """
        actor.require(Role.ADMIN)
        with self._uow() as work:
            head_seq = sum(head.seq for head in work.audit.heads())
            latest = work.archive.latest_checkpoint()
            if head_seq == 0:
                return None
            unmoved = latest is not None and latest.seq >= head_seq
        if unmoved and latest is not None:
            self._catch_up_witness(latest)  # outside the transaction: no lock held while writing the file
            return latest
        with self._uow() as work:
            # One statement reads every head: a consistent cut (each head commits with its events).
            unsigned = Checkpoint.unsigned(work.audit.heads(), self._clock.now(), self._signer.key_id)
            checkpoint = unsigned.signed(self._signer.sign(unsigned.message()))
            if not work.archive.add_checkpoint(checkpoint):
                return work.archive.latest_checkpoint()
            work.commit()
        # Witnessed only once committed, so a witness never holds a checkpoint the database lacks
        # (a crash in between leaves it unwitnessed, and the next run witnesses it).
        self._witness_new(checkpoint)
        return checkpoint

    def checkpoint_if_due(self) -> Checkpoint | None:
        """Sign the head if ``every_events`` events were appended since the newest checkpoint, or any
        event was and the newest checkpoint is ``every_minutes`` old. Also witnesses the newest stored
        checkpoint if an earlier attempt to witness it failed.

        Cheap when nothing is due (two single-row reads and the witness file's last line); call it
        after appends or from a scheduler.
        """
        with self._uow() as work:
            head_seq = sum(head.seq for head in work.audit.heads())
            latest = work.archive.latest_checkpoint()
        due = checkpoint_due(
            head_seq,
            0 if latest is None else latest.seq,
            self._every_events,
            last_checkpoint_at=None if latest is None else latest.created_at,
            now=self._clock.now(),
            every_minutes=self._every_minutes,
        )
        if not due:
            if latest is not None:
                self._catch_up_witness(latest)
            return None
        try:
            return self.checkpoint(SYSTEM)
        except Conflict:  # another worker signed the same head at the same moment
            return None

    def verify(self, actor: Actor) -> TrailVerification:
        """Verify every chain, every checkpoint's signature, Merkle root and position in each chain, the
        writers' heads, and the chains against every witnessed checkpoint (reporting witnessed
        checkpoints the database lacks)."""
        actor.require(Role.ADMIN, Role.AUDITOR)
        # The witness is read first: a checkpoint is witnessed only after it is committed, so one read
        # there is in the database read below.
        witnessed = self._witness.checkpoints() if self._witness is not None else ()
        with self._uow() as work:
            heads_before = work.audit.heads()
            checkpoints = work.archive.checkpoints()
            return verify_chains(
                lambda chain: work.audit.events(chain=chain),
                [head.chain for head in heads_before],
                checkpoints,
                self._signature_valid,
                heads=work.audit.heads,
                heads_before=heads_before,
                witnessed=witnessed,
            )

    def _catch_up_witness(self, latest: Checkpoint) -> None:
        if self._witness is None:
            return
        witnessed = self._witness.latest()
        if witnessed is None or witnessed.seq < latest.seq:
            self._witness_new(latest)

    def _witness_new(self, checkpoint: Checkpoint) -> None:
        """Append to the witness file, then post to the remote witnesses; report what did not take it."""
        refused: list[str] = []
        if self._witness is not None:
            try:
                self._witness.publish(checkpoint)
            except DependencyUnavailable as exc:
                refused.append(exc.message)
        for remote in self._remote_witnesses:
            try:
                remote.publish(checkpoint)
            except DependencyUnavailable as exc:
                refused.append(exc.message)
        if refused:
            raise DependencyUnavailable(
                f"the checkpoint at {checkpoint.seq} is stored but not witnessed: {'; '.join(refused)}",
                code="audit.witness_unavailable",
            )

    def export(self, actor: Actor, export_range: ExportRange) -> Iterator[str]:
        """JSON lines (without newlines) for the range, read in pages of short transactions.

        The export itself is recorded as an audit event (``audit.exported``) once the range is known.
        """
        actor.require(Role.ADMIN, Role.AUDITOR)
        bounds = self._seq_bounds(export_range)
        yield self._header(export_range, bounds)
        if not bounds:
            return
        details: dict[str, JsonValue] = {
            "from_seq": min(first for first, _ in bounds.values()),
            "to_seq": max(last for _, last in bounds.values()),
        }
        if set(bounds) != {0}:
            details["chains"] = {str(chain): [first, last] for chain, (first, last) in sorted(bounds.items())}
        with self._uow() as work:
            checkpoints = [c for c in work.archive.checkpoints() if _pins_segment(c, bounds)]
            work.audit.append(
                AuditRecord("audit.exported", actor.ref, actor.outlet_code, None, details), self._clock.now()
            )
            work.commit()
        for chain, (first_seq, last_seq) in sorted(bounds.items()):
            next_seq = first_seq
            while next_seq <= last_seq:
                page: list[AuditEvent] = []
                with self._uow() as work:
                    for event in work.audit.events(chain=chain, from_seq=next_seq, batch_size=EXPORT_PAGE_EVENTS):
                        if event.seq > last_seq or len(page) >= EXPORT_PAGE_EVENTS:
                            break
                        page.append(event)
                if not page:
                    break
                yield from (event_line(event) for event in page)
                next_seq = page[-1].seq + 1
        yield from (checkpoint_line(checkpoint) for checkpoint in checkpoints)

    def _seq_bounds(self, export_range: ExportRange) -> dict[int, tuple[int, int]]:
        """By chain, the first and last sequence numbers to export (chains with nothing to export left out)."""
        with self._uow() as work:
            found = {head.chain: (1, head.seq) for head in work.audit.heads() if head.seq > 0}
            if export_range.from_at is not None or export_range.to_at is not None:
                found = work.archive.seq_bounds(
                    export_range.from_at or datetime.min.replace(tzinfo=UTC),
                    export_range.to_at or datetime.max.replace(tzinfo=UTC),
                )
        bounds: dict[int, tuple[int, int]] = {}
        for chain, (first, last) in found.items():
            if export_range.from_seq is not None:
                first = max(first, export_range.from_seq)
            if export_range.to_seq is not None:
                last = min(last, export_range.to_seq)
            if first <= last:
                bounds[chain] = (first, last)
        return bounds

    def _header(self, export_range: ExportRange, bounds: Mapping[int, tuple[int, int]]) -> str:
        keys = {}
        for key_id in sorted(self._signer.known_key_ids):
            public = self._signer.public_key(key_id)
            if public is not None:
                keys[key_id] = base64.b64encode(public).decode("ascii")
        header: dict[str, JsonValue] = {
            "type": "header",
            "format": EXPORT_FORMAT,
            "from": None if export_range.from_at is None else export_range.from_at.isoformat(),
            "to": None if export_range.to_at is None else export_range.to_at.isoformat(),
            "first_seq": min((first for first, _ in bounds.values()), default=None),
            "last_seq": max((last for _, last in bounds.values()), default=None),
            "chains": {str(chain): [first, last] for chain, (first, last) in sorted(bounds.items())},
            "exported_at": self._clock.now().isoformat(),
            "public_keys": dict(keys),
        }
        return canonical_json(header)

    def _signature_valid(self, checkpoint: Checkpoint) -> bool:
        return self._signer.verify(checkpoint.message(), checkpoint.signature, checkpoint.key_id)


def _pins_segment(checkpoint: Checkpoint, bounds: Mapping[int, tuple[int, int]]) -> bool:
    """Whether ``checkpoint`` pins a chain at or just before its exported segment."""
    return any(
        head.chain in bounds and bounds[head.chain][0] - 1 <= head.seq <= bounds[head.chain][1]
        for head in checkpoint.chain_heads()
    )


def event_line(event: AuditEvent) -> str:
    line = {"type": "event", **event.payload(), "prev_hash": event.prev_hash, "hash": event.hash}
    return canonical_json(line)


def checkpoint_line(checkpoint: Checkpoint) -> str:
    line: dict[str, JsonValue] = {
        "type": "checkpoint",
        "seq": checkpoint.seq,
        "hash": checkpoint.last_hash,
        "at": checkpoint.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "key_id": checkpoint.key_id,
        "signature": base64.b64encode(checkpoint.signature).decode("ascii"),
    }
    if checkpoint.heads:
        line["heads"] = [[head.chain, head.seq, head.hash] for head in checkpoint.heads]
    return canonical_json(line)


@dataclass(frozen=True, slots=True)
class ExportVerification:
    """The verdict on an export, and what it rests on."""

    result: TrailVerification
    key_ids: frozenset[str]
    first_seq: int | None
    last_seq: int | None


def verify_export(lines: Iterable[str], public_key_valid: PublicKeyCheck) -> ExportVerification:
    """Verify an export offline: the chain segment, and every checkpoint's signature under the public
    keys in the export's header. Trust in those keys is the inspector's to establish (compare the key
    ids with the operator's published ones).

    Raises:
        InvalidInput: the file is not an export of this format.
    """
    header: Mapping[str, object] | None = None
    events: list[AuditEvent] = []
    checkpoints: list[Checkpoint] = []
    try:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            item = json.loads(line)
            kind = item.get("type")
            if kind == "header":
                header = item
            elif kind == "event":
                events.append(_event_from(item))
            elif kind == "checkpoint":
                checkpoints.append(_checkpoint_from(item))
            else:
                raise InvalidInput(f"line {number}: unknown record type", code="audit.export_invalid")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput("this is not a readable audit export", code="audit.export_invalid") from exc
    if header is None or header.get("format") not in (EXPORT_FORMAT, SINGLE_CHAIN_EXPORT_FORMAT):
        raise InvalidInput("this is not a realname audit export", code="audit.export_invalid")
    raw_keys = header.get("public_keys")
    keys: dict[str, bytes] = {}
    if isinstance(raw_keys, dict):
        keys = {str(k): base64.b64decode(str(v), validate=True) for k, v in raw_keys.items()}

    def signature_valid(checkpoint: Checkpoint) -> bool:
        public = keys.get(checkpoint.key_id)
        return public is not None and public_key_valid(public, checkpoint.message(), checkpoint.signature)

    declared = _declared_chains(header)
    if not events and not declared:
        result = TrailVerification(True, 0, len(checkpoints), 0)
        return ExportVerification(result, frozenset(keys), None, None)
    by_chain: dict[int, list[AuditEvent]] = {}
    for event in events:
        by_chain.setdefault(event.chain, []).append(event)
    starts = {chain: (found[0].seq, found[0].prev_hash) for chain, found in by_chain.items()}
    for chain, (first_seq, _) in (declared or {}).items():
        # A segment must start where the header says; the first event's link is taken as given.
        prev_hash = by_chain[chain][0].prev_hash if chain in by_chain else ""
        starts[chain] = (first_seq, prev_hash)
    chains = sorted(set(by_chain) | set(declared or {}))
    result = verify_chains(
        lambda chain: by_chain.get(chain, []),
        chains,
        checkpoints,
        signature_valid,
        starts=starts,
        ends=None if declared is None else {chain: last for chain, (_, last) in declared.items()},
    )
    seqs = [event.seq for event in events]
    return ExportVerification(result, frozenset(keys), min(seqs, default=None), max(seqs, default=None))


def _declared_chains(header: Mapping[str, object]) -> dict[int, tuple[int, int]] | None:
    """The header's exported segments by chain (None in a single-chain export, format 1)."""
    raw = header.get("chains")
    if header.get("format") == SINGLE_CHAIN_EXPORT_FORMAT or raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput("the export's header is not readable", code="audit.export_invalid")
    try:
        return {int(chain): (int(pair[0]), int(pair[1])) for chain, pair in raw.items()}
    except (TypeError, ValueError, IndexError) as exc:
        raise InvalidInput("the export's header is not readable", code="audit.export_invalid") from exc


def _event_from(item: Mapping[str, object]) -> AuditEvent:
    details = item["details"]
    if not isinstance(details, dict):
        raise TypeError("details must be an object")
    return AuditEvent(
        seq=int(str(item["seq"])),
        occurred_at=datetime.fromisoformat(str(item["at"])),
        action=str(item["action"]),
        actor=str(item["actor"]),
        outlet=None if item["outlet"] is None else str(item["outlet"]),
        subject=None if item["subject"] is None else str(item["subject"]),
        details=details,
        prev_hash=str(item["prev_hash"]),
        hash=str(item["hash"]),
        chain=int(str(item.get("chain", 0))),
    )


def checkpoint_from_line(line: str) -> Checkpoint:
    """The checkpoint in a line written by :func:`checkpoint_line`.

    Raises:
        InvalidInput: ``audit.checkpoint_invalid`` — not such a line.
    """
    try:
        item = json.loads(line)
        if not isinstance(item, dict) or item.get("type") != "checkpoint":
            raise ValueError("not a checkpoint line")
        checkpoint = _checkpoint_from(item)
        checkpoint.message()  # refuses a naive time or a sequence number below 1
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidInput("not a checkpoint line", code="audit.checkpoint_invalid") from exc
    return checkpoint


def event_from_line(line: str) -> AuditEvent:
    """The event in a line written by :func:`event_line` (for a file :func:`verify_export` accepted).

    Raises:
        InvalidInput: ``audit.export_invalid`` — not such a line.
    """
    try:
        item = json.loads(line)
        if not isinstance(item, dict) or item.get("type") != "event":
            raise ValueError("not an event line")
        return _event_from(item)
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput("not an audit event line", code="audit.export_invalid") from exc


def _checkpoint_from(item: Mapping[str, object]) -> Checkpoint:
    return Checkpoint(
        seq=int(str(item["seq"])),
        last_hash=str(item["hash"]),
        created_at=datetime.fromisoformat(str(item["at"])),
        key_id=str(item["key_id"]),
        signature=base64.b64decode(str(item["signature"]), validate=True),
        heads=tuple(ChainHead(int(c), int(s), str(h)) for c, s, h in item.get("heads") or ()),  # type: ignore[attr-defined]
    )
