"""Streamed verification through the HTTP API: real clips recorded as a kiosk does (VP8 WebM), sent in chunks cut
at arbitrary byte positions, analysed on arrival and decided by the real models; and every refusal of the protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from realname.adapters.http.app import create_app
from tests.e2e import flows
from tests.e2e.media import kiosk_webm, pieces
from tests.e2e.test_api_flows import ID_A, REAL, REPLAY, Store, liveness_dir, open_store

__all__ = ["liveness_dir"]  # the module-scoped fixture, shared with the single-upload flows

CHUNKS = 10


@pytest.fixture(scope="module")
def webm(liveness_dir: Path) -> dict[str, bytes]:
    return {name: kiosk_webm(liveness_dir / name) for name in (REAL, REPLAY)}


@pytest.fixture
def store(tmp_path: Path, liveness_dir: Path) -> Iterator[Store]:
    yield from open_store(tmp_path, liveness_dir)


def opened(store: Store, clerk: dict[str, str]) -> tuple[str, str]:
    """A challenged attempt with an open stream: (attempt id, stream id)."""
    attempt, nonce = store.challenged(clerk)
    response = flows.open_stream(store.client, clerk, attempt, nonce, store.id_photo)
    assert response.status_code == 201, response.text
    return attempt, str(response.json()["stream_id"])


def test_real_customer_streamed_in_chunks_is_approved_and_audited(store: Store, webm: dict[str, bytes]) -> None:
    clerk = store.staff()
    attempt, nonce = store.challenged(clerk)
    chunks = pieces(webm[REAL], CHUNKS)
    opened = flows.open_stream(store.client, clerk, attempt, nonce, store.id_photo)
    assert opened.status_code == 201, opened.text
    stream = opened.json()["stream_id"]
    analysed = []
    for seq, chunk in enumerate(chunks):
        sent = flows.send_chunk(store.client, clerk, attempt, stream, seq, chunk)
        assert sent.status_code == 200, sent.text
        assert sent.json()["received"] == seq + 1
        analysed.append(sent.json()["frames_analysed"])
    # Frames are analysed as their chunks arrive, not all at the end.
    assert 0 < analysed[len(analysed) // 2] < analysed[-1]
    decision = flows.end_stream(store.client, clerk, attempt, stream, len(chunks))
    assert decision.status_code == 200, decision.text
    body = decision.json()
    assert body["passed"] is True and body["next_step"] == "choose_number"
    assert body["similarity"] is None and body["reasons"] is None
    audited = store.last_decision()
    assert audited["outcome"] == "approved" and audited["frames_used"] >= 1
    assert store.container.liveness_streams.open_count == 0
    reserved = store.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130001"}, headers=clerk)
    assert reserved.status_code == 200, reserved.text


def test_streamed_screen_replay_is_rejected_as_spoof(store: Store, webm: dict[str, bytes]) -> None:
    clerk = store.staff()
    attempt, nonce = store.challenged(clerk)
    decision = flows.stream_liveness(store.client, clerk, attempt, nonce, pieces(webm[REPLAY], CHUNKS), store.id_photo)
    assert decision.status_code == 200, decision.text
    assert decision.json()["passed"] is False and decision.json()["reason_category"] == "spoof_suspected"


def test_a_stream_needs_the_terminals_signed_portrait_and_spends_the_challenge(store: Store) -> None:
    clerk = store.staff()
    attempt, nonce = store.challenged(clerk)
    unsigned = flows.open_stream(store.client, clerk, attempt, nonce, store.id_photo, signed=False)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "reader.required"
    first = flows.open_stream(store.client, clerk, attempt, nonce, store.id_photo)
    assert first.status_code == 201, first.text
    again = flows.open_stream(store.client, clerk, attempt, nonce, store.id_photo)
    assert again.status_code == 409 and again.json()["code"] == "challenge.replayed"
    single = store.answer(clerk, attempt, nonce)
    assert single.status_code == 409 and single.json()["code"] == "challenge.replayed"


def test_a_duplicate_chunk_gives_the_stream_up(store: Store, webm: dict[str, bytes]) -> None:
    clerk = store.staff()
    attempt, stream = opened(store, clerk)
    chunks = pieces(webm[REAL], CHUNKS)
    assert flows.send_chunk(store.client, clerk, attempt, stream, 0, chunks[0]).status_code == 200
    duplicate = flows.send_chunk(store.client, clerk, attempt, stream, 0, chunks[0])
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "liveness.chunk_duplicate"
    after = flows.send_chunk(store.client, clerk, attempt, stream, 1, chunks[1])
    assert after.status_code == 409 and after.json()["code"] == "liveness.stream_unknown"
    assert store.container.liveness_streams.open_count == 0


def test_an_early_chunk_gives_the_stream_up(store: Store, webm: dict[str, bytes]) -> None:
    clerk = store.staff()
    attempt, stream = opened(store, clerk)
    chunks = pieces(webm[REAL], CHUNKS)
    early = flows.send_chunk(store.client, clerk, attempt, stream, 1, chunks[1])
    assert early.status_code == 409 and early.json()["code"] == "liveness.chunk_out_of_order"
    ended = flows.end_stream(store.client, clerk, attempt, stream, 1)
    assert ended.status_code == 409 and ended.json()["code"] == "liveness.stream_unknown"


def test_ending_with_a_chunk_missing_is_refused_and_decides_nothing(store: Store, webm: dict[str, bytes]) -> None:
    clerk = store.staff()
    attempt, stream = opened(store, clerk)
    chunks = pieces(webm[REAL], CHUNKS)
    for seq, chunk in enumerate(chunks[:-1]):
        assert flows.send_chunk(store.client, clerk, attempt, stream, seq, chunk).status_code == 200
    missing = flows.end_stream(store.client, clerk, attempt, stream, len(chunks))
    assert missing.status_code == 409 and missing.json()["code"] == "liveness.chunk_missing"
    state = store.client.get(f"/v1/attempts/{attempt}", headers=clerk).json()
    assert state["outcome"] is None
    assert store.container.liveness_streams.open_count == 0


def test_a_stream_belongs_to_its_clerk_and_attempt(store: Store, webm: dict[str, bytes]) -> None:
    clerk, other = store.staff(), store.staff(name="Han Meimei")
    attempt, stream = opened(store, clerk)
    chunk = pieces(webm[REAL], CHUNKS)[0]
    stolen = flows.send_chunk(store.client, other, attempt, stream, 0, chunk)
    assert stolen.status_code in (404, 409)
    elsewhere = flows.send_chunk(store.client, clerk, store.start(clerk), stream, 0, chunk)
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "liveness.stream_unknown"
    assert flows.send_chunk(store.client, clerk, attempt, stream, 0, chunk).status_code == 200


def test_chunks_reaching_another_process_are_relayed_to_the_one_holding_the_stream(
    store: Store, webm: dict[str, bytes]
) -> None:
    """A second app on the same database and key file (as a second worker or host would be) has no stream state;
    it relays each chunk and the end to the process that opened the stream, which decides."""
    clerk = store.staff()
    attempt, nonce = store.challenged(clerk)
    opened = flows.open_stream(store.client, clerk, attempt, nonce, store.id_photo)
    assert opened.status_code == 201, opened.text
    stream = str(opened.json()["stream_id"])
    relay = store.client.app.state.services.stream_relay  # type: ignore[attr-defined]
    assert relay is not None and relay.address is not None and relay.address.encode().hex() in stream
    other_container = type(store.container)(store.container.settings, random=store.container.random)
    chunks = pieces(webm[REAL], CHUNKS)
    with TestClient(create_app(other_container.http_services()), raise_server_exceptions=False) as elsewhere:
        for seq, chunk in enumerate(chunks):
            client = elsewhere if seq % 2 == 0 else store.client
            sent = flows.send_chunk(client, clerk, attempt, stream, seq, chunk)
            assert sent.status_code == 200, sent.text
            assert sent.json()["received"] == seq + 1
        # The stream lives where it was opened: the other process holds none, all along.
        assert other_container.liveness_streams.open_count == 0
        assert store.container.liveness_streams.open_count == 1
        decision = flows.end_stream(elsewhere, clerk, attempt, stream, len(chunks))
        assert decision.status_code == 200, decision.text
        assert decision.json()["passed"] is True and decision.json()["next_step"] == "choose_number"
    other_container.engine.dispose()
    assert store.container.liveness_streams.open_count == 0
    assert store.last_decision()["outcome"] == "approved"


def test_a_stream_whose_process_is_gone_or_whose_id_is_forged_fails_closed(
    store: Store, webm: dict[str, bytes]
) -> None:
    clerk = store.staff()
    chunk = pieces(webm[REAL], CHUNKS)[0]
    attempt, nonce = store.challenged(clerk)
    other_container = type(store.container)(store.container.settings, random=store.container.random)
    with TestClient(create_app(other_container.http_services()), raise_server_exceptions=False) as elsewhere:
        elsewhere.realname_kiosks = flows.kiosks_of(store.client)  # the same enrolled kiosk signs the portrait
        started = flows.open_stream(elsewhere, clerk, attempt, nonce, store.id_photo)
        assert started.status_code == 201, started.text
        stream = str(started.json()["stream_id"])
        assert flows.send_chunk(store.client, clerk, attempt, stream, 0, chunk).status_code == 200
    other_container.engine.dispose()
    # The process holding the stream stopped: nobody answers at its relay address.
    answer = flows.send_chunk(store.client, clerk, attempt, stream, 1, chunk)
    assert answer.status_code == 409 and answer.json()["code"] == "liveness.stream_unknown"
    ended = flows.end_stream(store.client, clerk, attempt, stream, 2)
    assert ended.status_code == 409 and ended.json()["code"] == "liveness.stream_unknown"

    # A stream id pointing elsewhere without the deployment's MAC is not followed: no request leaves the server.
    attempt, stream = opened(store, clerk)
    local_id, owner, mac = stream.split("-")
    elsewhere_hex = b"127.0.0.1:9".hex()
    for forged in (f"{local_id}-{elsewhere_hex}-{mac}", f"{local_id}-{owner}-{'0' * 32}"):
        refused = flows.send_chunk(store.client, clerk, attempt, forged, 0, chunk)
        assert refused.status_code == 409 and refused.json()["code"] == "liveness.stream_unknown"
    assert flows.send_chunk(store.client, clerk, attempt, stream, 0, chunk).status_code == 200


def test_not_a_video_is_a_400_and_gives_the_stream_up(store: Store) -> None:
    clerk = store.staff()
    attempt, stream = opened(store, clerk)
    junk = flows.send_chunk(store.client, clerk, attempt, stream, 0, b"\x00not a video" * 2000)
    assert junk.status_code == 400 and junk.json()["code"] == "liveness.clip_invalid"
    assert store.container.liveness_streams.open_count == 0
    empty = flows.send_chunk(store.client, clerk, attempt, stream, 1, b"")
    assert empty.status_code == 400 and empty.json()["code"] == "liveness.chunk_empty"


def test_streamed_bytes_are_capped_like_a_single_upload(
    tmp_path: Path, liveness_dir: Path, webm: dict[str, bytes]
) -> None:
    limit = len(webm[REAL]) // 2
    for store in open_store(tmp_path, liveness_dir, max_upload_bytes=limit):
        clerk = store.staff()
        attempt, stream = opened(store, clerk)
        chunks = pieces(webm[REAL], 5)
        assert flows.send_chunk(store.client, clerk, attempt, stream, 0, chunks[0]).status_code == 200
        assert flows.send_chunk(store.client, clerk, attempt, stream, 1, chunks[1]).status_code == 200
        too_much = flows.send_chunk(store.client, clerk, attempt, stream, 2, chunks[2])
        assert too_much.status_code == 400 and too_much.json()["code"] == "liveness.clip_too_large"
        # A single chunk over the request limit never reaches the application.
        attempt, stream = opened(store, clerk)
        huge = flows.send_chunk(store.client, clerk, attempt, stream, 0, b"\x1a" * (limit + 3 * 1024 * 1024))
        assert huge.status_code == 413 and huge.json()["code"] == "request.too_large"


def test_an_idle_stream_is_given_up_and_its_memory_freed(store: Store, webm: dict[str, bytes]) -> None:
    clerk = store.staff()
    attempt, stream = opened(store, clerk)
    streams = store.container.liveness_streams
    assert flows.send_chunk(store.client, clerk, attempt, stream, 0, pieces(webm[REAL], CHUNKS)[0]).status_code == 200
    assert streams.open_count == 1
    streams.limits = replace(streams.limits, idle_seconds=0.0)
    assert streams.sweep() == 1 and streams.open_count == 0
    late = flows.send_chunk(store.client, clerk, attempt, stream, 1, b"\x1a" * 10)
    assert late.status_code == 409 and late.json()["code"] == "liveness.stream_unknown"


def test_single_upload_still_works_beside_streams(store: Store) -> None:
    clerk = store.staff()
    decision = store.verified(clerk, id_number=ID_A)
    assert decision["passed"] is True
