"""Relying parties' checks through the real HTTP API: signed requests (missing, forged, expired, replayed),
the answers, quota (429), and — with a real registration and a real self-service verification — the
subscriber seeing, blocking and reporting checks on their number."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from realname.adapters.http.app import create_app
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.relying_party_checks import NewPartyCredential
from realname.bootstrap import Container
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from realname.domain.relying_parties import CheckKind
from realname.domain.subscribers import BlindIndex
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.e2e.test_api_flows import ID_A, ID_B, SIM_1, Store, liveness_dir, open_store  # noqa: F401 - fixture

NAME_A = "欧阳 娜娜"
CONSENT = {"reference": "app-consent/2026/000123", "given_at": "2026-12-01T09:30:00+08:00"}


def signed_post(
    client: httpx.Client,
    credential: NewPartyCredential,
    body: dict[str, Any],
    *,
    secret: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
    path: str = "/v1/checks",
    headers: dict[str, str] | None = None,
) -> Any:
    """What a party's client does: HMAC-SHA-256 over method, path, timestamp, nonce and the body's SHA-256."""
    raw = json.dumps(body).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = nonce or secrets.token_urlsafe(16)
    message = "\n".join(["REALNAME-HMAC-SHA256", "POST", path, ts, nonce, hashlib.sha256(raw).hexdigest()])
    signature = hmac.new((secret or credential.secret).encode(), message.encode(), hashlib.sha256).hexdigest()
    signed = {
        "Content-Type": "application/json",
        "X-Realname-Party": credential.party_id,
        "X-Realname-Timestamp": ts,
        "X-Realname-Nonce": nonce,
        "X-Realname-Signature": signature,
    }
    return client.post(path, content=raw, headers={**signed, **(headers or {})})


def add_party(service: Service, party_id: str = "demo-bank", **overrides: Any) -> NewPartyCredential:
    fields: dict[str, Any] = {
        "name": "Demo Bank",
        "purpose": "opening an account",
        "kinds": frozenset(CheckKind),
        "daily_quota": 100,
        "per_minute_limit": 100,
        "contact": "risk@demo-bank.example",
        **overrides,
    }
    return service.container.party_admin().add(OPERATOR_CLI, party_id=party_id, **fields)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    for opened in open_service(tmp_path / "data"):
        registry = opened.container.registry()
        registry.import_numbers(OPERATOR_CLI, [Msisdn(f"1380013{i:04d}") for i in range(10)], source="test")
        index = BlindIndex(opened.container.blind_indexer.index(ID_A))
        registry.assign_number(
            Actor("staff:test", Role.CLERK, "BJ-001"),
            msisdn=Msisdn("13800130001"),
            attempt_id="a1",
            id_index=index,
            iccid=SIM_1,
            outlet_code="BJ-001",
        )
        yield opened


def test_signed_checks_answer_and_bad_signatures_get_typed_401s(service: Service) -> None:
    bank = add_party(service)
    two = {"kind": "two_element", "number": "13800130001", "id_number": ID_A, "consent": CONSENT}
    answered = signed_post(service.client, bank, two)
    assert answered.status_code == 200, answered.text
    assert answered.json()["result"] == "match" and answered.json()["elements"] is None
    assert signed_post(service.client, bank, {**two, "id_number": ID_B}).json()["result"] == "no_match"
    status = signed_post(service.client, bank, {"kind": "status", "number": "+86 138 0013 0002", "consent": CONSENT})
    assert status.json()["result"] == "not_in_service"

    unsigned = service.client.post("/v1/checks", json=two)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "party.signature_missing")
    forged = signed_post(service.client, bank, two, secret="guessed-" + "z" * 40)
    assert (forged.status_code, forged.json()["code"]) == (401, "party.signature_invalid")
    expired = signed_post(service.client, bank, two, timestamp=int(time.time()) - 600)
    assert (expired.status_code, expired.json()["code"]) == (401, "party.signature_expired")
    first = signed_post(service.client, bank, two, nonce="replay-nonce-000000001")
    again = signed_post(service.client, bank, two, nonce="replay-nonce-000000001")
    assert first.status_code == 200 and (again.status_code, again.json()["code"]) == (401, "party.signature_replayed")
    # A staff token is not a party's signature.
    clerk = service.staff()
    assert service.client.post("/v1/checks", json=two, headers=clerk).json()["code"] == "party.signature_missing"

    bad = signed_post(service.client, bank, {**two, "id_number": None})
    assert (bad.status_code, bad.json()["code"]) == (422, "request.invalid")
    huge = signed_post(service.client, bank, {**two, "padding": "x" * 5000})
    assert (huge.status_code, huge.json()["code"]) == (400, "request.too_large")
    wrong_digit = signed_post(service.client, bank, {**two, "id_number": ID_A[:-1] + "1"})
    assert (wrong_digit.status_code, wrong_digit.json()["code"]) == (400, "check.id_number_invalid")
    assert ID_A[:-1] not in wrong_digit.text


def test_quota_exhaustion_is_429(service: Service) -> None:
    small = add_party(service, "small-bank", daily_quota=2)
    body = {"kind": "status", "number": "13800130001", "consent": CONSENT}
    assert [signed_post(service.client, small, body).status_code for _ in range(2)] == [200, 200]
    refused = signed_post(service.client, small, body)
    assert (refused.status_code, refused.json()["code"]) == (429, "party.quota_exceeded")
    assert 1 <= int(refused.headers["Retry-After"]) <= 24 * 3600  # when the quota renews, at the next midnight


def test_openapi_documents_the_signed_check_with_examples(service: Service) -> None:
    operation = service.client.get("/openapi.json").json()["paths"]["/v1/checks"]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert set(content["examples"]) == {"three_element", "two_element", "held_since", "status"}
    assert "consent" in content["schema"]["properties"] and "$ref" not in json.dumps(content["schema"])
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"x-realname-party", "x-realname-timestamp", "x-realname-nonce", "x-realname-signature"}
    assert {"401", "403", "429"} <= set(operation["responses"])


@pytest.fixture
def store(tmp_path: Path, liveness_dir: Path) -> Iterator[Store]:  # noqa: F811 - the fixture imported above
    yield from open_store(tmp_path, liveness_dir)


def test_subscriber_sees_blocks_and_reports_checks_on_their_number(store: Store) -> None:
    clerk = store.staff()
    decision = store.verified(clerk, id_number=ID_A, name=NAME_A)
    assert decision["passed"], decision
    attempt = decision["attempt_id"]
    store.client.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": "13800130021"}, headers=clerk)
    receipt = store.client.post(
        f"/v1/attempts/{attempt}/registration",
        json={"msisdn": "13800130021", "iccid": SIM_1, "name": NAME_A},
        headers={**clerk, "Idempotency-Key": f"key-{attempt}"},
    )
    assert receipt.status_code == 200, receipt.text

    bank = add_party(store, "demo-bank")
    three = {"kind": "three_element", "number": "13800130021", "id_number": ID_A, "name": NAME_A, "consent": CONSENT}
    assert signed_post(store.client, bank, three).json()["result"] == "match"
    assert signed_post(store.client, bank, {**three, "name": "欧阳娜"}).json()["result"] == "no_match"

    me = flows.prove_at_home(store.client, store.codes, ID_A, NAME_A, "13800130021")

    mine = store.client.get("/v1/self/checks", headers=me)
    assert mine.status_code == 200, mine.text
    checks = mine.json()["checks"]
    assert [(c["kind"], c["result"], c["party_name"], c["purpose"], c["number"]) for c in checks] == [
        ("three_element", "no_match", "Demo Bank", "opening an account", "138****0021"),
        ("three_element", "match", "Demo Bank", "opening an account", "138****0021"),
    ]
    assert checks[0]["consent_reference"] == CONSENT["reference"]
    assert ID_A not in mine.text and NAME_A not in mine.text
    assert store.client.get("/v1/self/checks", headers=clerk).status_code == 403

    (held,) = store.client.get("/v1/self/records", headers=me).json()["numbers"]
    blocked = store.client.post("/v1/self/check-blocks", json={"number_ref": held["ref"]}, headers=me)
    assert blocked.status_code == 201, blocked.text
    assert signed_post(store.client, bank, three).json()["result"] == "blocked"
    lifted = store.client.delete(f"/v1/self/check-blocks/{blocked.json()['id']}", headers=me)
    assert lifted.status_code == 204
    assert signed_post(store.client, bank, three).json()["result"] == "match"

    reported = store.client.post(f"/v1/self/checks/{checks[1]['id']}/report", headers=me)
    assert reported.status_code == 202, reported.text
    reviewer = store.staff(Role.REVIEWER, name="R1")
    cases = store.client.get("/v1/review/cases", headers=reviewer).json()
    (case,) = [c for c in cases if c["kind"] == "unwanted_check"]
    assert (case["number"], case["party"]) == ("138****0021", "demo-bank")
    wrong = store.client.post(
        f"/v1/review/cases/{case['id']}/decision", json={"decision": "approve", "reason": "x"}, headers=reviewer
    )
    assert (wrong.status_code, wrong.json()["code"]) == (400, "review.decision_invalid")
    decided = store.client.post(
        f"/v1/review/cases/{case['id']}/decision",
        json={"decision": "suspend_confirmed", "reason": "the bank had no consent on file"},
        headers=reviewer,
    )
    assert decided.status_code == 200 and decided.json()["state"] == "closed", decided.text
    suspended = signed_post(store.client, bank, three)  # the reviewer's decision suspended the party
    assert (suspended.status_code, suspended.json()["code"]) == (403, "party.suspended")
    assert store.client.post(f"/v1/self/checks/{checks[1]['id']}/report", headers=me).status_code == 409


def test_party_secrets_and_consent_references_survive_key_rotation(service: Service) -> None:
    bank = add_party(service)
    body = {"kind": "status", "number": "13800130001", "consent": CONSENT}
    assert signed_post(service.client, bank, body).status_code == 200
    report = service.container.privacy_services().key_rotation.rotate(OPERATOR_CLI)
    assert report.retired, report
    with service.container.engine.connect() as c:
        versions = {
            service.container.cipher.kek_version_of(bytes(r[0]))
            for r in c.exec_driver_sql(
                "SELECT secret_ciphertext FROM relying_party UNION ALL SELECT consent_ciphertext FROM party_check"
            )
        }
    assert versions == {service.container.key_provider.current_kek_version()}
    # A fresh process (no secret cached from before) still verifies the party's signature after the rotation.
    fresh = Container(service.container.settings)
    with TestClient(create_app(fresh.http_services()), raise_server_exceptions=False) as client:
        assert signed_post(client, bank, body).json()["result"] == "active"
    fresh.engine.dispose()
