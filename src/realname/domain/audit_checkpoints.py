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

With several chains (``realname.domain.audit``) a checkpoint commits to every chain's head at once: it
lists the heads ``(chain, seq, hash)`` and signs the root of a Merkle tree over them (RFC 6962 shape:
leaves and inner nodes hashed with distinct prefixes), with ``seq`` the total number of events in all
chains. Verification recomputes the root from the listed heads, then pins each chain to its head
exactly as a single-chain checkpoint pins the one chain. Checkpoints written before chains existed
(format 1: one ``(seq, hash)``) stay valid and pin chain 0.

Signatures are checked through an injected predicate: this module holds no key and no crypto.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from realname.domain.audit import GENESIS_HASH, AuditEvent, verify_chain

CHECKPOINT_FORMAT = "realname-audit-checkpoint/1"
CHAINS_CHECKPOINT_FORMAT = "realname-audit-checkpoint/2"


@dataclass(frozen=True, slots=True, order=True)
class ChainHead:
    """Where one audit chain ends: its last sequence number (0: empty) and that event's hash."""

    chain: int
    seq: int
    hash: str


def merkle_root(heads: Sequence[ChainHead]) -> str:
    """The root (hex SHA-256) of the Merkle tree whose leaves are ``heads`` in chain order.

    Leaf = SHA-256(0x00 || "chain:seq:hash"), node = SHA-256(0x01 || left || right); an odd node is
    carried up unchanged (RFC 6962's split, done bottom-up).
    """
    if not heads:
        raise ValueError("a Merkle tree needs at least one chain head")
    ordered = sorted(heads)
    if len({h.chain for h in ordered}) != len(ordered):
        raise ValueError("one head per chain")
    level = [hashlib.sha256(b"\x00" + f"{h.chain}:{h.seq}:{h.hash}".encode("ascii")).digest() for h in ordered]
    while len(level) > 1:
        paired = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0].hex()


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the chains' heads at one moment.

    Format 2 (``heads`` given): ``seq`` is the total number of events in all chains and ``last_hash``
    the Merkle root of ``heads``. Format 1 (no ``heads``, written before chains existed): the head of
    chain 0 alone.
    """

    seq: int
    last_hash: str
    created_at: datetime
    key_id: str
    signature: bytes = field(repr=False)
    heads: tuple[ChainHead, ...] = ()

    @classmethod
    def unsigned(cls, heads: Sequence[ChainHead], created_at: datetime, key_id: str) -> Checkpoint:
        """A format-2 checkpoint over ``heads``, to be signed (``signature`` empty)."""
        ordered = tuple(sorted(heads))
        return cls(sum(h.seq for h in ordered), merkle_root(ordered), created_at, key_id, b"", ordered)

    def signed(self, signature: bytes) -> Checkpoint:
        return replace(self, signature=signature)

    def chain_heads(self) -> tuple[ChainHead, ...]:
        """The heads this checkpoint pins (format 1: chain 0's)."""
        return self.heads or (ChainHead(0, self.seq, self.last_hash),)

    def covers(self, chain: int, seq: int) -> bool:
        """Whether event ``seq`` of ``chain`` lies at or below the head this checkpoint signed for that chain (a
        total ``seq`` says nothing about one chain once there are several)."""
        return any(head.chain == chain and seq <= head.seq for head in self.chain_heads())

    def consistent(self) -> bool:
        """Whether the listed heads add up to ``seq`` and hash to the signed root (format 1: always)."""
        if not self.heads:
            return True
        return sum(h.seq for h in self.heads) == self.seq and merkle_root(self.heads) == self.last_hash

    def message(self) -> bytes:
        if not self.heads:
            return checkpoint_message(self.seq, self.last_hash, self.created_at, self.key_id)
        return chains_checkpoint_message(self.seq, self.last_hash, len(self.heads), self.created_at, self.key_id)


def chains_checkpoint_message(seq: int, root: str, chains: int, created_at: datetime, key_id: str) -> bytes:
    """The exact bytes a format-2 checkpoint's signature covers (canonical JSON, UTF-8)."""
    if created_at.tzinfo is None:
        raise ValueError("checkpoint times must be timezone-aware")
    if seq < 1:
        raise ValueError("a checkpoint covers at least one event")
    document = {
        "format": CHAINS_CHECKPOINT_FORMAT,
        "seq": seq,
        "root": root,
        "chains": chains,
        "at": created_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "key_id": key_id,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


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
    first_bad_chain: int | None = None
    chains_checked: int = 1


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
    report_missing_witnessed: bool = True,
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
        if report_missing_witnessed and checkpoint.seq not in stored_seqs and checkpoint.seq >= start_seq:
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


def verify_chains(
    events: Callable[[int], Iterable[AuditEvent]],
    chains: Sequence[int],
    checkpoints: Sequence[Checkpoint],
    signature_valid: SignatureCheck,
    *,
    starts: Mapping[int, tuple[int, str]] | None = None,
    ends: Mapping[int, int] | None = None,
    heads: Callable[[], Sequence[ChainHead]] | None = None,
    heads_before: Sequence[ChainHead] = (),
    witnessed: Sequence[Checkpoint] = (),
) -> TrailVerification:
    """Verify every chain in ``chains`` (``events(chain)`` yields its events in stored order) against
    the checkpoints, each of which must carry a valid signature and list heads that hash to its root.

    Each checkpoint is projected on every chain it pins and each chain is verified as in
    :func:`verify_trail` (``starts``: where a chain's segment starts, for an export; ``ends``: where it
    must end, for an export, and pins above a chain's end are then outside the segment; ``heads``: the
    writer's head rows, read after the walk; ``heads_before``: read before it). A witnessed checkpoint
    missing from ``checkpoints`` means checkpoint rows were deleted.

    The verdict's ``first_bad_chain``/``first_bad_seq`` name the earliest problem (``first_bad_chain``
    None: a problem with a checkpoint as a whole, ``first_bad_seq`` then its total ``seq``);
    ``signed_through_seq``/``witnessed_through_seq`` are the newest checkpoints every chain matched.
    """
    problems: list[tuple[int, int, str]] = []  # (seq, chain or -1, problem)
    verdicts: dict[Checkpoint, bool] = {}
    unrooted: set[Checkpoint] = set()  # signed, but its listed heads are not the ones signed: pins nothing

    def whole_valid(checkpoint: Checkpoint) -> bool:
        if checkpoint not in verdicts:
            signed = signature_valid(checkpoint)  # an invalid signature is reported on each chain it pins
            verdicts[checkpoint] = signed and checkpoint.consistent()
            if signed and not checkpoint.consistent():
                unrooted.add(checkpoint)
                problems.append(
                    (checkpoint.seq, -1, f"the checkpoint at {checkpoint.seq} lists heads that do not match its root")
                )
        return verdicts[checkpoint]

    projected_valid: dict[Checkpoint, bool] = {}

    def project(source: Sequence[Checkpoint]) -> dict[int, list[Checkpoint]]:
        by_chain: dict[int, list[Checkpoint]] = {chain: [] for chain in chains}
        for checkpoint in source:
            valid = whole_valid(checkpoint)
            if checkpoint in unrooted:
                continue
            for head in checkpoint.chain_heads():
                if head.chain not in by_chain or head.seq == 0:
                    continue
                if ends is not None and head.seq > ends.get(head.chain, 0):
                    continue
                pin = Checkpoint(head.seq, head.hash, checkpoint.created_at, checkpoint.key_id, checkpoint.signature)
                projected_valid[pin] = projected_valid.get(pin, True) and valid
                by_chain[head.chain].append(pin)
        return by_chain

    stored = project(checkpoints)
    seen_witnessed = project(witnessed)
    stored_seqs = {c.seq for c in checkpoints}
    for checkpoint in witnessed:
        if whole_valid(checkpoint) and checkpoint.seq not in stored_seqs:
            problems.append(
                (
                    checkpoint.seq,
                    -1,
                    f"the witnessed checkpoint at {checkpoint.seq} is missing from the database:"
                    " checkpoint rows were deleted",
                )
            )

    before = {h.chain: h.seq for h in heads_before}
    read_heads: dict[int, ChainHead] = {}
    results: dict[int, TrailVerification] = {}
    for chain in chains:
        start_seq, start_hash = (starts or {}).get(chain, (1, GENESIS_HASH))

        def head_of(chain: int = chain) -> tuple[int, str]:
            if heads is not None:
                read_heads.update({h.chain: h for h in heads()})
            found = read_heads.get(chain)
            return (0, GENESIS_HASH) if found is None else (found.seq, found.hash)

        result = verify_trail(
            events(chain),
            stored[chain],
            lambda pin: projected_valid.get(pin, False),
            start_seq=start_seq,
            start_hash=start_hash,
            head=head_of if heads is not None else None,
            head_seq_before=before.get(chain) if heads_before else None,
            witnessed=seen_witnessed[chain],
            report_missing_witnessed=False,
        )
        results[chain] = result
        if not result.intact and result.first_bad_seq is not None:
            prefix = "" if chain == 0 else f"chain {chain}: "
            problems.append((result.first_bad_seq, chain, prefix + (result.problem or "the chain is broken")))
        elif ends is not None and chain in ends:
            reached = start_seq - 1 + result.events_checked
            if reached < ends[chain]:
                problems.append((reached + 1, chain, f"chain {chain}: events missing at the end of the export"))

    def through(source: Sequence[Checkpoint], field_name: str) -> int:
        newest = 0
        for checkpoint in source:
            if not verdicts.get(checkpoint, False):
                continue
            pins = [h for h in checkpoint.chain_heads() if h.chain in results and h.seq > 0]
            if ends is not None:
                pins = [h for h in pins if h.seq <= ends.get(h.chain, 0)]
            if pins and all(getattr(results[h.chain], field_name) >= h.seq for h in pins):
                newest = max(newest, checkpoint.seq)
        return newest

    first_bad_seq, first_bad_chain, problem = min(problems) if problems else (None, None, None)
    return TrailVerification(
        intact=not problems,
        events_checked=sum(r.events_checked for r in results.values()),
        checkpoints_checked=len(checkpoints),
        signed_through_seq=through(checkpoints, "signed_through_seq"),
        first_bad_seq=first_bad_seq,
        problem=problem,
        last_hash=results[chains[0]].last_hash if chains else GENESIS_HASH,
        witnessed_through_seq=through(witnessed, "witnessed_through_seq"),
        newest_stored_seq=max(stored_seqs, default=0),
        first_bad_chain=None if first_bad_chain is None or first_bad_chain < 0 else first_bad_chain,
        chains_checked=len(results),
    )
