"""What the browser tests need around the page: a live server, a fake camera clip, an ID photo, the browser.

The server is the real app (real Container on a temporary data folder, installed models) run by uvicorn in a
background thread on a free 127.0.0.1 port; Chromium is Debian's, driven by the Python ``playwright`` package,
with a Y4M made at test time from a real clip as its camera.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from playwright.sync_api import Page

from realname.adapters.http.app import create_app
from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.app.actors import OPERATOR_CLI
from realname.app.registry import NewStaffCredential
from realname.bootstrap import Container
from realname.config import PolicySettings
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from tests.conftest import IN_CI, REPO_ROOT
from tests.e2e.conftest import settings_for
from tests.e2e.flows import SentCodes, enroll_kiosk

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
)
OUTLET = "BJ-001"


def require_browser_tools() -> None:
    """Skip (fail under CI=true) unless Debian's chromium and ffmpeg are installed."""
    missing = [
        name for name, found in (("chromium", CHROMIUM.exists()), ("ffmpeg", shutil.which("ffmpeg"))) if not found
    ]
    if missing:
        message = f"browser tests need {' and '.join(missing)} (apt-get install -y chromium ffmpeg)"
        if IN_CI:
            pytest.fail(message + " (CI=true: they must be installed)")
        pytest.skip(message)


class ScriptedRandom:
    """Real randomness, except that challenges ask for ``first`` actions first, in that order."""

    def __init__(self, first: Sequence[str]) -> None:
        self._first = list(first)

    def token_bytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)

    def shuffle(self, items: list[str]) -> list[str]:
        leading = [item for item in self._first if item in items]
        return leading + [item for item in items if item not in leading]


def luhn_complete(digits: str) -> str:
    """``digits`` followed by its Luhn check digit (as ICCIDs carry)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        value = int(char)
        if i % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return digits + str((10 - total % 10) % 10)


def make_y4m(clip: Path, out: Path, seconds: float = 10.0) -> Path:
    """A Y4M of the clip for Chromium's fake camera (15 fps, yuv420p), made now and never committed."""
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-t",
            str(seconds),
            "-r",
            "15",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    return out


def make_id_photo(clip: Path, at_seconds: float, out: Path) -> Path:
    """A chip-like ID photo: the frame at ``at_seconds``, cropped around the face, reduced to 102×126 JPEG."""
    import av
    import dlib
    import numpy as np
    from PIL import Image

    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        frame_rgb: np.ndarray | None = None
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at_seconds:
                frame_rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                break
    if frame_rgb is None:
        raise ValueError(f"{clip.name} has no frame at {at_seconds} s")
    faces = dlib.get_frontal_face_detector()(frame_rgb, 1)
    if len(faces) != 1:
        raise ValueError(f"expected one face in {clip.name} at {at_seconds} s, found {len(faces)}")
    face = faces[0]
    height, width = frame_rgb.shape[:2]
    centre_x, centre_y = (face.left() + face.right()) / 2, (face.top() + face.bottom()) / 2
    # A chip photo shows the head with some margin: about twice the detector's box, in the 102:126 aspect.
    crop_w = min(width, 1.9 * face.width())
    crop_h = min(height, crop_w * 126 / 102)
    crop_w = crop_h * 102 / 126
    left = int(max(0, min(width - crop_w, centre_x - crop_w / 2)))
    top = int(max(0, min(height - crop_h, centre_y - crop_h * 0.45)))
    image = Image.fromarray(frame_rgb).crop((left, top, left + int(crop_w), top + int(crop_h)))
    image.resize((102, 126), Image.Resampling.LANCZOS).save(out, format="JPEG", quality=85)
    return out


@dataclass
class LiveServer:
    base_url: str
    container: Container
    staff_id: str
    staff_code: str
    password: str
    numbers: list[str]
    codes: SentCodes

    def add_reviewer(self, name: str) -> NewStaffCredential:
        """A reviewer of the outlet, with the password they sign in with."""
        return self.container.registry().add_staff(
            OPERATOR_CLI, name, Role.REVIEWER, OUTLET, password_change_required=False
        )


def submit_sign_in(page: Page, staff_code: str, password: str) -> None:
    """Type a staff code and password into the sign-in form (the kiosk's or /review's) and send it."""
    page.fill("input[name=staff_code]", staff_code)
    page.fill("input[name=password]", password)
    page.click("#signin-form button[type=submit]")


def make_card_folder(clip: Path, at_seconds: float, folder: Path, fields: dict[str, str]) -> Path:
    """A reader-simulator card (docs/reader-bridge.md) of the person in ``clip``: ``card.json`` with ``fields``,
    the chip-like portrait from the frame at ``at_seconds`` and a simulated document-camera card front of the same
    frame. Made at test time in ``folder``; nothing of the shared data is kept."""
    import av
    import dlib
    import numpy as np

    from realname.adapters.vision.card_front_photo import simulate_card_front

    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps(fields, ensure_ascii=False), encoding="utf-8")
    make_id_photo(clip, at_seconds, folder / "portrait.jpg")
    with av.open(str(clip)) as container:
        frame_rgb = next(
            np.ascontiguousarray(f.to_ndarray(format="rgb24"), dtype=np.uint8)
            for f in container.decode(container.streams.video[0])
            if f.time is not None and f.time >= at_seconds
        )
    face = dlib.get_frontal_face_detector()(frame_rgb, 1)[0]
    box = (float(face.left()), float(face.top()), float(face.right()), float(face.bottom()))
    (folder / "front.jpg").write_bytes(simulate_card_front(frame_rgb, box, np.random.default_rng(7)))
    return folder


