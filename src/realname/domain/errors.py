"""The error hierarchy: every error that cannot proceed carries a stable dotted ``code``.

Outcomes (a mismatch, a failed check, a full quota) are results, not errors. Errors mean the
operation cannot proceed. Transports map them by class to HTTP statuses and CLI exit codes.
"""

from __future__ import annotations


class RealnameError(Exception):
    """Base of every error the project raises on purpose. ``message`` is safe to show to a user."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(RealnameError):
    """The caller sent something unusable (bad format, out of range, undecodable)."""

    code = "input.invalid"


class Unprocessable(InvalidInput):
    """Well-formed but contradicts an earlier request (e.g. an idempotency key reused for another payload)."""

    code = "request.unprocessable"


class NotFound(RealnameError):
    code = "not_found"


class Conflict(RealnameError):
    """The state changed under the caller or forbids the operation (taken number, quota, replay)."""

    code = "conflict"


class Forbidden(RealnameError):
    code = "forbidden"


class Unauthenticated(RealnameError):
    code = "auth.required"


class DependencyUnavailable(RealnameError):
    """A database, key store, audit writer or model failed: fail closed, never approve."""

    code = "dependency.unavailable"


class TooManyRequests(RealnameError):
    """A rate limit: the caller may try again after ``retry_after_seconds``."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = max(1, retry_after_seconds)


class Overloaded(RealnameError):
    """The service is at capacity (e.g. its inference queue is full): nothing was done; the caller may
    try again after ``retry_after_seconds`` (HTTP 503 with ``Retry-After``)."""

    code = "service.busy"

    def __init__(self, message: str, *, retry_after_seconds: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_seconds = max(1, retry_after_seconds)
