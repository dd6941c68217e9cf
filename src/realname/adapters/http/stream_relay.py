"""Streamed clips across worker processes and hosts: a chunk that reaches a process other than the one holding its
stream is relayed there.

A streamed clip's state (the demuxer and decoder part-way through the recording, the face tracking, the per-frame
measurements, a few candidate pictures) lives in the memory of the worker process that opened the stream, and
cannot move: a WebM piece is decodable only after every piece before it, by the decoder that read them. So instead
of the state, the request moves. Each worker also listens on a relay address of its own (``REALNAME_STREAM_RELAY_HOST``,
loopback by default, an ephemeral port), serving the same API; the stream id it hands out names that address,
under a MAC with a key every host shares (derived from the token key), so no client can point a server at an
address of its choosing. A chunk or an end request arriving at another worker is forwarded unchanged (body,
bearer token) to the owner's relay address, which checks and answers it as if it had come directly; the answer
goes back to the client as is. A relayed request is never relayed again.

When the owner is gone (its worker restarted, its host down) the relay fails closed with 409
``liveness.stream_unknown``, as before: the kiosk answers a new challenge.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import socket
from dataclasses import dataclass

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from realname.domain.liveness import StreamUnknown

RELAYED_HEADER = "X-Realname-Relayed"
"""Set on a relayed request: the receiving worker answers it itself, never relays it further."""

_LOCAL_ID_HEX = 32
_MAC_HEX = 32
_FORWARDED_HEADERS = ("authorization", "content-type", "x-request-id", "accept-language")
_ANSWER_HEADERS = ("content-type", "retry-after")
_RELAY_TIMEOUT_SECONDS = 60.0
STREAM_ID_PATTERN = rf"^[0-9a-f]{{{_LOCAL_ID_HEX}}}(-[0-9a-f]{{6,120}}-[0-9a-f]{{{_MAC_HEX}}})?$"
"""A local stream id (32 hex digits), followed by its owner's relay address and their MAC when relaying is on."""


@dataclass(frozen=True, slots=True)
class StreamRoute:
    """Where a stream id says its stream lives: ``owner`` (host:port of a relay address) or None (this process)."""

    local_id: str
    owner: str | None


class StreamRelay:
    """Seals stream ids with this worker's relay address, reads them back, and relays requests to their owner."""

    def __init__(self, key: bytes, host: str = "127.0.0.1") -> None:
        if len(key) < 32:
            raise ValueError("the stream relay key has at least 32 bytes")
        address = ipaddress.ip_address(host)
        if address.is_unspecified:
            raise ValueError("the stream relay host must be an address other hosts can reach, not 0.0.0.0 or ::")
        self._key = key
        self.host = host
        self.address: str | None = None
        """``host:port`` once listening (:meth:`listen`); until then stream ids are local only."""
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"StreamRelay(address={self.address!r})"

    # -- stream ids ------------------------------------------------------------------------------------------

    def seal(self, local_id: str) -> str:
        """The stream id to hand out: the local id, this worker's relay address and their MAC."""
        if self.address is None:
            return local_id
        owner = self.address.encode("ascii").hex()
        return f"{local_id}-{owner}-{self._mac(local_id, owner)}"

    def route(self, stream_id: str) -> StreamRoute:
        """Where the stream lives. Raises StreamUnknown for an id whose MAC does not verify (forged or from a
        deployment with another key): it names no stream here either."""
        local_id, _, rest = stream_id.partition("-")
        if not rest:
            return StreamRoute(local_id, None)
        owner_hex, _, mac = rest.partition("-")
        if not hmac.compare_digest(mac, self._mac(local_id, owner_hex)):
            raise StreamUnknown("no open stream with this id; answer a new challenge")
        owner = bytes.fromhex(owner_hex).decode("ascii")
        return StreamRoute(local_id, None if owner == self.address else owner)

    def _mac(self, local_id: str, owner_hex: str) -> str:
        return hmac.new(self._key, f"{local_id}|{owner_hex}".encode("ascii"), hashlib.sha256).hexdigest()[:_MAC_HEX]

    # -- relaying --------------------------------------------------------------------------------------------

    async def forward(self, request: Request, owner: str, body: bytes) -> Response:
        """Send the request as it came to the owner's relay address and return its answer unchanged.

        Raises:
            StreamUnknown: the request was already relayed once, or the owner cannot be reached.
        """
        if request.headers.get(RELAYED_HEADER):
            raise StreamUnknown("the stream is not held by the process it was relayed to; answer a new challenge")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=_RELAY_TIMEOUT_SECONDS)
        headers = {name: value for name in _FORWARDED_HEADERS if (value := request.headers.get(name)) is not None}
        headers[RELAYED_HEADER] = "1"
        url = f"http://{owner}{request.url.path}"
        try:
            answer = await self._client.request(request.method, url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise StreamUnknown(
                "the server process holding this stream cannot be reached; answer a new challenge"
            ) from exc
        kept = {name: value for name in _ANSWER_HEADERS if (value := answer.headers.get(name)) is not None}
        return Response(content=answer.content, status_code=answer.status_code, headers=kept)

    # -- the relay listener ----------------------------------------------------------------------------------

    async def listen(self, app: FastAPI) -> None:
        """Serve ``app`` on this worker's own relay address too (same event loop, an ephemeral port)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(128)
        sock.setblocking(False)
        config = uvicorn.Config(app, lifespan="off", access_log=False, log_config=None, timeout_keep_alive=30)
        config.load()
        server = uvicorn.Server(config)
        # The app's own lifespan runs once, for the main listener; this listener only adds an address.
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        port = int(sock.getsockname()[1])
        self._server, self._socket = server, sock
        self.address = f"[{self.host}]:{port}" if family == socket.AF_INET6 else f"{self.host}:{port}"

    async def close(self) -> None:
        self.address = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._server is not None and self._socket is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._server.shutdown(sockets=[self._socket]), timeout=10)
            self._socket.close()
        self._server = self._socket = None
