"""``POST /v1/attempts/{id}/framing`` — the capture step's framing guide: a low-resolution preview frame in, one
feedback category out (``app.framing``). The frame is read into memory and dropped after the answer: never
stored, logged or audited. Only after the attempt's biometric consent; at most five frames a second per attempt
(429 ``framing.rate_limited``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel, Field

from realname.adapters.http.api import CurrentActor, Services, read_upload
from realname.adapters.http.routing import OneHopRoute
from realname.app.framing import MAX_PREVIEW_BYTES
from realname.domain.errors import DependencyUnavailable
from realname.domain.framing import Framing


class FramingView(BaseModel):
    framing: Framing = Field(
        description="ready, or the one thing to fix first: no_face, multiple_faces, too_far, too_close, off_centre, "
        "too_dark, too_bright"
    )


def build_framing_router() -> APIRouter:
    router = APIRouter(prefix="/v1/attempts/{attempt_id}", tags=["attempts"], route_class=OneHopRoute)

    @router.post("/framing", response_model=FramingView)
    async def framing(
        attempt_id: str,
        svc: Services,
        actor: CurrentActor,
        frame: Annotated[UploadFile, File(description="One preview frame, JPEG/PNG/WebP, at most 640×640, 256 KiB")],
    ) -> FramingView:
        """Whether the customer is framed for recording the challenge (guidance only: it decides nothing)."""
        if svc.framing is None:
            raise DependencyUnavailable("the framing guide is not configured", code="framing.unavailable")
        data = await read_upload(frame, MAX_PREVIEW_BYTES, "image")
        try:
            return FramingView(framing=await svc.run_blocking(svc.framing.check, actor, attempt_id, data))
        finally:
            del data

    return router
