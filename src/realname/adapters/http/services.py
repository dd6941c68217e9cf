"""What the HTTP layer needs, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
from anyio import CapacityLimiter

from realname.app.anomalies import AnomalyDetection
from realname.app.attempts import Registration
from realname.app.registry import Registry
from realname.app.relying_party_checks import NumberChecks, SubscriberChecks
from realname.app.reports import Reports
from realname.app.self_service import SelfService
from realname.app.staff_auth import StaffAuth
from realname.domain.policy import Policy

ReadinessCheck = Callable[[], None]
"""Raises a project error (e.g. DependencyUnavailable) when its dependency is not ready."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HttpServices:
    registry: Registry
    registration: Registration
    self_service: SelfService
    staff_auth: StaffAuth
    policy: Policy
    readiness_checks: dict[str, ReadinessCheck]
    inference_slots: int = 2
    party_checks: NumberChecks | None = None
    subscriber_checks: SubscriberChecks | None = None
    reports: Reports | None = None
    anomalies: AnomalyDetection | None = None
    _limiter: list[CapacityLimiter] = field(default_factory=list, repr=False)

    async def run_blocking(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run CPU-bound work (clip analysis, matching) in a bounded worker-thread pool."""
        if not self._limiter:
            self._limiter.append(CapacityLimiter(self.inference_slots))
        return await anyio.to_thread.run_sync(partial(func, *args, **kwargs), limiter=self._limiter[0])
