"""A reader-bridge simulator: the JSON-over-HTTP service a store PC runs for its ID-card reader and document
camera (protocol ``realname.reader-bridge.v1``, docs/reader-bridge.md), serving test cards instead of hardware.

``realname reader simulate`` runs it for development; the browser tests run it in a thread. Beyond the protocol it
has a control path, ``/simulator/...``, to choose which card lies on the reader (or none). Like a real bridge it
answers only pages from the origins it is told to trust (CORS, with the Private Network Access preflight header),
so no other web page the kiosk's browser opens can read the card.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from realname.adapters.reader_bridge.cards import PROTOCOL, BridgeCard

MAX_CONTROL_BODY_BYTES: Final = 4096


class ReaderState:
    """Which card lies on the simulated reader; shared by the server's threads."""

    def __init__(self, cards: Sequence[BridgeCard]) -> None:
        self._cards = {card.label: card for card in cards}
        self._lock = threading.Lock()
        self._on_reader: str | None = cards[0].label if cards else None

    @property
    def labels(self) -> list[str]:
        return list(self._cards)

    def on_reader(self) -> BridgeCard | None:
        with self._lock:
            return self._cards[self._on_reader] if self._on_reader else None

    def place(self, label: str | None) -> None:
        """Put the card ``label`` on the reader (None: take the card away); KeyError for an unknown label."""
        if label is not None and label not in self._cards:
            raise KeyError(label)
        with self._lock:
            self._on_reader = label


class _Handler(BaseHTTPRequestHandler):
    server: BridgeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: a request line may not carry personal data, but the answers do; nothing is logged."""

    # --- CORS -------------------------------------------------------------------------------------------------

    def _origin_allowed(self) -> bool:
        origin = self.headers.get("Origin")
        return origin is None or origin in self.server.allowed_origins

    def _cors_headers(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and origin in self.server.allowed_origins:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")

    def _send(self, status: HTTPStatus, body: dict[str, object]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self._cors_headers()
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _refuse(self, status: HTTPStatus, code: str, message: str) -> None:
        self._send(status, {"protocol": PROTOCOL, "code": code, "message": message})

    def do_OPTIONS(self) -> None:
        if not self._origin_allowed():
            self._refuse(HTTPStatus.FORBIDDEN, "bridge.origin_refused", "this page may not use the card reader")
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Allow-Private-Network", "true")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # --- protocol ---------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        if not self._origin_allowed():
            self._refuse(HTTPStatus.FORBIDDEN, "bridge.origin_refused", "this page may not use the card reader")
            return
        card = self.server.state.on_reader()
        if self.path == "/v1/status":
            self._send(
                HTTPStatus.OK,
                {
                    "protocol": PROTOCOL,
                    "reader": "ready",
                    "card_present": card is not None,
                    "document_camera": "ready" if card is None or card.front is not None else "none",
                    "device": "realname reader simulator",
                },
            )
        elif self.path == "/simulator/cards":
            self._send(HTTPStatus.OK, {"cards": self.server.state.labels, "on_reader": card.label if card else None})
        else:
            self._refuse(HTTPStatus.NOT_FOUND, "bridge.not_found", "no such path")

    def do_POST(self) -> None:
        if not self._origin_allowed():
            self._refuse(HTTPStatus.FORBIDDEN, "bridge.origin_refused", "this page may not use the card reader")
            return
        body = self._body()
        if body is None:
            return
        card = self.server.state.on_reader()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        if self.path == "/v1/card/read":
            if card is None:
                self._refuse(HTTPStatus.NOT_FOUND, "reader.no_card", "no card on the reader")
                return
            self._send(HTTPStatus.OK, {"protocol": PROTOCOL, "read_at": now, "card": card.as_json()})
        elif self.path == "/v1/document-camera/capture":
            if card is None:
                self._refuse(HTTPStatus.NOT_FOUND, "camera.no_card", "no card under the document camera")
            elif card.front is None:
                self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "camera.unavailable", "no document camera")
            else:
                self._send(HTTPStatus.OK, {"protocol": PROTOCOL, "captured_at": now, "image": card.front.as_json()})
        elif self.path == "/simulator/card":
            label = body.get("label")
            try:
                self.server.state.place(label if isinstance(label, str) else None)
            except KeyError:
                self._refuse(HTTPStatus.NOT_FOUND, "simulator.no_such_card", "no card with that label")
                return
            self._send(HTTPStatus.OK, {"on_reader": label if isinstance(label, str) else None})
        else:
            self._refuse(HTTPStatus.NOT_FOUND, "bridge.not_found", "no such path")

    def _body(self) -> dict[str, object] | None:
        """The JSON object sent (``{}`` when nothing was sent), or None after refusing a bad body."""
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_CONTROL_BODY_BYTES:
            self._refuse(HTTPStatus.BAD_REQUEST, "bridge.bad_request", "the body is too large")
            return None
        if length == 0:
            return {}
        try:
            parsed = json.loads(self.rfile.read(length))
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self._refuse(HTTPStatus.BAD_REQUEST, "bridge.bad_request", "the body must be a JSON object")
            return None
        return parsed


class BridgeServer(ThreadingHTTPServer):
    """The simulator's HTTP server, bound to 127.0.0.1 (a reader bridge never listens beyond the store PC)."""

    daemon_threads = True

    def __init__(self, port: int, cards: Sequence[BridgeCard], allowed_origins: Sequence[str]) -> None:
        self.state = ReaderState(cards)
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"
