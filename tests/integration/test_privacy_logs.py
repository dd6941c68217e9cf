"""Run the real service briefly with JSON logs going to files, drive the kiosk flow with a real ID
number, a staff name and a face photo, then grep every log written for personal data and image bytes,
and scan the data folder: nothing may be found."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.adapters.privacy_scan import scan
from realname.domain.consent import CONSENT_VERSION
from tests.conftest import REPO_ROOT, SHARED_DATA

ID_NUMBER = "11010519491231002X"
OTHER_ID = "440524188001010014"
STAFF_NAME = "Ouyang Xiaofeng"
CUSTOMER_NAME = "Zhuge Kongming"
NEW_PASSWORD = "privacy-chosen-pass-73"
REALNAME = Path(sys.executable).parent / "realname"
MODELS_DIR = Path(os.environ.get("REALNAME_MODELS_DIR", REPO_ROOT / "var" / "models"))
FORBIDDEN_IN_LOGS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("id number", re.compile(re.escape(ID_NUMBER.encode()), re.IGNORECASE)),
    ("id number", re.compile(re.escape(OTHER_ID.encode()))),
    ("name", re.compile(re.escape(STAFF_NAME.encode()))),
    ("name", re.compile(re.escape(CUSTOMER_NAME.encode()), re.IGNORECASE)),
    ("base64 run", re.compile(rb"[A-Za-z0-9+/]{60,}={0,2}")),
    ("base64 image", re.compile(rb"/9j/|iVBORw0KGgo|R0lGOD|UklGR|data:image/")),
    ("jpeg bytes", re.compile(rb"\xff\xd8\xff|\\xff\\xd8\\xff")),
    ("png bytes", re.compile(rb"\x89PNG|\\x89PNG")),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clip_bytes() -> bytes:
    """A real kiosk clip when the shared data is here (the models then run), else bytes the decoder refuses."""
    real = SHARED_DATA / "liveness" / "lp_d9_blinks_a.mp4"
    if real.exists():
        return real.read_bytes()
    return b"\x1a\x45\xdf\xa3 not really a clip"


def jpeg_photo() -> bytes:
    photo = REPO_ROOT / "tests" / "fixtures" / "faces" / "astronaut_eileen_collins.jpg"
    if photo.exists():
        return photo.read_bytes()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (180, 140, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.logs = tmp_path / "logs"
        self.logs.mkdir()
        self.env = {
            **os.environ,
            "REALNAME_DATA_DIR": str(self.data),
            "REALNAME_ENV": "test",
            "REALNAME_LOG_LEVEL": "DEBUG",
            "REALNAME_MODELS_DIR": str(MODELS_DIR),
            "REALNAME_INFERENCE_THREADS": "1",
        }
        self.count = 0

    def cli(self, *args: str) -> str:
        self.count += 1
        with (self.logs / f"cli-{self.count}.stderr").open("wb") as stderr:
            done = subprocess.run(
                [str(REALNAME), *args], env=self.env, stdout=subprocess.PIPE, stderr=stderr, timeout=120, check=False
            )
        (self.logs / f"cli-{self.count}.stdout").write_bytes(done.stdout)
        assert done.returncode == 0, (args, done.stdout)
        return done.stdout.decode()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    yield Run(tmp_path)


def test_logs_and_data_folder_hold_no_personal_data_or_images(run: Run) -> None:
    run.cli("init")
    run.cli("outlet", "add", "BJ-001", "Beijing Xidan")
    created = run.cli("staff", "add", STAFF_NAME, "--role", "clerk", "--outlet", "BJ-001")
    staff_code = re.search(r"staff code\s+(\S+)", created)
    password = re.search(r"password\s+(\S+)", created)
    assert staff_code and password
    # The one-time credential printed by `staff add` is expected on stdout; keep it out of the grep.
    (run.logs / f"cli-{run.count}.stdout").write_bytes(b"")
    key = Ed25519PrivateKey.generate()
    public = run.logs.parent / "kiosk.pub"
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    terminal = run.cli("terminal", "add", "--outlet", "BJ-001", "--name", "Counter 1", "--public-key", str(public))
    kiosk = (terminal.strip(), key)

    port = free_port()
    with (run.logs / "serve.stdout").open("wb") as out, (run.logs / "serve.stderr").open("wb") as err:
        server = subprocess.Popen([str(REALNAME), "serve", "--port", str(port)], env=run.env, stdout=out, stderr=err)
        try:
            exercise(f"http://127.0.0.1:{port}", staff_code.group(1), password.group(1), server, kiosk)
        finally:
            server.terminate()
            server.wait(timeout=30)

    written = {path: path.read_bytes() for path in sorted(run.logs.iterdir())}
    assert sum(len(b) for b in written.values()) > 0
    assert any(b'"level"' in content for content in written.values()), "no JSON log line was written"
    problems = [
        f"{path.name}: {label}"
        for path, content in written.items()
        for label, pattern in FORBIDDEN_IN_LOGS
        if pattern.search(content)
    ]
    assert problems == []
    assert scan([run.data, run.logs], [ID_NUMBER, OTHER_ID, STAFF_NAME, CUSTOMER_NAME, NEW_PASSWORD]) == []


def exercise(
    base: str,
    staff_code: str,
    password: str,
    server: subprocess.Popen[bytes],
    kiosk: tuple[str, Ed25519PrivateKey],
) -> None:
    terminal_id, key = kiosk

    def signed(
        attempt: str, body: dict[str, object], portrait: bytes | None = None, card_front: bytes | None = None
    ) -> dict[str, str]:
        return signed_reader_headers(
            key,
            terminal_id,
            attempt,
            fields=document_fields(body),
            portrait=portrait,
            card_front=card_front,
            now=datetime.now(UTC),
        )

    with httpx.Client(base_url=base, timeout=60) as client:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "the service exited"
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the service did not start"
            time.sleep(0.2)
        token = client.post("/v1/auth/token", json={"staff_code": staff_code, "password": password})
        assert token.status_code == 200 and token.json()["password_change_required"], token.text
        # A new member chooses their own password first (and that password stays out of the logs too).
        token = client.post(
            "/v1/auth/password",
            json={"current_password": password, "new_password": NEW_PASSWORD},
            headers={"Authorization": f"Bearer {token.json()['token']}"},
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['token']}", "X-Request-ID": "privacylogtest1"}
        client.post("/v1/auth/token", json={"staff_code": staff_code, "password": "wrong"})
        attempt = client.post("/v1/attempts", json={"device_id": "kiosk-1"}, headers=headers)
        assert attempt.status_code == 201, attempt.text
        attempt_id = attempt.json()["id"]
        wrong: dict[str, object] = {"value": ID_NUMBER[:-1] + "1"}
        client.post(f"/v1/attempts/{attempt_id}/document", json=wrong, headers={**headers, **signed(attempt_id, wrong)})
        body: dict[str, object] = {"value": ID_NUMBER, "expiry": "long_term", "name": CUSTOMER_NAME}
        checked = client.post(
            f"/v1/attempts/{attempt_id}/document", json=body, headers={**headers, **signed(attempt_id, body)}
        )
        assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
        client.post("/v1/documents/check", json={"value": OTHER_ID}, headers=headers)
        client.post(
            f"/v1/attempts/{attempt_id}/consent", json={"version": CONSENT_VERSION, "accepted": True}, headers=headers
        )
        challenge = client.post(f"/v1/attempts/{attempt_id}/challenge", headers=headers)
        nonce = challenge.json().get("nonce", "0" * 32) if challenge.status_code == 200 else "0" * 32
        photo, front = jpeg_photo(), jpeg_photo()
        client.post(
            f"/v1/attempts/{attempt_id}/liveness",
            data={"nonce": nonce},
            files={
                "clip": ("clip.mp4", clip_bytes(), "video/mp4"),
                "id_photo": ("photo.jpg", photo, "image/jpeg"),
                "card_front": ("card_front.jpg", front, "image/jpeg"),
            },
            headers={**headers, **signed(attempt_id, body, photo, front)},
        )
        # Self-service at home: the ID number, the name, a code request (the development sender logs it).
        session = client.post("/v1/self/sessions", json={"device_id": "phone-1"}).json()
        me = {"Authorization": f"Bearer {session['token']}"}
        client.post(f"/v1/attempts/{session['attempt']['id']}/document", json={"value": ID_NUMBER}, headers=me)
        client.post("/v1/self/code", json={"name": CUSTOMER_NAME}, headers=me)
        client.post("/v1/self/code/verify", json={"code": "123456"}, headers=me)
        client.get(f"/v1/attempts/{attempt_id}", headers=headers)
        client.get("/v1/nope", headers=headers)
