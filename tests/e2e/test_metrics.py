"""``/metrics``: Prometheus text of requests, decisions, lock-outs, audit appends and the inference pool, with
no personal data in it; ``/readyz`` failing when the models cannot be loaded; the bounded inference pool
refusing work beyond its queue with 503 ``inference.busy`` and ``Retry-After``."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from realname.adapters.http.errors import install_error_handlers
from realname.adapters.http.services import InferencePool
from realname.adapters.metrics import ServiceMetrics
from realname.app.actors import OPERATOR_CLI
from realname.domain.errors import Overloaded
from realname.domain.organisation import Role
from tests.contract.conftest import astronaut_rgb
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.e2e.media import blank_clip, jpeg_bytes

ID_NUMBER = "11010519491231002X"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_decisions_and_audit_appends_without_personal_data(service: Service) -> None:
    clerk = service.staff()
    attempt = flows.start_attempt(service.client, clerk)
    flows.prepare_attempt(service.client, clerk, attempt, ID_NUMBER, name="Zhang Wei")
    nonce = flows.issue_challenge(service.client, clerk, attempt)
    photo = jpeg_bytes(astronaut_rgb())
    decided = flows.answer_liveness(service.client, clerk, attempt, nonce, blank_clip(), photo)
    assert decided.status_code == 200, decided.text
    category = decided.json()["reason_category"]

    response = service.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert value(text, "realname_http_requests_total", method="POST", route="/v1/attempts", status="201") == 1
    assert value(text, "realname_decisions_total", outcome="rejected", category=category) == 1
    assert value(text, "realname_audit_events_total", action="verification.decided") == 1
    assert value(text, "realname_audit_append_seconds_count") >= 4
    assert value(text, "realname_inference_seconds_count", task="verify") == 1
    assert value(text, "realname_inference_queue_depth") == 0
    for personal in (ID_NUMBER, attempt, "Zhang Wei", nonce):
        assert personal not in text
    routes = {labels for (name, labels) in samples(text) if name == "realname_http_requests_total"}
    assert any(("route", "/v1/attempts/{attempt_id}/liveness") in labels for labels in routes)


def test_lockouts_and_error_codes_are_counted(service: Service) -> None:
    created = service.container.registry().add_staff(
        OPERATOR_CLI, "Wang", Role.CLERK, "BJ-001", password_change_required=False
    )
    codes = []
    for _ in range(12):
        refused = service.client.post("/v1/auth/token", json={"staff_code": created.staff_code, "password": "wrong"})
        codes.append(refused.json()["code"])
    assert "auth.locked" in codes
    text = service.client.get("/metrics").text
    assert value(text, "realname_lockouts_total", scope="staff") == codes.count("auth.locked")
    assert value(text, "realname_http_errors_total", code="auth.locked") == codes.count("auth.locked")
    assert created.staff_id not in text


def test_readiness_fails_when_the_models_cannot_be_loaded(tmp_path: Path) -> None:
    empty = tmp_path / "no-models"
    empty.mkdir()
    for service in open_service(tmp_path / "data", models_dir=empty):
        ready = service.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"] == {"database": "ok", "keys": "ok", "models": "unavailable"}


# -- the bounded inference pool --------------------------------------------------------------------------


def test_the_pool_refuses_work_beyond_its_queue_and_takes_it_again_once_drained() -> None:
    metrics = ServiceMetrics()
    pool = InferencePool(1, 1, metrics)
    release = threading.Event()
    outcomes: list[str] = []

    def held() -> str:
        release.wait(10)
        return "done"

    async def main() -> None:
        async def run_held() -> None:
            outcomes.append(await pool.run(held))

        async with anyio.create_task_group() as group:
            group.start_soon(run_held)  # runs
            group.start_soon(run_held)  # waits in the queue
            while pool.pending < 2:
                await anyio.sleep(0.01)
            with pytest.raises(Overloaded) as refused:
                await pool.run(held)
            assert refused.value.code == "inference.busy" and refused.value.retry_after_seconds >= 1
            release.set()
        assert await pool.run(lambda: "again") == "again"

    anyio.run(main)
    assert outcomes == ["done", "done"] and pool.pending == 0
    text = metrics.exposition().decode()
    assert value(text, "realname_inference_rejected_total") == 1
    assert value(text, "realname_inference_queue_depth") == 0


def test_a_full_pool_is_answered_with_503_and_retry_after() -> None:
    app = FastAPI()
    install_error_handlers(app)

    class _Services:
        metrics = None

    app.state.services = _Services()

    @app.get("/busy")
    def busy() -> None:
        raise Overloaded("busy", retry_after_seconds=2, code="inference.busy")

    response = TestClient(app).get("/busy")
    assert response.status_code == 503 and response.headers["Retry-After"] == "2"
    assert response.json()["code"] == "inference.busy"
