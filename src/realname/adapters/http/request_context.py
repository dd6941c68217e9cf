"""Every request's id, its metrics and the headers every response carries, as a plain ASGI middleware.

It was a ``@app.middleware("http")`` function: Starlette runs those through ``BaseHTTPMiddleware``, which gives each
request a task group, a memory stream for the response and a second task, and re-wraps the response; in the
registry benchmark's server profile that machinery was a visible share of a request's CPU (benchmarks/README.md,
"Registry-only load through HTTP"). This does the same work on the ASGI messages themselves.
"""

from __future__ import annotations

import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from realname.adapters.http.body_limit import request_id_from
from realname.adapters.metrics import ServiceMetrics

_SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


class RequestContext:
    """Gives each HTTP request an id (``request.state.request_id``, echoed as ``X-Request-ID``), sets the headers
    every response carries, and counts and times requests by route template (never the path: no ids in labels)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics | None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in _SECURITY_HEADERS:
                    headers[name] = value
                if self.metrics is not None:
                    _observe(self.metrics, scope, status, started)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _observe(metrics: ServiceMetrics, scope: Scope, status: int, started: float) -> None:
    """Counted and timed when the response starts, by the route's template (``/v1/attempts/{attempt_id}``)."""
    route = getattr(scope.get("route"), "path", "unmatched")
    method = str(scope["method"])
    metrics.requests.labels(method, route, str(status)).inc()
    metrics.request_seconds.labels(method, route).observe(time.perf_counter() - started)
