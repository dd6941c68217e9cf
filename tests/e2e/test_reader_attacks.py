"""Attacks on the trusted reference portrait through the API, on SQLite and PostgreSQL.

A chip portrait (and the ID fields read with it) is accepted at a store only when the enrolled terminal
of the attempt's outlet signed it. Each test performs one way around that and asserts the typed refusal,
that nothing of the refused request was kept, and that the refusal is in the audit log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from realname.adapters.http import reader as wire
from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.app.actors import OPERATOR_CLI
from tests.contract.conftest import astronaut_rgb
from tests.e2e import flows
from tests.e2e.conftest import Service
from tests.e2e.media import blank_clip, card_front_image, jpeg_bytes
from tests.fakes import FixedClock

CUSTOMER = flows.resident_id(301)
OTHER_CARD = flows.resident_id(302)


def document(service: Service, clerk: flows.Headers, attempt: str, headers: flows.Headers) -> httpx.Response:
    response: httpx.Response = service.client.post(
        f"/v1/attempts/{attempt}/document",
        json={"value": CUSTOMER, "expiry": "long_term"},
        headers={**clerk, **headers},
    )
    return response


def kiosk_headers(service: Service, attempt: str, *, outlet: str = "BJ-001", **kw: Any) -> flows.Headers:
    return flows.kiosks_of(service.client).sign(
        outlet, attempt, document_fields({"value": CUSTOMER, "expiry": "long_term"}), **kw
    )


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


def attempt_state(service: Service, attempt: str) -> tuple[str, object]:
    with service.container.unit_of_work() as uow:
        stored = uow.attempts.get(attempt)
        assert stored is not None
        return stored.state.value, stored.id_index


def refusals_audited(service: Service) -> list[str]:
    with service.container.engine.connect() as c:
        rows = c.execute(sa.text("SELECT details FROM audit_event WHERE action = 'reader.refused' ORDER BY seq"))
        return [str(r[0]) for r in rows]


def test_an_unsigned_document_is_refused_at_a_store(service_on: Service) -> None:
    clerk = service_on.staff()
    attempt = flows.start_attempt(service_on.client, clerk)
    refused(document(service_on, clerk, attempt, {}), 401, "reader.required")
    assert attempt_state(service_on, attempt) == ("started", None)  # nothing of the ID was kept
    assert any("reader.required" in d for d in refusals_audited(service_on))


def test_signatures_by_unknown_revoked_or_other_outlets_terminals_are_refused(service_on: Service) -> None:
    clerk = service_on.staff()
    client = service_on.client
    attempt = flows.start_attempt(client, clerk)

    forged = signed_reader_headers(
        Ed25519PrivateKey.generate(),
        "not-enrolled",
        attempt,
        fields=document_fields({"value": CUSTOMER, "expiry": "long_term"}),
        now=service_on.container.clock.now(),
    )
    refused(document(service_on, clerk, attempt, forged), 401, "terminal.unknown")

    # Shanghai's enrolled terminal signing for a Beijing attempt.
    refused(
        document(service_on, clerk, attempt, kiosk_headers(service_on, attempt, outlet="SH-001")),
        403,
        "terminal.outlet_mismatch",
    )

    # A key that is not the enrolled terminal's, under its id.
    kiosk = flows.kiosks_of(client).by_outlet["BJ-001"]
    impostor = signed_reader_headers(
        Ed25519PrivateKey.generate(),
        kiosk.terminal_id,
        attempt,
        fields=document_fields({"value": CUSTOMER, "expiry": "long_term"}),
        now=service_on.container.clock.now(),
    )
    refused(document(service_on, clerk, attempt, impostor), 401, "reader.signature_invalid")

    service_on.container.terminals().revoke(OPERATOR_CLI, kiosk.terminal_id)
    refused(document(service_on, clerk, attempt, kiosk_headers(service_on, attempt)), 403, "terminal.revoked")
    assert attempt_state(service_on, attempt) == ("started", None)
    audited = " ".join(refusals_audited(service_on))
    for code in ("terminal.unknown", "terminal.outlet_mismatch", "reader.signature_invalid", "terminal.revoked"):
        assert code in audited


def test_changed_fields_another_attempt_stale_and_replayed_reads_are_refused(service_on: Service) -> None:
    clerk = service_on.staff()
    client = service_on.client
    clock = service_on.container.clock
    assert isinstance(clock, FixedClock)
    attempt = flows.start_attempt(client, clerk)
    other_attempt = flows.start_attempt(client, clerk)

    # Signed for one card, sent with another card's number.
    signed = kiosk_headers(service_on, attempt)
    swapped = client.post(
        f"/v1/attempts/{attempt}/document",
        json={"value": OTHER_CARD, "expiry": "long_term"},
        headers={**clerk, **signed},
    )
    refused(swapped, 401, "reader.signature_invalid")

    # Signed for another attempt.
    refused(
        document(service_on, clerk, attempt, kiosk_headers(service_on, other_attempt)), 401, "reader.signature_invalid"
    )

    # Signed three minutes ago (or with a clock three minutes ahead).
    stale = kiosk_headers(service_on, attempt)
    clock.advance(minutes=3)
    refused(document(service_on, clerk, attempt, stale), 401, "reader.stale")
    early = flows.kiosks_of(client).sign(
        "BJ-001", attempt, document_fields({"value": CUSTOMER, "expiry": "long_term"}), nonce="x" * 22
    )
    clock.advance(minutes=-3)
    refused(document(service_on, clerk, attempt, early), 401, "reader.stale")

    # A good read is taken once; the same signed request again is a replay.
    good = kiosk_headers(service_on, attempt)
    assert document(service_on, clerk, attempt, good).status_code == 200
    refused(document(service_on, clerk, attempt, good), 401, "reader.replayed")
    malformed = {**good, wire.SIGNATURE: "%%%"}
    refused(document(service_on, clerk, attempt, malformed), 401, "reader.signature_invalid")


def ready_for_liveness(service: Service, clerk: flows.Headers) -> tuple[str, str]:
    attempt = flows.start_attempt(service.client, clerk)
    flows.prepare_attempt(service.client, clerk, attempt, CUSTOMER)
    return attempt, flows.issue_challenge(service.client, clerk, attempt)


def liveness(
    service: Service, clerk: flows.Headers, attempt: str, nonce: str, photo: bytes, headers: flows.Headers
) -> httpx.Response:
    response: httpx.Response = service.client.post(
        f"/v1/attempts/{attempt}/liveness",
        data={"nonce": nonce},
        files={"clip": ("clip.mp4", blank_clip(), "video/mp4"), "id_photo": ("chip.jpg", photo, "image/jpeg")},
        headers={**clerk, **headers},
    )
    return response


def test_a_portrait_not_signed_for_this_card_at_its_terminal_is_refused(service_on: Service) -> None:
    clerk = service_on.staff()
    client = service_on.client
    kiosks = flows.kiosks_of(client)
    chip = jpeg_bytes(np.full((126, 102, 3), 120, np.uint8))
    own_face = jpeg_bytes(np.full((126, 102, 3), 200, np.uint8))
    attempt, nonce = ready_for_liveness(service_on, clerk)
    fields = kiosks.fields_of[attempt]

    refused(liveness(service_on, clerk, attempt, nonce, chip, {}), 401, "reader.required")
    # The terminal signed the chip portrait; the request carries another photo.
    signed = kiosks.sign("BJ-001", attempt, fields, portrait=chip)
    refused(liveness(service_on, clerk, attempt, nonce, own_face, signed), 401, "reader.signature_invalid")
    # A portrait signed for another card (fields of another document).
    other_card = kiosks.sign(
        "BJ-001", attempt, document_fields({"value": OTHER_CARD, "expiry": "long_term"}), portrait=own_face
    )
    refused(liveness(service_on, clerk, attempt, nonce, own_face, other_card), 403, "reader.portrait_untrusted")
    # Signed by another outlet's terminal.
    shanghai = kiosks.sign("SH-001", attempt, fields, portrait=own_face)
    refused(liveness(service_on, clerk, attempt, nonce, own_face, shanghai), 403, "reader.portrait_untrusted")
    # Each refusal left the attempt waiting for its answer: the challenge was not burnt, nothing was decided.
    assert attempt_state(service_on, attempt)[0] == "challenged"

    accepted = liveness(service_on, clerk, attempt, nonce, chip, kiosks.sign("BJ-001", attempt, fields, portrait=chip))
    assert accepted.status_code == 200, accepted.text  # decided (the blank clip fails liveness)
    assert accepted.json()["passed"] is False


def test_reads_older_than_the_window_are_refused_even_unused(service_on: Service) -> None:
    clerk = service_on.staff()
    clock = service_on.container.clock
    assert isinstance(clock, FixedClock)
    attempt = flows.start_attempt(service_on.client, clerk)
    held_back = kiosk_headers(service_on, attempt)
    clock.current += timedelta(seconds=121)
    refused(document(service_on, clerk, attempt, held_back), 401, "reader.stale")


def test_a_card_front_not_covered_by_the_terminals_signature_is_refused(service_on: Service) -> None:
    # The document camera's card front rides with the chip portrait; the kiosk signs both (realname.reader.v2).
    clerk = service_on.staff()
    kiosks = flows.kiosks_of(service_on.client)
    chip = jpeg_bytes(np.full((126, 102, 3), 120, np.uint8))
    card = card_front_image(service_on.container.onnx_models, astronaut_rgb())
    forged = card_front_image(service_on.container.onnx_models, astronaut_rgb(), seed=1)
    assert forged != card
    attempt, nonce = ready_for_liveness(service_on, clerk)
    fields = kiosks.fields_of[attempt]

    def answer(headers: flows.Headers, front: bytes) -> httpx.Response:
        return flows.answer_liveness_with(service_on.client, clerk, attempt, nonce, blank_clip(), chip, front, headers)

    # A v1 signature over the chip portrait alone: the card front was added by someone else.
    refused(answer(kiosks.sign("BJ-001", attempt, fields, portrait=chip), card), 403, "reader.card_front_unsigned")
    # A v2 signature over another card front than the one sent.
    swapped = kiosks.sign("BJ-001", attempt, fields, portrait=chip, card_front=card)
    refused(answer(swapped, forged), 401, "reader.signature_invalid")
    assert attempt_state(service_on, attempt)[0] == "challenged"  # nothing burnt, nothing decided
    assert "reader.card_front_unsigned" in " ".join(refusals_audited(service_on))

    accepted = answer(kiosks.sign("BJ-001", attempt, fields, portrait=chip, card_front=card), card)
    assert accepted.status_code == 200, accepted.text  # decided (the blank clip fails liveness)
    assert accepted.json()["passed"] is False
