"""Steps of an attempt through the HTTP API, shared by the end-to-end tests that drive attempts.

A store's kiosk is an enrolled terminal: :func:`install_kiosks` enrolls one per outlet and remembers them on
the test client, and the document and liveness steps below sign what "the card reader read" as that
outlet's terminal would (self-service attempts are not signed). Tests of the refusals send their own headers.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.app.actors import OPERATOR_CLI
from realname.app.ports import Clock
from realname.domain.consent import CONSENT_VERSION
from realname.domain.organisation import SELF_SERVICE_OUTLET

Headers = dict[str, str]


@dataclass
class Kiosk:
    """An enrolled terminal of one outlet: its id and private key."""

    terminal_id: str
    key: Ed25519PrivateKey
    outlet: str

    def public_key_b64(self) -> str:
        return base64.b64encode(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


@dataclass
class Kiosks:
    """The kiosks of a test service and the ID fields each attempt's document was read with."""

    clock: Clock
    by_outlet: dict[str, Kiosk] = field(default_factory=dict)
    fields_of: dict[str, list[str | None]] = field(default_factory=dict)

    def sign(
        self, outlet: str, attempt: str, fields: list[str | None], portrait: bytes | None = None, **kw: Any
    ) -> Headers:
        kiosk = self.by_outlet[outlet]
        return signed_reader_headers(
            kiosk.key, kiosk.terminal_id, attempt, fields=fields, portrait=portrait, now=self.clock.now(), **kw
        )


def enroll_kiosk(container: Any, outlet: str, name: str = "Counter 1") -> Kiosk:
    """Enroll a new terminal (fresh Ed25519 key) to ``outlet`` as `realname terminal add` does."""
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    terminal = container.terminals().enroll(OPERATOR_CLI, outlet, name, raw)
    return Kiosk(terminal.id, key, outlet)


def install_kiosks(client: TestClient, container: Any, outlets: Iterable[str]) -> Kiosks:
    kiosks = Kiosks(container.clock, {outlet: enroll_kiosk(container, outlet) for outlet in outlets})
    client.realname_kiosks = kiosks
    return kiosks


def kiosks_of(client: TestClient) -> Kiosks:
    found: Kiosks = client.realname_kiosks
    return found


def _outlet_of(client: TestClient, headers: Mapping[str, str], attempt: str) -> str | None:
    response = client.get(f"/v1/attempts/{attempt}", headers=dict(headers))
    return str(response.json()["outlet"]) if response.status_code == 200 else None


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(serial: int, birth_date: str = "19850704", region: str = "110105") -> str:
    """A valid 18-character resident ID number (GB 11643 check digit) that differs by ``serial`` (0-999)."""
    body = f"{region}{birth_date}{serial:03d}"
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def bearer(token: str) -> Headers:
    return {"Authorization": f"Bearer {token}"}


def start_attempt(client: TestClient, headers: Headers, purpose: str = "register", device_id: str = "kiosk-1") -> str:
    """Open an attempt at the caller's outlet; return its id."""
    response = client.post("/v1/attempts", json={"purpose": purpose, "device_id": device_id}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit_document(
    client: TestClient, headers: Headers, attempt: str, id_number: str, **fields: Any
) -> httpx.Response:
    """The document step; at a store signed by the outlet's kiosk (the card reader read ``id_number``). The
    validity is long term unless ``fields`` name one (a store's document step requires it; an MRZ carries its own)."""
    body: dict[str, Any] = {"value": id_number, **fields}
    if "expiry" not in fields and fields.get("kind") != "mrz":
        body["expiry"] = "long_term"
    signed = reader_headers(client, headers, attempt, body)
    response: httpx.Response = client.post(f"/v1/attempts/{attempt}/document", json=body, headers={**headers, **signed})
    return response


def reader_headers(client: TestClient, headers: Headers, attempt: str, body: dict[str, Any]) -> Headers:
    """The kiosk's signature over a document body (none for a self-service attempt or an unknown outlet)."""
    kiosks = kiosks_of(client)
    outlet = _outlet_of(client, headers, attempt)
    if outlet is None or outlet == SELF_SERVICE_OUTLET or outlet not in kiosks.by_outlet:
        return {}
    fields = document_fields(body)
    kiosks.fields_of[attempt] = fields
    return kiosks.sign(outlet, attempt, fields)


def portrait_headers(
    client: TestClient, headers: Headers, attempt: str, id_photo: bytes, card_front: bytes | None = None
) -> Headers:
    """The kiosk's signature over the chip portrait (and the card front, when one goes with it), for the card its
    document step read."""
    kiosks = kiosks_of(client)
    outlet = _outlet_of(client, headers, attempt)
    fields = kiosks.fields_of.get(attempt)
    if outlet is None or outlet not in kiosks.by_outlet or fields is None:
        return {}
    return kiosks.sign(outlet, attempt, fields, portrait=id_photo, card_front=card_front)


def record_consent(client: TestClient, headers: Headers, attempt: str, *, accepted: bool = True) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/v1/attempts/{attempt}/consent", json={"version": CONSENT_VERSION, "accepted": accepted}, headers=headers
    )
    return response


def prepare_attempt(client: TestClient, headers: Headers, attempt: str, id_number: str, **fields: Any) -> None:
    """A valid ID document, then biometric consent: the attempt is ready for a challenge."""
    checked = submit_document(client, headers, attempt, id_number, **fields)
    assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
    consent = record_consent(client, headers, attempt)
    assert consent.status_code == 200, consent.text


