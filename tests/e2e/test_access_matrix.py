"""Who may call what: a role × endpoint matrix over every ``/v1`` route, outlet scope on attempts, and no
personal data in the list endpoints.

Each route lists the callers it serves. Every other caller must be refused with 401 (no, malformed or
expired token), 403 (wrong role) or, for an attempt that is not theirs, 404 (indistinguishable from a
missing attempt), always with the error body ``{code, message, request_id}`` and a stable code. A route
added to the API without an entry here fails :func:`test_every_v1_route_has_an_entry_in_the_matrix`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from realname.adapters.http.api import build_router
from realname.app.actors import OPERATOR_CLI
from realname.domain.numbers import Msisdn
from realname.domain.organisation import OutletCode, Role
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.e2e.media import blank_clip, jpeg_bytes
from tests.unit.identity.identity_samples import td3

STAFF = ("clerk", "reviewer", "admin", "auditor", "regulator")
PRINCIPALS = (*STAFF, "subscriber", "no_token", "malformed_token", "expired_token")
ANYONE = frozenset(PRINCIPALS)
ATTEMPT_WORKERS = frozenset({"clerk", "reviewer", "admin"})
"""Staff who act on an attempt of their outlet (a clerk only on their own); auditors only read it."""

MATRIX: dict[str, frozenset[str]] = {
    "POST /v1/auth/token": ANYONE,
    # A valid staff token is renewed while its page is used; a subscriber's self-service token is not.
    "POST /v1/auth/renew": frozenset(STAFF),
    # A member changes their own password (a served caller here types a wrong current one: auth.password_wrong);
    # the page reports the clerk's touches so that the server's idle time counts them.
    "POST /v1/auth/password": frozenset(STAFF),
    "POST /v1/auth/activity": frozenset(STAFF),
    # The clerk's open visit on a kiosk (after a reload or a new sign-in); ending one gives back its reservations.
    "GET /v1/visits/current": frozenset({"clerk", "admin"}),
    "POST /v1/attempts/{attempt_id}/end": frozenset({"clerk", "admin"}),
    "GET /v1/consent": ANYONE,
    "POST /v1/attempts": frozenset({"clerk", "admin"}),
    "GET /v1/attempts/{attempt_id}": frozenset({"clerk", "reviewer", "admin", "auditor"}),
    "POST /v1/attempts/{attempt_id}/document": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/consent": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/challenge": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/liveness": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/liveness/streams": ATTEMPT_WORKERS,
    "PUT /v1/attempts/{attempt_id}/liveness/streams/{stream_id}/chunks/{seq}": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/liveness/streams/{stream_id}/end": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/abandon": ATTEMPT_WORKERS,
    # The framing guide looks at a face: the counter staff capturing it only (a fresh attempt has no consent yet,
    # so a served caller gets 409 attempt.invalid_state).
    "POST /v1/attempts/{attempt_id}/framing": frozenset({"clerk", "admin"}),
    # Numbers are bound by counter staff only: a reviewer of the outlet is refused (auth.role_forbidden).
    "POST /v1/attempts/{attempt_id}/reservation": frozenset({"clerk", "admin"}),
    "POST /v1/attempts/{attempt_id}/registration": frozenset({"clerk", "admin"}),
    "POST /v1/attempts/{attempt_id}/surrender": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/sim-replacement": ATTEMPT_WORKERS,
    "POST /v1/attempts/{attempt_id}/reverification": ATTEMPT_WORKERS,
    "GET /v1/numbers/available": frozenset({"clerk", "admin"}),
    # Starting a self-service session needs no token (the subscriber proves who they are inside it).
    "POST /v1/self/sessions": ANYONE,
    "POST /v1/self/code": frozenset({"subscriber"}),
    "POST /v1/self/code/verify": frozenset({"subscriber"}),
    "GET /v1/self/records": frozenset({"subscriber"}),
    "POST /v1/self/reports": frozenset({"subscriber"}),
    # A clerk asks for a review of their own visit's rejection, and follows it.
    "POST /v1/attempts/{attempt_id}/review-request": frozenset({"clerk", "admin"}),
    "GET /v1/attempts/{attempt_id}/review": ATTEMPT_WORKERS,
    "GET /v1/review/cases": frozenset({"reviewer", "admin", "auditor"}),
    "POST /v1/review/cases/{case_id}/decision": frozenset({"reviewer"}),
    "POST /v1/documents/check": frozenset({"clerk", "reviewer", "admin"}),
    # Relying parties sign their requests (HMAC); no bearer token of any kind is served.
    "POST /v1/checks": frozenset(),
    "GET /v1/self/checks": frozenset({"subscriber"}),
    "POST /v1/self/check-blocks": frozenset({"subscriber"}),
    "DELETE /v1/self/check-blocks/{block_id}": frozenset({"subscriber"}),
    "POST /v1/self/checks/{check_id}/report": frozenset({"subscriber"}),
    # Reports are aggregates (for regulators too); anomaly flags name clerks and terminals: admins, auditors and
    # the reviewers who decide them.
    "GET /v1/reports": frozenset({"admin", "auditor", "regulator"}),
    "GET /v1/reports/files": frozenset({"admin", "auditor", "regulator"}),
    "GET /v1/reports/anomalies": frozenset({"admin", "auditor", "reviewer"}),
}
PARTY_SIGNED = frozenset({"POST /v1/checks"})
ATTEMPT_SCOPED = sorted(route for route in MATRIX if "{attempt_id}" in route)

# The codes that mean "not for you"; a served caller must never see one of them.
REFUSAL_CODES = frozenset(
    {
        "auth.required",
        "auth.token_invalid",
        "auth.token_expired",
        "auth.role_forbidden",
        "auth.outlet_forbidden",
        "auth.outlet_required",
        "attempt.not_found",
        "review.not_found",
    }
)
UNAUTHENTICATED = {
    "no_token": "auth.required",
    "malformed_token": "auth.token_invalid",
    "expired_token": "auth.token_expired",
}

CUSTOMER_ID = flows.resident_id(201)
TRAVELLER_NUMBER, TRAVELLER_NAMES = "E47111234", ("OUYANG", "XIAOMING")
CLERK_NAME = "Ouyang Lihua"
MSISDN = "13800130001"
ICCID = "89860012345678901238"


@dataclass
class World:
    service: Service
    headers: dict[str, flows.Headers]
    sign_in_body: dict[str, str]
    clip: bytes = field(default_factory=blank_clip)
    photo: bytes = field(default_factory=lambda: jpeg_bytes(np.full((126, 102, 3), 128, np.uint8)))

    @property
    def client(self) -> TestClient:
        return self.service.client

    def attempt(self, purpose: str = "register") -> str:
        """A fresh attempt started by the clerk of BJ-001."""
        return flows.start_attempt(self.client, self.headers["clerk"], purpose)

    def manual_case(self) -> str:
        """A fresh review case at BJ-001: the customer declined biometric consent."""
        attempt = self.attempt()
        clerk = self.headers["clerk"]
        assert flows.submit_document(self.client, clerk, attempt, CUSTOMER_ID).status_code == 200
        assert flows.record_consent(self.client, clerk, attempt, accepted=False).json()["state"] == "manual_review"
        cases = self.client.get("/v1/review/cases", headers=self.headers["admin"]).json()
        return str(next(c["id"] for c in cases if c["attempt_id"] == attempt))

    def call(self, route: str, headers: flows.Headers, *, attempt: str | None = None, nonce: str = "0" * 32) -> Any:
        """Call ``route`` with a well-formed request, so that only the caller decides whether it is served."""
        method, path = route.split(" ")
        if "{attempt_id}" in path:
            path = path.replace("{attempt_id}", attempt or self.attempt())
        if "{case_id}" in path:
            path = path.replace("{case_id}", self.manual_case())
        # No stream with this id is open: a caller the route serves gets 409 liveness.stream_unknown.
        path = path.replace("{stream_id}", "0" * 32).replace("{seq}", "0")
        suffix = path.rsplit("/", 1)[-1]
        if suffix == "liveness":
            return flows.answer_liveness(self.client, headers, path.split("/")[3], nonce, self.clip, self.photo)
        if suffix == "streams":
            return flows.open_stream(self.client, headers, path.split("/")[3], nonce, self.photo)
        if method == "PUT":
            return self.client.put(path, content=self.clip, headers=headers)
        if suffix == "framing":
            return self.client.post(path, files={"frame": ("frame.jpg", self.photo, "image/jpeg")}, headers=headers)
        bodies: dict[str, dict[str, Any]] = {
            "token": self.sign_in_body,
            "password": {"current_password": "not-the-password", "new_password": "matrix-new-pass-1"},
            "attempts": {"purpose": "register", "device_id": "kiosk-1"},
            "document": {"value": CUSTOMER_ID, "expiry": "long_term"},
            "check": {"value": CUSTOMER_ID},
            "consent": {"version": self.client.get("/v1/consent").json()["version"], "accepted": True},
            "reservation": {"msisdn": MSISDN},
            "registration": {"msisdn": MSISDN, "iccid": ICCID},
            "sim-replacement": {"msisdn": MSISDN, "iccid": ICCID},
            "surrender": {"msisdn": MSISDN},
            "reverification": {"msisdn": MSISDN},
            "reports": {"number_ref": "no-such-ref"},
            "sessions": {"device_id": "phone-1"},
            "code": {"name": "Zhang San"},
            "verify": {"code": "123456"},
            "decision": {"decision": "reject", "reason": "access matrix"},
            "review-request": {"reason": "access matrix"},
            "checks": {
                "kind": "status",
                "number": MSISDN,
                "consent": {"reference": "c-1", "given_at": "2026-12-01T00:00:00Z"},
            },
            "check-blocks": {"party": "no-such-party"},
            "end": {"chunks": 1},
        }
        extra = {"Idempotency-Key": f"matrix-{path}"} if suffix == "registration" else {}
        if method == "GET":
            query = {"device_id": "kiosk-1"} if path.endswith("/visits/current") else None
            return self.client.get(path, params=query, headers=headers)
        if method == "DELETE":
            return self.client.delete(path, headers=headers)
        body = bodies.get(suffix)
        if suffix == "document" and body is not None:  # signed by the outlet's enrolled kiosk
            extra = flows.reader_headers(self.client, headers, path.split("/")[3], body)
        return self.client.post(path, json=body, headers={**headers, **extra})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("matrix") / "data"
    for service in open_service(data_dir):
        registry = service.container.registry()
        registry.import_numbers(OPERATOR_CLI, [Msisdn(f"1380013{i:04d}") for i in range(20)], source="matrix")
        clerk = registry.add_staff(OPERATOR_CLI, CLERK_NAME, Role.CLERK, "BJ-001", password_change_required=False)
        session = service.client.post("/v1/self/sessions", json={"device_id": "phone-1"})
        assert session.status_code == 201, session.text
        expired = service.container.token_issuer.issue(
            clerk.staff_id, Role.CLERK, OutletCode("BJ-001"), datetime.now(UTC) - timedelta(hours=1)
        )
        headers = {
            "clerk": service.sign_in(clerk.staff_code, clerk.password),
            "reviewer": service.staff(Role.REVIEWER, name="Wang Fang"),
            "admin": service.staff(Role.ADMIN, name="Zhao Min"),
            "auditor": service.staff(Role.AUDITOR, name="Chen Jing"),
            "regulator": service.staff(Role.REGULATOR, name="Sun Li"),
            "subscriber": flows.bearer(session.json()["token"]),
            "no_token": {},
            "malformed_token": flows.bearer("rn1.bm90LWEtdG9rZW4.c2lnbmF0dXJl"),
            "expired_token": flows.bearer(expired),
        }
        yield World(service, headers, {"staff_code": clerk.staff_code, "password": clerk.password})


def refusal(route: str, principal: str) -> tuple[int, str]:
    """The status and code a caller that ``route`` does not serve must get."""
    if route in PARTY_SIGNED:
        return 401, "party.signature_missing"
    if principal in UNAUTHENTICATED:
        return 401, UNAUTHENTICATED[principal]
    if principal == "subscriber" and "{attempt_id}" in route:
        return 404, "attempt.not_found"  # a self-service token acts on its own attempt only
    return 403, "auth.role_forbidden"


def problems_with(route: str, principal: str, response: httpx.Response) -> list[str]:
    status, body = response.status_code, (response.json() if response.content else {})
    seen = f"{route} as {principal}: {status} {body}"
    if status >= 500:
        return [seen]
    problems = []
    if status >= 400 and set(body) != {"code", "message", "request_id"}:
        problems.append(f"{seen} (not an error body)")
    code = body.get("code") if status >= 400 and isinstance(body, dict) else None
    if principal in MATRIX[route]:
        if status == 401 or code in REFUSAL_CODES:
            problems.append(f"{seen} (should be served)")
    elif (status, code) != refusal(route, principal):
        problems.append(f"{seen} (expected {refusal(route, principal)})")
    return problems


def test_every_v1_route_has_an_entry_in_the_matrix(world: World) -> None:
    # The /v1 router as the API module builds it (every route, documented or not) ...
    routes = {
        f"{method} {route.path}"
        for route in build_router().routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    # ... and every /v1 operation the running application publishes, wherever it was declared.
    app = world.client.app
    assert isinstance(app, FastAPI)
    published = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/v1")
        for method in operations
    }
    assert routes | published == set(MATRIX), (
        f"no matrix entry: {sorted((routes | published) - set(MATRIX))}; stale: {sorted(set(MATRIX) - routes)}"
    )


@pytest.mark.parametrize("route", sorted(MATRIX))
def test_route_serves_only_its_callers(world: World, route: str) -> None:
    problems = [p for who in PRINCIPALS for p in problems_with(route, who, world.call(route, world.headers[who]))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", [Role.CLERK, Role.REVIEWER])
def test_staff_of_another_outlet_cannot_touch_an_attempt(world: World, role: Role) -> None:
    assert len(ATTEMPT_SCOPED) == 18
    clerk = world.headers["clerk"]
    attempt = world.attempt()
    flows.prepare_attempt(world.client, clerk, attempt, CUSTOMER_ID)
    nonce = flows.issue_challenge(world.client, clerk, attempt)
    stranger = world.service.staff(role, outlet="SH-001", name="Zhang Wei")

    for route in ATTEMPT_SCOPED:
        response = world.call(route, stranger, attempt=attempt, nonce=nonce)
        assert response.status_code in (403, 404), f"{route}: {response.text}"
        assert response.json()["code"] in ("attempt.not_found", "auth.outlet_forbidden"), route

    # Nothing happened to the attempt: still challenged, and the real nonce is still unused.
    assert world.client.get(f"/v1/attempts/{attempt}", headers=clerk).json()["state"] == "challenged"
    answered = flows.answer_liveness(world.client, clerk, attempt, nonce, world.clip, world.photo)
    assert answered.status_code == 200 and answered.json()["passed"] is False


def test_another_clerk_of_the_same_outlet_cannot_touch_my_attempt(world: World) -> None:
    attempt = world.attempt()
    colleague = world.service.staff(Role.CLERK, outlet="BJ-001", name="Sun Li")
    for route in ATTEMPT_SCOPED:
        response = world.call(route, colleague, attempt=attempt)
        assert (response.status_code, response.json()["code"]) == (404, "attempt.not_found"), route


def test_self_service_token_acts_on_its_own_attempt_only(world: World) -> None:
    mine, theirs = (world.client.post("/v1/self/sessions", json={"device_id": "phone-2"}).json() for _ in range(2))
    me = flows.bearer(mine["token"])
    own = mine["attempt"]["id"]
    assert world.client.get(f"/v1/attempts/{own}", headers=me).status_code == 200
    flows.prepare_attempt(world.client, me, own, CUSTOMER_ID)
    flows.issue_challenge(world.client, me, own)

    other = theirs["attempt"]["id"]
    for route in ATTEMPT_SCOPED:
        response = world.call(route, me, attempt=other)
        assert (response.status_code, response.json()["code"]) == (404, "attempt.not_found"), route
    assert world.client.get(f"/v1/attempts/{other}", headers=flows.bearer(theirs["token"])).status_code == 200


def test_malformed_authorization_headers_are_refused(world: World) -> None:
    signed = world.headers["clerk"]["Authorization"].removeprefix("Bearer ")
    head, body, mac = signed.split(".")
    variants = {
        f"Basic {signed}": "auth.required",
        "Bearer": "auth.required",
        "Bearer ": "auth.token_invalid",
        f"Bearer {head}.{body}": "auth.token_invalid",
        f"Bearer {head}.{body}.{mac[:-2]}AA": "auth.token_invalid",
        f"Bearer {head}.{body[:-4]}.{mac}": "auth.token_invalid",
        f"Bearer {'x' * 5000}": "auth.token_invalid",
    }
    for value, code in variants.items():
        response = world.client.get("/v1/numbers/available", headers={"Authorization": value})
        assert (response.status_code, response.json()["code"]) == (401, code), value


def test_list_endpoints_carry_no_personal_data(world: World) -> None:
    clerk = world.headers["clerk"]
    world.manual_case()  # a resident ID holder who declined consent
    traveller = world.attempt()
    passport = td3(document_number=TRAVELLER_NUMBER, names="<<".join(TRAVELLER_NAMES))
    checked = flows.submit_document(world.client, clerk, traveller, passport, kind="mrz")
    assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
    assert flows.record_consent(world.client, clerk, traveller, accepted=False).status_code == 200

    secrets = [CUSTOMER_ID, CUSTOMER_ID[:17], TRAVELLER_NUMBER, *TRAVELLER_NAMES, CLERK_NAME, "Ouyang"]
    for who in ("reviewer", "admin", "auditor"):
        cases = world.client.get("/v1/review/cases", headers=world.headers[who])
        assert cases.status_code == 200
        attempts = {c["attempt_id"] for c in cases.json()}
        assert traveller in attempts and len(attempts) >= 2
        assert not [s for s in secrets if s.lower() in cases.text.lower()], who
    for who in ("clerk", "admin"):
        numbers = world.client.get("/v1/numbers/available", params={"limit": 100}, headers=world.headers[who])
        assert numbers.status_code == 200 and len(numbers.json()["numbers"]) >= 10
        assert not [s for s in secrets if s.lower() in numbers.text.lower()], who
    read = world.client.get(f"/v1/attempts/{traveller}", headers=world.headers["auditor"])
    assert read.status_code == 200
    assert not [s for s in secrets if s.lower() in read.text.lower()]
