"""Signed audit checkpoints and the verification of a chain against them.

A checkpoint says "the audit chain had reached sequence ``seq`` with hash ``last_hash`` at
``created_at``", signed (Ed25519, by an adapter) over a canonical message. The hash chain alone
proves that nothing in the middle changed, but whoever can write the database can rewrite the chain
from any point on, or cut its end off; a signed checkpoint pins the prefix up to ``seq``, so such a
rewrite or truncation below the newest checkpoint is detected. Whoever can write the database can also
delete checkpoint rows, so every checkpoint is also *witnessed*: copied somewhere outside the database
(an append-only file, an external service). Verification pins the chain to the witnessed checkpoints
too and reports witnessed checkpoints missing from the database. Events after the newest witnessed
checkpoint are covered only by the chain, the writer's head row and the database's append-only
triggers until the next checkpoint, which is due after a number of events or of minutes.

Signatures are checked through an injected predicate: this module holds no key and no crypto.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from realname.domain.audit import GENESIS_HASH, AuditEvent, verify_chain

CHECKPOINT_FORMAT = "realname-audit-checkpoint/1"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the chain's head at one moment."""

    seq: int
    last_hash: str
    created_at: datetime
    key_id: str
    signature: bytes = field(repr=False)

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.last_hash, self.created_at, self.key_id)


def checkpoint_message(seq: int, last_hash: str, created_at: datetime, key_id: str) -> bytes:
    """The exact bytes a checkpoint's signature covers (canonical JSON, UTF-8)."""
    if created_at.tzinfo is None:
        raise ValueError("checkpoint times must be timezone-aware")
    if seq < 1:
        raise ValueError("a checkpoint covers at least one event")
    document = {
        "format": CHECKPOINT_FORMAT,
        "seq": seq,
        "hash": last_hash,
        "at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "key_id": key_id,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def checkpoint_due(
    head_seq: int,
    last_checkpoint_seq: int,
    every_events: int,
    *,
    last_checkpoint_at: datetime | None = None,
    now: datetime | None = None,
    every_minutes: float | None = None,
) -> bool:
    """Whether the head should be signed: at least ``every_events`` events were appended since the
    newest checkpoint, or (with ``every_minutes`` and ``now``) any event was appended and the newest
    checkpoint is ``every_minutes`` old (or there is none)."""
    if every_events < 1:
        raise ValueError("checkpoints are taken every one or more events")
    if every_minutes is not None and every_minutes <= 0:
        raise ValueError("checkpoints are taken every so many minutes, more than zero")
    appended = head_seq - last_checkpoint_seq
    if appended >= every_events:
        return True
    if appended <= 0 or every_minutes is None or now is None:
        return False
    return last_checkpoint_at is None or now - last_checkpoint_at >= timedelta(minutes=every_minutes)


@dataclass(frozen=True, slots=True)
class TrailVerification:
    """The verdict on a chain and its checkpoints.

    ``signed_through_seq`` is the newest checkpoint that verified and matched the chain (0 if none);
    events after it are protected by the hash chain only. ``witnessed_through_seq`` is the newest
    witnessed checkpoint that verified and matched the chain (0 if none or no witness was read);
    ``newest_stored_seq`` the newest checkpoint stored in the database, so a caller can tell when the
    witness lags behind it.
    """

    intact: bool
    events_checked: int
    checkpoints_checked: int
    signed_through_seq: int
    first_bad_seq: int | None = None
    problem: str | None = None
    last_hash: str = GENESIS_HASH
    witnessed_through_seq: int = 0
    newest_stored_seq: int = 0


SignatureCheck = Callable[[Checkpoint], bool]


