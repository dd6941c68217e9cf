"""``/v1/attempts/{id}/liveness/streams`` — the clip uploaded in chunks while it is recorded.

Why chunked HTTP requests and not a WebSocket: every chunk goes through what a single upload goes through — the
bearer token, the body-size middleware (which sees only HTTP requests), the error table that turns each refusal
into a typed 4xx with a stable ``code``, the bounded inference pool — and through any HTTP load balancer or proxy
unchanged. A chunk's answer tells the kiosk it was analysed, so chunks are naturally sent one at a time and in
order. A WebSocket would need its own authentication, framing, size limits and error protocol, and long-lived
connections that load balancers treat differently. The price is a request per chunk (about one a second).

The flow (``app.streamed_verification``): ``POST …/liveness/streams`` with the nonce and the signed chip portrait
(multipart, as the single upload, ``X-Reader-*`` headers) opens a stream; ``PUT …/streams/{stream}/chunks/{seq}``
sends the recording's pieces (``application/octet-stream``, seq from 0); ``POST …/streams/{stream}/end`` with the
number of chunks sent returns the decision. Streams are held by the process that opened them; a chunk or end that
reaches another worker or host is relayed to that process (``stream_relay``), and fails closed with 409
``liveness.stream_unknown`` when it is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from realname.adapters.http import schemas as s
from realname.adapters.http.api import (
    CurrentActor,
    Reader,
    Services,
    decision_view,
    max_id_photo_bytes,
    read_upload,
)
from realname.adapters.http.routing import OneHopRoute
from realname.adapters.http.services import HttpServices
from realname.adapters.http.stream_relay import STREAM_ID_PATTERN, StreamRoute
from realname.domain.errors import InvalidInput


class StreamView(BaseModel):
    stream_id: str
    max_chunks: int
    max_bytes: int = Field(description="All chunks together")
    idle_seconds: float = Field(description="A stream with no chunk for this long is given up")
    expires_at: datetime


class ChunkView(BaseModel):
    received: int = Field(description="Chunks received so far; the next chunk's seq")
    bytes_received: int
    frames_analysed: int


class StreamEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    chunks: int = Field(ge=1, le=10_000, description="How many chunks the kiosk sent")


StreamId = Annotated[str, Path(pattern=STREAM_ID_PATTERN)]


def build_stream_router() -> APIRouter:
    router = APIRouter(prefix="/v1/attempts/{attempt_id}/liveness/streams", tags=["attempts"], route_class=OneHopRoute)

    @router.post("", response_model=StreamView, status_code=201)
    async def open_stream(
        attempt_id: str,
        svc: Services,
        actor: CurrentActor,
        nonce: Annotated[str, Form(min_length=32, max_length=32)],
        id_photo: Annotated[UploadFile, File(description="Photo read from the ID card's chip (JPEG/PNG/WebP)")],
        reader: Reader,
        card_front: Annotated[
            UploadFile | None, File(description="Optional: the document camera's image of the ID card's front")
        ] = None,
    ) -> StreamView:
        """Open a streamed answer to the challenge: the checks of ``POST …/liveness`` before analysis (signed chip
        portrait, lock-outs, the challenge consumed), then send the clip's chunks as they are recorded."""
        photo_bytes = await read_upload(id_photo, max_id_photo_bytes(svc.policy.max_upload_bytes), "image")
        card_bytes = (
            await read_upload(card_front, max_id_photo_bytes(svc.policy.max_upload_bytes), "image")
            if card_front is not None
            else None
        )
        opened = await svc.run_blocking(
            svc.liveness_streams.open,
            actor,
            attempt_id,
            nonce=nonce,
            id_photo=photo_bytes,
            reader=reader,
            card_front=card_bytes,
        )
        del photo_bytes, card_bytes
        relay = svc.stream_relay
        return StreamView(
            stream_id=relay.seal(opened.stream_id) if relay is not None else opened.stream_id,
            max_chunks=opened.max_chunks,
            max_bytes=opened.max_bytes,
            idle_seconds=opened.idle_seconds,
            expires_at=opened.expires_at,
        )

    @router.put("/{stream_id}/chunks/{seq}", response_model=ChunkView)
    async def add_chunk(
        attempt_id: str,
        stream_id: StreamId,
        seq: Annotated[int, Path(ge=0, le=100_000)],
        request: Request,
        svc: Services,
        actor: CurrentActor,
    ) -> ChunkView | Response:
        """The next piece of the recording (raw bytes as the recorder produced them), analysed before the answer.
        A duplicate or early chunk (409 ``liveness.chunk_duplicate`` / ``liveness.chunk_out_of_order``) or a clip
        error gives the stream up."""
        route = route_of(svc, stream_id)
        data = await request.body()
        if route.owner is not None and svc.stream_relay is not None:
            return await svc.stream_relay.forward(request, route.owner, data)
        if not data:
            raise InvalidInput("the chunk is empty", code="liveness.chunk_empty")
        receipt = await svc.run_blocking(svc.liveness_streams.add_chunk, actor, attempt_id, route.local_id, seq, data)
        del data
        return ChunkView(
            received=receipt.received, bytes_received=receipt.bytes_received, frames_analysed=receipt.frames_analysed
        )

    @router.post("/{stream_id}/end", response_model=s.DecisionView)
    async def end_stream(
        attempt_id: str, stream_id: StreamId, body: StreamEnd, request: Request, svc: Services, actor: CurrentActor
    ) -> s.DecisionView | Response:
        """The recording has ended after ``chunks`` chunks: the decision, as ``POST …/liveness`` gives it
        (409 ``liveness.chunk_missing`` when fewer chunks arrived)."""
        route = route_of(svc, stream_id)
        if route.owner is not None and svc.stream_relay is not None:
            return await svc.stream_relay.forward(request, route.owner, body.model_dump_json().encode("utf-8"))
        decision = await svc.run_blocking(svc.liveness_streams.finish, actor, attempt_id, route.local_id, body.chunks)
        return decision_view(decision, actor)

    return router


def route_of(svc: HttpServices, stream_id: str) -> StreamRoute:
    """Where a stream id's stream lives (this process when relaying is off)."""
    if svc.stream_relay is None:
        return StreamRoute(stream_id, None)
    return svc.stream_relay.route(stream_id)
