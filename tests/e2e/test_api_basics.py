"""The HTTP skeleton: health, readiness, error bodies, authentication, and the steps before capture."""

from __future__ import annotations

from pathlib import Path

import pytest

from realname.adapters.crypto.keyfile import create_key_file
from realname.domain.consent import CONSENT_VERSION
from realname.domain.organisation import Role
from tests.e2e import flows
from tests.e2e.conftest import Service

VALID_ID = "11010519491231002X"


def test_healthz_answers(service: Service) -> None:
    response = service.client.get("/healthz")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_unknown_route_has_the_error_shape(service: Service) -> None:
    response = service.client.get("/v1/nope", headers={"X-Request-ID": "abc123"})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Not Found", "request_id": "abc123"}


def test_requests_without_token_are_refused(service: Service) -> None:
    response = service.client.post("/v1/attempts", json={"device_id": "kiosk-1"})
    assert response.status_code == 401 and response.json()["code"] == "auth.required"


def test_forged_token_is_refused(service: Service) -> None:
    response = service.client.post(
        "/v1/attempts", json={"device_id": "kiosk-1"}, headers={"Authorization": "Bearer x.y"}
    )
    assert response.status_code == 401 and response.json()["code"].startswith("auth.")


def test_wrong_credential_is_refused_with_one_message(service: Service) -> None:
    created = service.container.registry().add_staff(
        __import__("realname.app.actors", fromlist=["OPERATOR_CLI"]).OPERATOR_CLI, "Wang", Role.CLERK, "BJ-001"
    )
    wrong = service.client.post("/v1/auth/token", json={"staff_code": created.staff_code, "password": "nope"})
    unknown = service.client.post("/v1/auth/token", json={"staff_code": "nobody", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]


def test_validation_errors_name_the_fields(service: Service) -> None:
    clerk = service.staff()
    response = service.client.post("/v1/attempts", json={"device_id": "bad id!"}, headers=clerk)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "request.invalid" and "device_id" in body["message"] and body["request_id"]


def start(service: Service, headers: dict[str, str]) -> str:
    response = service.client.post("/v1/attempts", json={"device_id": "kiosk-1"}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_document_then_consent_then_challenge(service: Service) -> None:
    clerk = service.staff()
    attempt = start(service, clerk)
    bad = flows.submit_document(service.client, clerk, attempt, "110105194912310021")
    assert bad.status_code == 200
    assert bad.json()["check"]["valid"] is False and "id.check_digit" in bad.json()["check"]["reasons"]
    assert bad.json()["attempt"]["state"] == "started"

    premature = service.client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk)
    assert premature.status_code == 409 and premature.json()["code"] == "attempt.invalid_state"

    good = flows.submit_document(service.client, clerk, attempt, VALID_ID.lower(), expiry="long_term")
    assert good.json()["check"]["valid"] is True
    assert good.json()["attempt"]["state"] == "document_checked"
    assert VALID_ID not in good.text

    outdated = service.client.post(
        f"/v1/attempts/{attempt}/consent", json={"version": "v0", "accepted": True}, headers=clerk
    )
    assert outdated.status_code == 400 and outdated.json()["code"] == "consent.version_outdated"
    consented = service.client.post(
        f"/v1/attempts/{attempt}/consent", json={"version": CONSENT_VERSION, "accepted": True}, headers=clerk
    )
    assert consented.json()["state"] == "consented"

    challenge = service.client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk)
    assert challenge.status_code == 200
    body = challenge.json()
    assert len(body["actions"]) == 3 and len(set(body["actions"])) == 3
    assert len(body["nonce"]) == 32 and body["ttl_seconds"] == 120


def test_declined_consent_opens_the_manual_path(service: Service) -> None:
    clerk = service.staff()
    attempt = start(service, clerk)
    flows.submit_document(service.client, clerk, attempt, VALID_ID)
    declined = service.client.post(
        f"/v1/attempts/{attempt}/consent", json={"version": CONSENT_VERSION, "accepted": False}, headers=clerk
    )
    assert declined.json()["state"] == "manual_review"
    refused = service.client.post(f"/v1/attempts/{attempt}/challenge", headers=clerk)
    assert refused.status_code == 409


@pytest.mark.parametrize("role", [Role.CLERK, Role.REVIEWER])
def test_another_outlets_attempt_looks_missing(service: Service, role: Role) -> None:
    attempt = start(service, service.staff())
    other = service.staff(role, outlet="SH-001", name="Zhang Wei")
    response = service.client.get(f"/v1/attempts/{attempt}", headers=other)
    assert response.status_code == 404 and response.json()["code"] == "attempt.not_found"


def test_database_failure_fails_closed(service: Service) -> None:
    clerk = service.staff()
    service.container.engine.dispose()
    service.container.settings.data_dir.joinpath("realname.db").unlink()
    service.container.settings.data_dir.joinpath("realname.db").mkdir()
    response = service.client.post("/v1/attempts", json={"device_id": "kiosk-1"}, headers=clerk)
    assert response.status_code == 503 and response.json()["code"] == "database.unavailable"


def test_a_key_file_swapped_under_the_running_service_fails_closed(service: Service, tmp_path: Path) -> None:
    clerk = service.staff()
    attempt = start(service, clerk)
    ready = service.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["keys"] == "ok"
    other = tmp_path / "other" / "keys.json"
    create_key_file(other)
    other.replace(service.container.settings.resolved_key_file)  # well-formed, but not this database's keys

    ready = service.client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["keys"] == "unavailable"
    document = flows.submit_document(service.client, clerk, attempt, VALID_ID)
    assert document.status_code == 503 and document.json()["code"] == "keys.mismatch"
    with service.container.unit_of_work() as uow:  # nothing was written under the other keys
        stored = uow.attempts.get(attempt)
    assert stored is not None and stored.id_index is None
