"""Request size limits enforced while the body arrives, and uploads kept in memory.

The limit is applied by an ASGI middleware outside everything else of ours, so an oversized request costs
neither authentication work nor buffering: a declared ``Content-Length`` above the limit is refused before the
application sees the request, and a body without one (chunked) is counted as it is received and refused the
moment it passes the limit. Either way the answer is 413 ``request.too_large``.

Multipart uploads are parsed by Starlette into ``SpooledTemporaryFile``s that roll over to a file on disk past
``MultiPartParser.spool_max_size`` (1 MB). :func:`keep_uploads_in_memory` raises that threshold above the
largest body the middleware lets through, so a clip or an ID photo never reaches a temporary file.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.formparsers import MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE_CODE = "request.too_large"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""Every request without an upload (JSON bodies are a few hundred bytes)."""
MULTIPART_OVERHEAD_BYTES = 64 * 1024
"""Boundaries, part headers and form fields around the uploaded files."""

# The single upload, a stream's opening (ID photo, card front) and a stream's chunks (each at most the whole clip).
_UPLOAD_ROUTE = re.compile(r"^/v1/attempts/[^/]+/liveness(/streams(/[^/]+/chunks/[0-9]+)?)?$")


def request_id_from(headers: Headers) -> str:
    """The caller's ``X-Request-ID`` when it is short and alphanumeric, else a fresh one."""
    supplied = headers.get("x-request-id", "")
    return supplied if supplied.isalnum() and len(supplied) <= 64 else secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """The body limit of each path: a liveness upload carries a clip, an ID photo and optionally a card-front image
    (each image within ``max_photo_bytes``), the rest 1 MiB."""

    max_clip_bytes: int
    max_photo_bytes: int

    @property
    def upload_bytes(self) -> int:
        return self.max_clip_bytes + 2 * self.max_photo_bytes + MULTIPART_OVERHEAD_BYTES

    def for_path(self, path: str) -> int:
        return self.upload_bytes if _UPLOAD_ROUTE.match(path) else DEFAULT_MAX_BODY_BYTES


def keep_uploads_in_memory(max_body_bytes: int) -> None:
    """Make multipart parsing keep every file part in memory up to ``max_body_bytes`` (never a temp file).

    ``spool_max_size`` is Starlette's documented class attribute for this threshold; it is raised, never
    lowered, so the setting is the same for every app in the process.
    """
    if MultiPartParser.spool_max_size <= max_body_bytes:
        MultiPartParser.spool_max_size = max_body_bytes + 1


class RequestBodyLimit:
    """Refuse request bodies over ``limit_for(path)`` bytes with 413, counting them as they arrive."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            # Refused before the application (and authentication) sees it; nothing of the body is read.
            await _refuse(send, headers, limit)
            return
        received = 0
        started = refused = False

        async def counting_receive() -> Message:
            # Past the limit the 413 goes out at once and the application is told the client left: an
            # exception raised here could arrive wrapped (task groups) and be taken for a malformed body.
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, headers, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 was the answer; whatever the application says after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)


def _message(limit_bytes: int) -> str:
    return f"the request body is larger than {limit_bytes} bytes"


async def _refuse(send: Send, headers: Headers, limit_bytes: int) -> None:
    request_id = request_id_from(headers)
    body = json.dumps({"code": TOO_LARGE_CODE, "message": _message(limit_bytes), "request_id": request_id}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