def verify_trail(
    events: Iterable[AuditEvent],
    checkpoints: Sequence[Checkpoint],
    signature_valid: SignatureCheck,
    *,
    start_seq: int = 1,
    start_hash: str = GENESIS_HASH,
    head: tuple[int, str] | Callable[[], tuple[int, str]] | None = None,
    head_seq_before: int | None = None,
    witnessed: Sequence[Checkpoint] = (),
) -> TrailVerification:
    """Verify the chain from ``(start_seq, start_hash)`` and every checkpoint against it.

    Reports the earliest sequence number at which something is wrong: a chain break; a checkpoint
    whose signature fails (at its ``seq``); a checkpoint whose ``(seq, hash)`` disagrees with the
    chain (at its ``seq``; the rewrite happened at or before it); a chain that ends below a signed
    checkpoint (events deleted: at the first missing ``seq``); and, with ``head`` (the writer's
    head row, or a function reading it after the walk; ``head_seq_before``: read before it),
    events missing at the end or appended beyond the head outside the service.

    ``witnessed`` are the checkpoints found outside the database (read before ``checkpoints``): each
    one pins the chain like a stored checkpoint, and one missing from ``checkpoints`` means checkpoint
    rows were deleted.
    """
    problems: list[tuple[int, str]] = []
    pinned: list[tuple[Checkpoint, str]] = []
    for checkpoint in sorted(checkpoints, key=lambda c: c.seq):
        if signature_valid(checkpoint):
            pinned.append((checkpoint, "signed"))
        else:
            problems.append(
                (
                    checkpoint.seq,
                    f"the checkpoint at {checkpoint.seq} has an invalid signature (key {checkpoint.key_id})",
                )
            )
    stored_seqs = {c.seq for c in checkpoints}
    for checkpoint in sorted(witnessed, key=lambda c: c.seq):
        if not signature_valid(checkpoint):
            problems.append(
                (checkpoint.seq, f"the witness holds a checkpoint at {checkpoint.seq} with an invalid signature")
            )
            continue
        pinned.append((checkpoint, "witnessed"))
        if checkpoint.seq not in stored_seqs and checkpoint.seq >= start_seq:
            problems.append(
                (
                    checkpoint.seq,
                    f"the witnessed checkpoint at {checkpoint.seq} is missing from the database:"
                    " checkpoint rows were deleted",
                )
            )

    wanted = {c.seq for c, _ in pinned}
    seen: dict[int, str] = {}

    def tap(stream: Iterable[AuditEvent]) -> Iterator[AuditEvent]:
        for event in stream:
            if event.seq in wanted:
                seen[event.seq] = event.hash
            yield event

    chain = verify_chain(tap(events), start_seq=start_seq, start_hash=start_hash)
    if not chain.intact and chain.first_bad_seq is not None:
        problems.append((chain.first_bad_seq, chain.problem or "the chain is broken"))
    verified_through = start_seq - 1 + chain.events_checked

    through = {"signed": 0, "witnessed": 0}
    for checkpoint, source in pinned:
        if checkpoint.seq < start_seq - 1:
            continue  # before the verified range (an export starting later)
        if checkpoint.seq == start_seq - 1:
            if checkpoint.last_hash != start_hash:
                problems.append(
                    (start_seq, f"the first event does not follow the {source} checkpoint at {checkpoint.seq}")
                )
            else:
                through[source] = max(through[source], checkpoint.seq)
        elif checkpoint.seq <= verified_through:
            if seen.get(checkpoint.seq) != checkpoint.last_hash:
                problems.append(
                    (
                        checkpoint.seq,
                        f"the events up to {checkpoint.seq} differ from the {source} checkpoint at {checkpoint.seq}",
                    )
                )
            else:
                through[source] = max(through[source], checkpoint.seq)
        elif chain.intact:
            problems.append(
                (
                    verified_through + 1,
                    f"the chain ends at {verified_through}, below the {source} checkpoint at {checkpoint.seq}:"
                    " events were deleted",
                )
            )

    if chain.intact and head is not None:
        head_seq, head_hash = head() if callable(head) else head
        # On a live database events may be appended while the chain is walked: the writer's head
        # read before the walk is a lower bound of what must be there, the one read after an upper one.
        lower = head_seq if head_seq_before is None else min(head_seq_before, head_seq)
        if head_seq < verified_through:
            problems.append((head_seq + 1, "events beyond the writer's head: appended outside the service"))
        elif verified_through < lower:
            problems.append((verified_through + 1, "events missing at the end"))
        elif head_seq == verified_through and head_hash != chain.last_hash:
            problems.append((max(head_seq, 1), "the last event does not match the writer's head"))

    first_bad, problem = min(problems, key=lambda p: p[0]) if problems else (None, None)
    return TrailVerification(
        intact=not problems,
        events_checked=chain.events_checked,
        checkpoints_checked=len(checkpoints),
        signed_through_seq=through["signed"],
        first_bad_seq=first_bad,
        problem=problem,
        last_hash=chain.last_hash,
        witnessed_through_seq=through["witnessed"],
        newest_stored_seq=max(stored_seqs, default=0),
    )
