"""A store's document step requires the document's validity (the page asks for it; so does the server)."""

from __future__ import annotations

import base64

import pytest

from realname.adapters.http import reader as wire
from realname.app.verification import DocumentInput
from realname.domain.identity.document_check import ValidityRequired
from realname.domain.terminals import ReaderSignature
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


def test_the_use_case_itself_requires_the_validity_for_every_adapter(service: Service) -> None:
    """The rule lives in ``Verification.submit_document``, not in the HTTP route: a CLI or another adapter calling the
    use case gets the same refusal, before the terminal's signed read is spent."""
    clerk = service.staff()
    attempt = flows.start_attempt(service.client, clerk)
    actor = service.container.staff_auth.actor_for(clerk["Authorization"].removeprefix("Bearer "))
    document = DocumentInput(value=CUSTOMER)
    signed = flows.reader_headers(service.client, clerk, attempt, {"value": CUSTOMER})
    reader = ReaderSignature(
        signed[wire.TERMINAL_ID],
        signed[wire.NONCE],
        int(signed[wire.TIMESTAMP]),
        base64.urlsafe_b64decode(signed[wire.SIGNATURE] + "=" * (-len(signed[wire.SIGNATURE]) % 4)),
    )
    with pytest.raises(ValidityRequired) as refused:
        service.container.verification.submit_document(actor, attempt, document, reader)
    assert refused.value.code == "document.validity_required"
    # The read was not used up: the same signed read of a card with its validity would have had another digest,
    # and this one is still unclaimed (a second call gets the same refusal, not reader.replayed).
    with pytest.raises(ValidityRequired):
        service.container.verification.submit_document(actor, attempt, document, reader)
