"""Steps of an attempt through the HTTP API, shared by the end-to-end tests that drive attempts."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from realname.domain.consent import CONSENT_VERSION

Headers = dict[str, str]

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


def submit_document(client: TestClient, headers: Headers, attempt: str, id_number: str) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/v1/attempts/{attempt}/document", json={"value": id_number}, headers=headers
    )
    return response


def record_consent(client: TestClient, headers: Headers, attempt: str, *, accepted: bool = True) -> httpx.Response:
    response: httpx.Response = client.post(
        f"/v1/attempts/{attempt}/consent", json={"version": CONSENT_VERSION, "accepted": accepted}, headers=headers
    )
    return response


def prepare_attempt(client: TestClient, headers: Headers, attempt: str, id_number: str) -> None:
    """A valid ID document, then biometric consent: the attempt is ready for a challenge."""
    checked = submit_document(client, headers, attempt, id_number)
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
) -> httpx.Response:
    """Upload the response to a challenge: the clip and the photo read from the ID card's chip (and, when given,
    the document camera's image of the card's front)."""
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