def issue_challenge(client: TestClient, headers: Headers, attempt: str) -> str:
    """Issue a liveness challenge; return its nonce."""
    response = client.post(f"/v1/attempts/{attempt}/challenge", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["nonce"])


def answer_liveness(
    client: TestClient,
    headers: Headers,
    attempt: str,
    nonce: str,
    clip: bytes,
    id_photo: bytes,
    *,
    clip_type: tuple[str, str] = ("clip.mp4", "video/mp4"),
    photo_type: tuple[str, str] = ("chip.jpg", "image/jpeg"),
    card_front: bytes | None = None,
    signed_card_front: bool = True,
) -> httpx.Response:
    """Upload the response to a challenge: the clip and the photo read from the ID card's chip (and, when given,
    the document camera's image of the card's front, signed with the chip photo unless ``signed_card_front`` is
    False: then the kiosk's signature covers the chip photo alone, the v1 message)."""
    signed = portrait_headers(client, headers, attempt, id_photo, card_front if signed_card_front else None)
    return post_liveness(
        client, {**headers, **signed}, attempt, nonce, clip, id_photo, card_front, clip_type, photo_type
    )


def post_liveness(
    client: TestClient,
    headers: Headers,
    attempt: str,
    nonce: str,
    clip: bytes,
    id_photo: bytes,
    card_front: bytes | None,
    clip_type: tuple[str, str] = ("clip.mp4", "video/mp4"),
    photo_type: tuple[str, str] = ("chip.jpg", "image/jpeg"),
) -> httpx.Response:
    """The liveness upload itself, with the headers as given (the reader's signature included)."""
    files = {
        "clip": (clip_type[0], clip, clip_type[1]),
        "id_photo": (photo_type[0], id_photo, photo_type[1]),
    }
    if card_front is not None:
        files["card_front"] = ("card_front.jpg", card_front, "image/jpeg")
    response: httpx.Response = client.post(
        f"/v1/attempts/{attempt}/liveness", data={"nonce": nonce}, files=files, headers=headers
    )
    return response


def answer_liveness_with(
    client: TestClient,
    headers: Headers,
    attempt: str,
    nonce: str,
    clip: bytes,
    id_photo: bytes,
    card_front: bytes,
    signed: Headers,
) -> httpx.Response:
    """:func:`answer_liveness` with a card front and the reader headers a test made itself (the attacks)."""
    return post_liveness(client, {**headers, **signed}, attempt, nonce, clip, id_photo, card_front)


@dataclass
class SentCodes:
    """The SMS gateway of a test service: one-time codes as the phones would receive them."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    def send(self, msisdn: Any, code: str, expires_at: Any) -> None:
        self.sent.append((str(msisdn), code))

    def last_to(self, msisdn: str) -> str:
        return next(code for to, code in reversed(self.sent) if to == msisdn)


def self_session(client: TestClient, device_id: str = "phone-1") -> tuple[str, Headers]:
    """Start a self-service session; return its attempt id and the subscriber's Authorization header."""
    response = client.post("/v1/self/sessions", json={"device_id": device_id})
    assert response.status_code == 201, response.text
    body = response.json()
    return str(body["attempt"]["id"]), bearer(body["token"])


def prove_at_home(
    client: TestClient, codes: SentCodes, id_number: str, name: str, msisdn: str, device_id: str = "phone-1"
) -> Headers:
    """The home flow: ID number, name, the code sent to ``msisdn``; return the verified subscriber's header."""
    attempt, me = self_session(client, device_id)
    checked = submit_document(client, me, attempt, id_number)
    assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
    requested = client.post("/v1/self/code", json={"name": name}, headers=me)
    assert requested.status_code == 202, requested.text
    verified = client.post("/v1/self/code/verify", json={"code": codes.last_to(msisdn)}, headers=me)
    assert verified.status_code == 200 and verified.json()["passed"] is True, verified.text
    return me


def open_stream(
    client: TestClient,
    headers: Headers,
    attempt: str,
    nonce: str,
    id_photo: bytes,
    *,
    signed: bool = True,
) -> httpx.Response:
    """Open a streamed answer to a challenge with the chip photo, signed by the outlet's kiosk."""
    reader = portrait_headers(client, headers, attempt, id_photo) if signed else {}
    response: httpx.Response = client.post(
        f"/v1/attempts/{attempt}/liveness/streams",
        data={"nonce": nonce},
        files={"id_photo": ("chip.jpg", id_photo, "image/jpeg")},
        headers={**headers, **reader},
    )
    return response


def send_chunk(
    client: TestClient, headers: Headers, attempt: str, stream: str, seq: int, data: bytes
) -> httpx.Response:
    response: httpx.Response = client.put(
        f"/v1/attempts/{attempt}/liveness/streams/{stream}/chunks/{seq}",
        content=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
    )
    return response


def end_stream(client: TestClient, headers: Headers, attempt: str, stream: str, chunks: int) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/v1/attempts/{attempt}/liveness/streams/{stream}/end", json={"chunks": chunks}, headers=headers
    )
    return response


def stream_liveness(
    client: TestClient, headers: Headers, attempt: str, nonce: str, chunks: list[bytes], id_photo: bytes
) -> httpx.Response:
    """Open a stream, send every chunk in order (each must be accepted), end it; return the decision response."""
    opened = open_stream(client, headers, attempt, nonce, id_photo)
    assert opened.status_code == 201, opened.text
    stream = str(opened.json()["stream_id"])
    for seq, chunk in enumerate(chunks):
        sent = send_chunk(client, headers, attempt, stream, seq, chunk)
        assert sent.status_code == 200, sent.text
    return end_stream(client, headers, attempt, stream, len(chunks))
