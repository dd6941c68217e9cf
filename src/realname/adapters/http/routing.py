"""How a route's endpoint runs: a blocking endpoint costs one hop to the thread pool, not two.

FastAPI runs a plain ``def`` endpoint in the thread pool, and then, because the endpoint was not a coroutine, runs the
validation of its response model in the thread pool again: two round trips between the event loop and a worker
thread per request, each a few event-loop turns (benchmarks/README.md, "Registry-only load through HTTP").
:class:`OneHopRoute` hands FastAPI an ``async`` wrapper of such an endpoint that awaits it in the thread pool once;
the response is then validated on the event loop (pure CPU, no I/O). The wrapper keeps the endpoint's signature,
name and docstring (``functools.wraps``), so its parameters, dependencies and OpenAPI operation are the same.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


def awaited_in_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` itself when it is a coroutine (or generator) function, else an ``async`` wrapper that runs it
    in the thread pool."""
    if not inspect.isfunction(endpoint) or (
        inspect.iscoroutinefunction(endpoint)
        or inspect.isgeneratorfunction(endpoint)
        or inspect.isasyncgenfunction(endpoint)
    ):
        return endpoint

    @functools.wraps(endpoint)
    async def in_thread_pool(**values: Any) -> Any:
        return await run_in_threadpool(endpoint, **values)

    return in_thread_pool


class OneHopRoute(APIRoute):
    """An API route whose blocking endpoint and response validation cost one thread-pool hop together."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, awaited_in_thread_pool(endpoint), **kwargs)
