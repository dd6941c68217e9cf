"""Images of shapes no camera or chip produces, sent through the HTTP API: a typed 4xx each, never a 500 or
an allocation of gigabytes (issue 14: a 2000×1 ID photo was enlarged to a face's height, a 1×39,000,000 one and a
1×1 PNG sent as the clip gave 500s)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.e2e import flows
from tests.e2e.conftest import Service
from tests.e2e.media import blank_clip, jpeg_bytes


def grey_png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), 128).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("clip_shape", "photo_shape", "code"),
    [
        (None, (2000, 1), "image.too_small"),
        (None, (1, 39_000_000), "image.too_small"),
        (None, (1, 1), "image.too_small"),
        (None, (1200, 100), "image.aspect_ratio"),
        ((1, 1), None, "liveness.clip_invalid"),
        ((2000, 1), None, "liveness.clip_invalid"),
    ],
    ids=["photo-2000x1", "photo-1x39M", "photo-1x1", "photo-12to1", "clip-1x1-png", "clip-2000x1-png"],
)
def test_odd_shapes_get_a_typed_4xx(
    service: Service, clip_shape: tuple[int, int] | None, photo_shape: tuple[int, int] | None, code: str
) -> None:
    clerk = service.staff()
    attempt = flows.start_attempt(service.client, clerk)
    flows.prepare_attempt(service.client, clerk, attempt, flows.resident_id(7))
    nonce = flows.issue_challenge(service.client, clerk, attempt)
    clip = grey_png(*clip_shape) if clip_shape else blank_clip()
    photo = grey_png(*photo_shape) if photo_shape else jpeg_bytes(np.full((160, 128, 3), 128, np.uint8))

    response = flows.answer_liveness(
        service.client, clerk, attempt, nonce, clip, photo, photo_type=("chip.png", "image/png")
    )

    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    # Refused input is not a failed verification: the attempt is still waiting for an answer.
    assert service.client.get(f"/v1/attempts/{attempt}", headers=clerk).json()["state"] == "challenged"
