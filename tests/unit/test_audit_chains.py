"""The audit log's chains in the pure domain: chain-0 events hash as before chains existed, the Merkle root over
chain heads, format-2 checkpoints, and verification of several chains against them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from realname.domain.audit import GENESIS_HASH, AuditEvent, AuditRecord, JsonValue, chain_hash, next_event
from realname.domain.audit_checkpoints import ChainHead, Checkpoint, merkle_root, verify_chains

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def chain_of(chain: int, count: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    seq, last = 0, GENESIS_HASH
    for i in range(count):
        event = next_event(
            seq, last, AuditRecord(f"test.e{i}", "cli:operator", None, None), T0 + timedelta(seconds=i), chain=chain
        )
        events.append(event)
        seq, last = event.seq, event.hash
    return events


def head_of(events: list[AuditEvent], chain: int) -> ChainHead:
    return ChainHead(chain, events[-1].seq, events[-1].hash) if events else ChainHead(chain, 0, GENESIS_HASH)


def signed(heads: list[ChainHead]) -> Checkpoint:
    unsigned = Checkpoint.unsigned(heads, T0 + timedelta(hours=1), "k1")
    return unsigned.signed(b"sig:" + unsigned.message())


def valid(checkpoint: Checkpoint) -> bool:
    return checkpoint.signature == b"sig:" + checkpoint.message()


def test_chain_zero_events_hash_exactly_as_the_single_chain_did() -> None:
    event = chain_of(0, 1)[0]
    legacy_payload: dict[str, JsonValue] = {
        "seq": 1,
        "at": T0.isoformat(timespec="microseconds"),
        "action": "test.e0",
        "actor": "cli:operator",
        "outlet": None,
        "subject": None,
        "details": {},
    }
    assert event.hash == chain_hash(GENESIS_HASH, legacy_payload)
    other = chain_of(3, 1)[0]
    assert other.payload()["chain"] == 3 and other.hash != event.hash


def test_the_merkle_root_commits_to_every_head_in_chain_order() -> None:
    heads = [ChainHead(c, c * 2, f"{c:064x}") for c in range(5)]
    root = merkle_root(heads)
    assert merkle_root(list(reversed(heads))) == root
    for i in range(5):
        changed = [*heads]
        changed[i] = dataclasses.replace(heads[i], seq=heads[i].seq + 1)
        assert merkle_root(changed) != root
    swapped = [
        dataclasses.replace(heads[0], hash=heads[1].hash),
        dataclasses.replace(heads[1], hash=heads[0].hash),
        *heads[2:],
    ]
    assert merkle_root(swapped) != root
    with pytest.raises(ValueError, match="one head per chain"):
        merkle_root([heads[0], heads[0]])


def test_a_format_2_checkpoint_signs_the_root_and_the_total() -> None:
    heads = [ChainHead(0, 3, "a" * 64), ChainHead(1, 4, "b" * 64)]
    checkpoint = signed(heads)
    assert checkpoint.seq == 7 and checkpoint.last_hash == merkle_root(heads) and checkpoint.consistent()
    assert b'"format":"realname-audit-checkpoint/2"' in checkpoint.message()
    tampered = dataclasses.replace(checkpoint, heads=(ChainHead(0, 3, "a" * 64), ChainHead(1, 4, "c" * 64)))
    assert not tampered.consistent() and valid(tampered)  # the signature covers the root, the root the heads


def test_verification_pins_each_chain_and_names_the_broken_one() -> None:
    chains = {0: chain_of(0, 6), 1: chain_of(1, 4), 2: []}
    checkpoint = signed([head_of(events, c) for c, events in chains.items()])
    result = verify_chains(lambda c: chains[c], sorted(chains), [checkpoint], valid)
    assert result.intact and (result.events_checked, result.signed_through_seq, result.chains_checked) == (10, 10, 3)

    forged = chain_of(1, 4)
    forged[2] = dataclasses.replace(forged[2], actor="staff:evil")
    broken = verify_chains(lambda c: forged if c == 1 else chains[c], sorted(chains), [checkpoint], valid)
    assert not broken.intact and (broken.first_bad_chain, broken.first_bad_seq) == (1, 3)

    rewritten = [next_event(0, GENESIS_HASH, AuditRecord("x", "staff:ghost", None, None), T0, chain=1)]
    cut = verify_chains(lambda c: rewritten if c == 1 else chains[c], sorted(chains), [checkpoint], valid)
    assert not cut.intact and (cut.first_bad_chain, cut.first_bad_seq) == (1, 2)
    assert "below the signed checkpoint at 4" in (cut.problem or "")


def test_a_checkpoint_covers_an_event_only_up_to_its_own_chains_head() -> None:
    heads = [ChainHead(0, 10, "a" * 64), ChainHead(1, 3, "b" * 64), ChainHead(2, 0, GENESIS_HASH)]
    checkpoint = Checkpoint.unsigned(heads, T0, "k1")
    assert checkpoint.seq == 13  # the total: larger than any one chain's head
    assert checkpoint.covers(0, 10) and checkpoint.covers(1, 3)
    # Event 4 of chain 1 and event 1 of chain 2 came after the checkpoint, though both are below its total.
    assert not checkpoint.covers(1, 4) and not checkpoint.covers(2, 1) and not checkpoint.covers(5, 1)
    single = Checkpoint(7, "c" * 64, T0, "k1", b"")  # format 1: chain 0 alone
    assert single.covers(0, 7) and not single.covers(0, 8) and not single.covers(1, 1)
