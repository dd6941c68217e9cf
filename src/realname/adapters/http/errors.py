"""HTTP error mapping: one table from error class to status; every error body is ``{code, message, request_id}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from realname.domain import errors
from realname.domain.relying_parties import RateLimited

log = logging.getLogger("realname.http")

STATUS_BY_ERROR: tuple[tuple[type[errors.RealnameError], int], ...] = (
    (errors.TooManyRequests, 429),
    (errors.Unprocessable, 422),
    (errors.InvalidInput, 400),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.DependencyUnavailable, 503),
    (errors.Overloaded, 503),
    (RateLimited, 429),
    (errors.RealnameError, 400),
)


DEPENDENCY_NAMES = {
    "models": "the face models are",
    "database": "the database is",
    "keys": "the key store is",
    "audit": "the audit log is",
}


def public_dependency_message(code: str) -> str:
    """What a caller may read about a failed dependency: its category only (the code says which failure)."""
    what = DEPENDENCY_NAMES.get(code.split(".", 1)[0], "a service this step needs is")
    return f"{what} unavailable; nothing was approved. Try again later or quote the request id to the operator"


def status_for(error: errors.RealnameError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    request_id = request_id_of(request)
    return JSONResponse(
        {"code": code, "message": message, "request_id": request_id},
        status_code=status,
        headers={"X-Request-ID": request_id, **(headers or {})},
    )


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.RealnameError)
    async def _project_error(request: Request, exc: errors.RealnameError) -> JSONResponse:
        status = status_for(exc)
        metrics = getattr(request.app.state.services, "metrics", None)
        if metrics is not None:
            metrics.observe_error(exc.code)
        if isinstance(exc, errors.DependencyUnavailable):
            # The detail (file paths, hashes, hosts) is for the operator's log, not for the clerk at the counter.
            log.warning("dependency unavailable", extra={"code": exc.code, "status": status, "detail": exc.message})
            return error_response(request, status, exc.code, public_dependency_message(exc.code))
        log.info("request failed", extra={"code": exc.code, "status": status})
        headers = None
        if isinstance(exc, errors.TooManyRequests | errors.Overloaded):
            headers = {"Retry-After": str(exc.retry_after_seconds)}
        return error_response(request, status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = sorted({".".join(str(p) for p in e.get("loc", ())) for e in exc.errors()})
        return error_response(request, 422, "request.invalid", "invalid request fields: " + ", ".join(fields))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "request.malformed", 404: "not_found", 405: "method_not_allowed", 413: "request.too_large"}.get(
            exc.status_code, "http.error"
        )
        return error_response(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"error_type": type(exc).__name__})
        return error_response(request, 500, "internal", "an internal error occurred; quote the request id")
