"""Prometheus metrics of one service process, exposed at ``/metrics`` in the text format.

What is counted, and nothing else (labels carry route templates, methods, statuses, error codes, audit action
names, outcomes, reason categories and task names — never a number, an ID, a name, a staff or attempt id):

- ``realname_http_requests_total`` / ``realname_http_request_seconds``: by method, route template and status;
- ``realname_http_errors_total``: answered errors by their stable ``code``;
- ``realname_lockouts_total``: requests refused because an ID, a device or a staff account is locked out;
- ``realname_decisions_total``: verification decisions by outcome and reason category (from the audit events);
- ``realname_audit_events_total`` / ``realname_audit_append_seconds``: audit appends by action, and their time;
- ``realname_inference_seconds`` / ``realname_inference_queue_depth`` / ``realname_inference_rejected_total``:
  CPU work (clip analysis, matching) in the bounded pool — time per task, tasks waiting or running, and
  requests refused with 503 because the queue was full.

Counts of an audit event are taken when it is appended, so an event rolled back with its transaction was
counted too (rare: a conflict after the append). Under several uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR``
makes every worker write its values there and ``/metrics`` sum them (``realname serve`` sets it up).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from realname.domain.attempts import categorise
from realname.domain.audit import AuditEvent, JsonValue

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOCKOUT_CODES: Mapping[str, str] = {"lockout.active": "id_or_device", "auth.locked": "staff"}
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
_SLOW = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0)


class ServiceMetrics:
    """The metrics of one process, on their own registry (built once by the composition root)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "realname_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "realname_http_request_seconds", "HTTP request latency", ["method", "route"], buckets=_SLOW, registry=r
        )
        self.errors = Counter("realname_http_errors", "Errors answered, by stable code", ["code"], registry=r)
        self.lockouts = Counter("realname_lockouts", "Requests refused by a lock-out", ["scope"], registry=r)
        self.decisions = Counter("realname_decisions", "Verification decisions", ["outcome", "category"], registry=r)
        self.audit_events = Counter("realname_audit_events", "Audit events appended", ["action"], registry=r)
        self.audit_append_seconds = Histogram(
            "realname_audit_append_seconds", "Time to append one audit event", buckets=_FAST, registry=r
        )
        self.inference_seconds = Histogram(
            "realname_inference_seconds", "CPU work in the bounded pool", ["task"], buckets=_SLOW, registry=r
        )
        self.inference_queue = Gauge(
            "realname_inference_queue_depth",
            "Tasks waiting for or running in the bounded pool",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.inference_rejected = Counter(
            "realname_inference_rejected", "Requests refused because the inference queue was full", registry=r
        )

    def observe_audit(self, event: AuditEvent, seconds: float) -> None:
        """Count an appended audit event (and a decision it records) and the time its append took."""
        self.audit_events.labels(event.action).inc()
        self.audit_append_seconds.observe(seconds)
        if event.action == "verification.decided":
            outcome = event.details.get("outcome")
            category = categorise(_reasons(event.details.get("reasons")))
            self.decisions.labels(str(outcome), "none" if category is None else category.value).inc()

    def observe_error(self, code: str) -> None:
        self.errors.labels(code).inc()
        scope = LOCKOUT_CODES.get(code)
        if scope is not None:
            self.lockouts.labels(scope).inc()

    def exposition(self) -> bytes:
        """The text format of every metric (summed over the workers under ``PROMETHEUS_MULTIPROC_DIR``)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)


def _reasons(value: JsonValue | None) -> tuple[str, ...]:
    return tuple(str(r) for r in value) if isinstance(value, list) else ()
