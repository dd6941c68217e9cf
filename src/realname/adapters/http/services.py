"""What the HTTP layer needs, handed over by the composition root."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
from anyio import CapacityLimiter

from realname.adapters.http.client_certs import ClientCertHeader
from realname.adapters.http.stream_relay import StreamRelay
from realname.adapters.metrics import ServiceMetrics
from realname.app.anomalies import AnomalyDetection
from realname.app.check_batches import CheckAnswerer
from realname.app.framing import FramingGuide
from realname.app.owner_services import OwnerServices
from realname.app.registration import Registration
from realname.app.registry import Registry
from realname.app.relying_party_checks import SubscriberChecks
from realname.app.reports import Reports
from realname.app.review import Review
from realname.app.self_service import SelfService
from realname.app.staff_auth import StaffAuth
from realname.app.streamed_verification import LivenessStreams
from realname.app.verification import Verification
from realname.app.visits import Visits
from realname.domain.errors import Overloaded
from realname.domain.policy import Policy

BUSY_RETRY_AFTER_SECONDS = 2
"""What a 503 ``inference.busy`` asks the caller to wait: about one clip analysis on a loaded host."""

ReadinessCheck = Callable[[], None]
"""Raises a project error (e.g. DependencyUnavailable) when its dependency is not ready."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpServices:
    registry: Registry
    verification: Verification
    registration: Registration
    owner_services: OwnerServices
    review: Review
    visits: Visits
    liveness_streams: LivenessStreams
    self_service: SelfService
    staff_auth: StaffAuth
    policy: Policy
    readiness_checks: dict[str, ReadinessCheck]
    inference_slots: int = 2
    party_checks: CheckAnswerer | None = None
    subscriber_checks: SubscriberChecks | None = None
    reader_bridge_url: str = "http://127.0.0.1:18455"
    """The origin of the store PC's reader bridge that the kiosk page may call (docs/reader-bridge.md)."""
    inference_queue: int = 8
    metrics: ServiceMetrics | None = None
    reports: Reports | None = None
    anomalies: AnomalyDetection | None = None
    framing: FramingGuide | None = None
    stream_relay: StreamRelay | None = None
    """Relays a streamed clip's requests to the worker holding the stream (None: streams are local only)."""
    client_cert_header: ClientCertHeader | None = None
    """A TLS-terminating proxy's header naming a relying party's client-certificate fingerprint (None: only
    certificates this server's own TLS verified count)."""
    _pool: list[InferencePool] = field(default_factory=list, repr=False)

    async def run_blocking(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU-bound work (clip analysis, matching) in the bounded pool: ``inference_slots`` threads,
        at most ``inference_queue`` more tasks waiting; beyond that 503 ``inference.busy`` (``Retry-After``).
        """
        if not self._pool:
            self._pool.append(InferencePool(self.inference_slots, self.inference_queue, self.metrics))
        return await self._pool[0].run(func, *args, **kwargs)


class InferencePool:
    """A bounded pool for CPU-bound work: ``slots`` threads run tasks, ``queue`` more may wait, and a task
    beyond that is refused at once (``Overloaded``) so a burst queues briefly instead of thrashing the CPU.

    Used from one event loop (one per worker process), so the counter needs no lock.
    """

    def __init__(self, slots: int, queue: int, metrics: ServiceMetrics | None = None) -> None:
        if slots < 1 or queue < 0:
            raise ValueError("an inference pool has at least one slot and a queue of zero or more")
        self._slots = slots
        self._capacity = slots + queue
        self._metrics = metrics
        self._limiter: CapacityLimiter | None = None
        self._pending = 0

    @property
    def pending(self) -> int:
        """Tasks waiting or running."""
        return self._pending

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``func`` in a pool thread.

        Raises:
            Overloaded: ``inference.busy`` — ``slots + queue`` tasks are waiting or running already.
        """
        if self._pending >= self._capacity:
            if self._metrics is not None:
                self._metrics.inference_rejected.inc()
            raise Overloaded(
                "the service is busy verifying other customers; try again in a few seconds",
                retry_after_seconds=BUSY_RETRY_AFTER_SECONDS,
                code="inference.busy",
            )
        if self._limiter is None:
            self._limiter = CapacityLimiter(self._slots)
        self._pending += 1
        if self._metrics is not None:
            self._metrics.inference_queue.inc()
        started = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(partial(func, *args, **kwargs), limiter=self._limiter)
        finally:
            self._pending -= 1
            if self._metrics is not None:
                self._metrics.inference_queue.dec()
                task = getattr(func, "__name__", "task")
                self._metrics.inference_seconds.labels(task).observe(time.perf_counter() - started)
