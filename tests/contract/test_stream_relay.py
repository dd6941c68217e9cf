"""The stream relay on its own (no models): stream ids sealed with the owner's relay address, refused when forged,
and a request relayed to the owner's listener unchanged, answered back, never relayed twice."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from realname.adapters.http.stream_relay import RELAYED_HEADER, StreamRelay, StreamRoute
from realname.domain.liveness import StreamUnknown

LOCAL_ID = "ab" * 16


def relaying_app(relay: StreamRelay, seen: list[tuple[str, str, bytes, str | None]]) -> FastAPI:
    """An app that answers for the streams it owns and relays the others, as the stream routes do."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await relay.listen(app)
        try:
            yield
        finally:
            await relay.close()

    app = FastAPI(lifespan=lifespan)

    @app.put("/streams/{stream_id}")
    async def chunk(stream_id: str, request: Request) -> Response:
        body = await request.body()
        try:
            route = relay.route(stream_id)
            if route.owner is not None:
                return await relay.forward(request, route.owner, body)
        except StreamUnknown:
            return Response(status_code=409, content=b"unknown")
        seen.append(
            (route.local_id, request.headers.get("authorization", ""), body, request.headers.get(RELAYED_HEADER))
        )
        return Response(content=b"analysed " + body, media_type="text/plain", headers={"Retry-After": "3"})

    return app


def test_a_request_for_another_process_stream_is_relayed_to_it_and_answered_back() -> None:
    key = secrets.token_bytes(32)
    owner_relay, other_relay = StreamRelay(key), StreamRelay(key)
    at_owner: list[tuple[str, str, bytes, str | None]] = []
    at_other: list[tuple[str, str, bytes, str | None]] = []
    with (
        TestClient(relaying_app(owner_relay, at_owner)) as owner,
        TestClient(relaying_app(other_relay, at_other)) as other,
    ):
        assert owner_relay.address is not None and owner_relay.address != other_relay.address
        stream_id = owner_relay.seal(LOCAL_ID)
        assert stream_id.startswith(LOCAL_ID + "-") and owner_relay.route(stream_id) == StreamRoute(LOCAL_ID, None)
        assert other_relay.route(stream_id) == StreamRoute(LOCAL_ID, owner_relay.address)

        answer = other.put(f"/streams/{stream_id}", content=b"piece", headers={"Authorization": "Bearer t"})
        assert answer.status_code == 200 and answer.content == b"analysed piece"
        assert answer.headers["retry-after"] == "3"
        assert at_other == [] and at_owner == [(LOCAL_ID, "Bearer t", b"piece", "1")]

        # Sent to its owner directly, it is answered there without a relay.
        assert owner.put(f"/streams/{stream_id}", content=b"next").content == b"analysed next"

        # A relayed request is never relayed again (a stale or looping route fails closed).
        again = other.put(f"/streams/{stream_id}", content=b"x", headers={RELAYED_HEADER: "1"})
        assert again.status_code == 409

        # An id naming another address, or with a MAC under another key, is refused without any connection.
        local, _, mac = stream_id.split("-")
        forged = f"{local}-{b'127.0.0.1:9'.hex()}-{mac}"
        assert other.put(f"/streams/{forged}", content=b"x").status_code == 409
        foreign = StreamRelay(secrets.token_bytes(32))
        foreign.address = owner_relay.address
        assert other.put(f"/streams/{foreign.seal(LOCAL_ID)}", content=b"x").status_code == 409
        assert len(at_owner) == 2
        gone = owner_relay.address

    # The owner stopped: nobody answers at its address, and the relay fails closed.
    with TestClient(relaying_app(other_relay, at_other)) as other:
        ghost = StreamRelay(key)
        ghost.address = gone
        stale = ghost.seal(LOCAL_ID)
        assert other.put(f"/streams/{stale}", content=b"x").status_code == 409


def test_without_a_listener_ids_stay_local_and_the_relay_host_must_be_reachable() -> None:
    relay = StreamRelay(secrets.token_bytes(32))
    assert relay.seal(LOCAL_ID) == LOCAL_ID and relay.route(LOCAL_ID) == StreamRoute(LOCAL_ID, None)
    with pytest.raises(ValueError, match="reach"):
        StreamRelay(secrets.token_bytes(32), "0.0.0.0")
    with pytest.raises(ValueError, match="32 bytes"):
        StreamRelay(b"short")
