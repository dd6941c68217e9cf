"""``POST /v1/attempts/{id}/framing``: a preview frame in, one category out; only after consent, only for the
attempt's counter staff, rate limited, and nothing of the frame kept (no audit event, no stored bytes)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO_ROOT
from tests.e2e import flows
from tests.e2e.conftest import Service, open_service
from tests.fakes import FixedClock

CUSTOMER = flows.resident_id(501)
PORTRAIT = REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg"


# Where the detector finds the face in the portrait (shares of its 512×512): measured with fr_detect.
FACE_IN_PORTRAIT = (0.330, 0.123, 0.545, 0.338)


def frame(
    *, face_height: float = 0.3, at: tuple[float, float] = (0.5, 0.5), copies: int = 1, light: float = 1.0
) -> bytes:
    """A 320×240 preview JPEG on a mid-grey background with the portrait pasted so that its face is
    ``face_height`` of the frame's height, centred at ``at`` (shares of the frame); ``copies`` people side by side
    (a quarter of the frame's width either side of ``at``); the light multiplied by ``light``."""
    left, top, right, bottom = FACE_IN_PORTRAIT
    side = round(face_height * 240 / (bottom - top))
    portrait = Image.open(PORTRAIT).convert("RGB").resize((side, side))
    face_x, face_y = (left + right) / 2 * side, (top + bottom) / 2 * side
    canvas = Image.new("RGB", (320, 240), (128, 128, 128))
    for i in range(copies):
        centre_x = (at[0] + (i - (copies - 1) / 2) * 0.5) * 320
        canvas.paste(portrait, (round(centre_x - face_x), round(at[1] * 240 - face_y)))
    pixels = np.clip(np.asarray(canvas, np.float32) * light, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=80)
    return out.getvalue()


def consented_attempt(service: Service, clerk: flows.Headers) -> str:
    attempt = flows.start_attempt(service.client, clerk)
    flows.prepare_attempt(service.client, clerk, attempt, CUSTOMER)
    return attempt


class Frames:
    def __init__(self, service: Service, clerk: flows.Headers, attempt: str) -> None:
        self.service, self.clerk, self.attempt = service, clerk, attempt

    def post(self, data: bytes) -> tuple[int, dict[str, object]]:
        clock = self.service.container.clock
        assert isinstance(clock, FixedClock)
        clock.advance(seconds=1)  # within the rate limit
        response = self.service.client.post(
            f"/v1/attempts/{self.attempt}/framing",
            files={"frame": ("frame.jpg", data, "image/jpeg")},
            headers=self.clerk,
        )
        body: dict[str, object] = response.json()
        return response.status_code, body


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """On a fixed clock, so that the rate limit is met by moving the clock, not by sleeping."""
    yield from open_service(tmp_path / "data", clock=FixedClock())


@pytest.fixture
def frames(service: Service) -> Frames:
    clerk = service.staff()
    return Frames(service, clerk, consented_attempt(service, clerk))


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (frame(), "ready"),
        (frame(face_height=0.1), "too_far"),
        (frame(face_height=0.22, copies=2), "multiple_faces"),
        (frame(light=0.12), "too_dark"),
        (frame(at=(0.15, 0.5)), "off_centre"),
        (frame(copies=0), "no_face"),
    ],
    ids=["ready", "too_far", "multiple_faces", "too_dark", "off_centre", "no_face"],
)
def test_a_preview_frame_gets_its_category(frames: Frames, made: bytes, expected: str) -> None:
    status, body = frames.post(made)
    assert status == 200 and body == {"framing": expected}, body


def test_nothing_of_the_frame_is_kept_or_audited(frames: Frames, tmp_path: Path) -> None:
    container = frames.service.container
    with container.unit_of_work() as uow:
        before = len(list(uow.audit.events()))
    for _ in range(3):
        assert frames.post(frame())[1] == {"framing": "ready"}
    with container.unit_of_work() as uow:
        assert len(list(uow.audit.events())) == before
    database = Path(container.settings.resolved_database_url.removeprefix("sqlite:///"))
    stored = b"".join(p.read_bytes() for p in database.parent.glob("realname.db*"))
    assert frame()[100:164] not in stored


def test_frames_come_after_consent_only(service: Service) -> None:
    clerk = service.staff()
    attempt = flows.start_attempt(service.client, clerk)
    assert flows.submit_document(service.client, clerk, attempt, CUSTOMER).status_code == 200
    early = service.client.post(
        f"/v1/attempts/{attempt}/framing", files={"frame": ("f.jpg", frame(), "image/jpeg")}, headers=clerk
    )
    assert early.status_code == 409 and early.json()["code"] == "attempt.invalid_state"


def test_frames_are_rate_limited_per_attempt(frames: Frames) -> None:
    client = frames.service.client
    path = f"/v1/attempts/{frames.attempt}/framing"
    assert frames.post(frame())[0] == 200
    again = client.post(path, files={"frame": ("f.jpg", frame(), "image/jpeg")}, headers=frames.clerk)
    assert again.status_code == 429 and again.json()["code"] == "framing.rate_limited"
    assert again.headers["Retry-After"] == "1"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"not an image", 400, "image.invalid"),
        (b"\xff" * (256 * 1024 + 1), 400, "image.too_large"),
    ],
)
def test_unusable_frames_are_refused_with_a_code(frames: Frames, data: bytes, status: int, code: str) -> None:
    got_status, body = frames.post(data)
    assert (got_status, body["code"]) == (status, code), body


def test_a_large_frame_is_refused_before_decoding(frames: Frames) -> None:
    out = io.BytesIO()
    Image.new("RGB", (1280, 960), (128, 128, 128)).save(out, "JPEG", quality=30)
    status, body = frames.post(out.getvalue())
    assert (status, body["code"]) == (400, "image.too_large"), body
