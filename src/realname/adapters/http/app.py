"""The FastAPI application factory. Routes call use cases; business rules stay out of this layer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse

from realname import __version__
from realname.adapters.http.api import build_router, max_id_photo_bytes
from realname.adapters.http.api_docs import build_docs_router
from realname.adapters.http.body_limit import BodyLimits, RequestBodyLimit, keep_uploads_in_memory
from realname.adapters.http.checks_api import build_checks_router
from realname.adapters.http.errors import install_error_handlers
from realname.adapters.http.framing_api import build_framing_router
from realname.adapters.http.pages.router import build_pages_router
from realname.adapters.http.reports_api import build_reports_router
from realname.adapters.http.request_context import RequestContext
from realname.adapters.http.routing import OneHopRoute
from realname.adapters.http.services import HttpServices
from realname.adapters.http.stream_api import build_stream_router
from realname.adapters.metrics import CONTENT_TYPE

log = logging.getLogger("realname.http")


def create_app(services: HttpServices) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        relay = services.stream_relay
        if relay is not None:
            # This worker's own address, so other workers and hosts can relay a streamed clip's chunks to it.
            await relay.listen(app)
        try:
            yield
        finally:
            if relay is not None:
                await relay.close()

    app = FastAPI(
        lifespan=lifespan,
        title="realname",
        version=__version__,
        description="Real-name registration of phone numbers with privacy by design.",
        docs_url=None,  # served by api_docs with Swagger UI from an installed package (works offline)
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    install_error_handlers(app)

    app.add_middleware(RequestContext, metrics=services.metrics)

    # Outermost of our middleware: an oversized body is refused before any other work, while it arrives.
    max_clip = services.policy.max_upload_bytes
    limits = BodyLimits(max_clip, max_id_photo_bytes(max_clip))
    app.add_middleware(RequestBodyLimit, limit_for=limits.for_path)
    keep_uploads_in_memory(limits.upload_bytes)

    app.include_router(_health_router(services))
    app.include_router(build_docs_router(app.title, "/openapi.json"))
    app.include_router(build_router())
    app.include_router(build_stream_router())
    app.include_router(build_framing_router())
    app.include_router(build_checks_router())
    app.include_router(build_reports_router())
    app.include_router(build_pages_router(services.reader_bridge_url))
    return app


def _health_router(services: HttpServices) -> APIRouter:
    router = APIRouter(tags=["health"], route_class=OneHopRoute)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness of the process: answers as long as it serves requests."""
        # async: nothing to wait for, so no thread-pool hop (probes call this often).
        return {"status": "ok", "version": __version__}

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics of this process (of every worker under ``PROMETHEUS_MULTIPROC_DIR``)."""
        if services.metrics is None:
            return Response(status_code=404)
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE)

    @router.get("/readyz", response_model=None)
    def readyz() -> JSONResponse:
        """Readiness: the database, the key file and the models each answer; 503 otherwise."""
        results: dict[str, str] = {}
        ready = True
        for name, check in services.readiness_checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                log.warning("readiness check failed", extra={"check": name, "error_type": type(exc).__name__})
                results[name] = "unavailable"
                ready = False
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    return router