def _keep_liveness_uploads(app: FastAPI, folder: Path) -> None:
    @app.middleware("http")
    async def keep(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The single upload, or a streamed clip's opening (which carries the chip photo and the card front).
        if request.method == "POST" and request.url.path.endswith(("/liveness", "/liveness/streams")):
            body = await request.body()
            (folder / f"liveness-upload-{len(list(folder.glob('liveness-upload-*')))}.multipart").write_bytes(body)
        return await call_next(request)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def live_server(
    data_dir: Path,
    first_actions: Sequence[str],
    challenge_actions: int,
    keep_uploads: Path | None = None,
    reader_bridge_url: str = "http://127.0.0.1:18455",
    idle_lock_minutes: int = 30,
) -> Iterator[LiveServer]:
    """The real app with the pages, served on a free 127.0.0.1 port, with one outlet, one clerk and numbers.

    With ``keep_uploads``, the body of each liveness upload is also written there (to analyse a decision). Pages
    lock after ``idle_lock_minutes`` without input: longer than the product's default, so that a page left waiting
    while a slow machine checks a face in another is not locked under a test that does not expect it.
    """
    settings = settings_for(
        data_dir,
        policy=PolicySettings(challenge_actions=challenge_actions),
        reader_bridge_url=reader_bridge_url,
        idle_lock_minutes=idle_lock_minutes,
    )
    codes = SentCodes()
    container = Container(settings, random=ScriptedRandom(first_actions), code_sender=codes)
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, OUTLET, "Beijing Xidan")
    clerk = registry.add_staff(OPERATOR_CLI, "Li Lei", Role.CLERK, OUTLET, password_change_required=False)
    numbers = [f"1380013{n:04d}" for n in range(8000, 8030)]
    registry.import_numbers(OPERATOR_CLI, [Msisdn.parse(n) for n in numbers], source="browser-test")
    app = create_app(container.http_services())
    if keep_uploads is not None:
        _keep_liveness_uploads(app, keep_uploads)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None))
    thread = threading.Thread(target=server.run, name="realname-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(
            f"http://127.0.0.1:{port}", container, clerk.staff_id, clerk.staff_code, clerk.password, numbers, codes
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        container.engine.dispose()


def last_decision_details(container: Container) -> dict[str, object]:
    """The audited details of the latest verification decision (reasons, similarity), for failure messages."""
    with container.unit_of_work() as uow:
        decided = [event for event in uow.audit.events() if event.action == "verification.decided"]
    return dict(decided[-1].details) if decided else {}


def register_via_api(
    server: LiveServer, id_number: str, clip: Path, id_photo: Path, msisdn: str, iccid: str, name: str | None = None
) -> None:
    """Register ``msisdn`` to ``id_number`` through the HTTP API (as an enrolled kiosk would), with a real clip."""
    import httpx

    kiosk = enroll_kiosk(server.container, OUTLET, name="API kiosk")
    with httpx.Client(base_url=server.base_url, timeout=120) as client:
        token = client.post("/v1/auth/token", json={"staff_code": server.staff_code, "password": server.password})
        client.headers["Authorization"] = f"Bearer {token.json()['token']}"
        attempt = client.post("/v1/attempts", json={"purpose": "register", "device_id": "kiosk-api"}).json()["id"]
        base = f"/v1/attempts/{attempt}"
        body: dict[str, object] = {"value": id_number, "expiry": "long_term", "name": name}
        fields = document_fields(body)
        signed = signed_reader_headers(kiosk.key, kiosk.terminal_id, attempt, fields=fields, now=datetime.now(UTC))
        document = client.post(f"{base}/document", json=body, headers=signed).json()
        assert document["check"]["valid"], document
        version = client.get("/v1/consent").json()["version"]
        client.post(f"{base}/consent", json={"version": version, "accepted": True}).raise_for_status()
        nonce = client.post(f"{base}/challenge").json()["nonce"]
        photo = id_photo.read_bytes()
        signed = signed_reader_headers(
            kiosk.key, kiosk.terminal_id, attempt, fields=fields, portrait=photo, now=datetime.now(UTC)
        )
        decision = client.post(
            f"{base}/liveness",
            headers=signed,
            data={"nonce": nonce},
            files={
                "clip": (clip.name, clip.read_bytes(), "video/mp4"),
                "id_photo": (id_photo.name, photo, "image/jpeg"),
            },
        ).json()
        assert decision["passed"], (decision, last_decision_details(server.container))
        client.post(f"{base}/reservation", json={"msisdn": msisdn}).raise_for_status()
        client.post(
            f"{base}/registration",
            json={"msisdn": msisdn, "iccid": iccid},
            headers={"Idempotency-Key": "api-" + attempt},
        ).raise_for_status()
