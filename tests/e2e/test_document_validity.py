"""A store's document step requires the document's validity (the page asks for it; so does the server)."""

from __future__ import annotations

import pytest

from tests.e2e import flows
from tests.e2e.conftest import Service

CUSTOMER = flows.resident_id(401)
# ICAO 9303's specimen passport zone: its expiry is in the zone.
TD3_MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"


def test_store_document_without_validity_is_refused_with_a_code(service: Service) -> None:
    clerk = service.staff()
    attempt = flows.start_attempt(service.client, clerk)
    body = {"value": CUSTOMER, "expiry": None}
    signed = flows.reader_headers(service.client, clerk, attempt, body)
    missing = service.client.post(f"/v1/attempts/{attempt}/document", json=body, headers={**clerk, **signed})
    assert missing.status_code == 400 and missing.json()["code"] == "document.validity_required", missing.text
    assert service.client.get(f"/v1/attempts/{attempt}", headers=clerk).json()["state"] == "started"

    for expiry in ("long_term", "2036-05-01"):
        given = flows.submit_document(service.client, clerk, attempt, CUSTOMER, expiry=expiry)
        assert given.status_code == 200 and given.json()["check"]["valid"], given.text


def test_machine_readable_zone_carries_its_own_validity(service: Service) -> None:
    clerk = service.staff()
    attempt = flows.start_attempt(service.client, clerk)
    checked = flows.submit_document(service.client, clerk, attempt, TD3_MRZ, kind="mrz")
    assert checked.status_code == 200, checked.text
    # The specimen expired in 2012: its zone's expiry was checked although none was typed.
    assert "id.expired" in checked.json()["check"]["reasons"]


@pytest.mark.parametrize("expiry", [None, "long_term"])
def test_self_service_document_is_typed_without_validity(service: Service, expiry: str | None) -> None:
    attempt, me = flows.self_session(service.client)
    body = {"value": CUSTOMER} if expiry is None else {"value": CUSTOMER, "expiry": expiry}
    checked = service.client.post(f"/v1/attempts/{attempt}/document", json=body, headers=me)
    assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
