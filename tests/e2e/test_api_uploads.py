"""Uploads attacked through the HTTP API: oversized bodies are refused while they arrive (before any
authentication work), and clips are never spooled to a temporary file.

The real service runs as ``realname serve`` in a subprocess with ``TMPDIR`` pointing to an empty folder. Python's
temporary files on Linux are often unnamed (``O_TMPFILE``), so "no file in the folder" is checked both by
listing it and by looking at the server's open file descriptors while the upload is still arriving.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.domain.consent import CONSENT_VERSION
from tests.e2e.conftest import Service
from tests.e2e.media import jpeg_bytes
from tests.integration.test_privacy_logs import REALNAME, Run, free_port

VALID_ID = "11010519491231002X"
DOCUMENT: dict[str, object] = {"value": VALID_ID, "expiry": "long_term"}
MB = 1024 * 1024
HUGE_BODY_BYTES = 300 * MB
BOUNDARY = "realnameUploadBoundary7MA4YWxk"


def noise_clip(min_bytes: int = 2 * MB) -> bytes:
    """An MP4 of random noise (incompressible, so it is large) of at least ``min_bytes``: no face in it."""
    rng = np.random.default_rng(7)
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        assert isinstance(stream, av.VideoStream)
        stream.width = stream.height = 320
        stream.pix_fmt = "yuv420p"
        for _ in range(40):
            frame = rng.integers(0, 256, (320, 320, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    clip = buffer.getvalue()
    assert len(clip) >= min_bytes, len(clip)
    return clip


def temp_files_of(pid: int, folder: Path) -> list[str]:
    """Open files of ``pid`` and its children inside ``folder`` (unnamed temporary files included)."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    found = []
    for each in pids:
        for fd in Path(f"/proc/{each}/fd").glob("*"):
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith(str(folder)):
                found.append(target)
    return found


def upload_traces(folder: Path) -> list[str]:
    """Files in ``folder`` that could hold upload data. ONNX Runtime writes a session marker ``.ses`` (a
    timestamp and a random id, 51 bytes) when it creates a session; it is not upload data but stays bounded."""
    return [str(p) for p in folder.iterdir() if not (p.name == ".ses" and p.stat().st_size < 128)]


def multipart_parts(nonce: str, clip: bytes, photo: bytes) -> tuple[bytes, bytes, bytes]:
    """The multipart body of a liveness upload as (before the clip, the clip, after the clip)."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="nonce"\r\n\r\n{nonce}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="clip"; filename="clip.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    ).encode()
    tail = (
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="id_photo"; filename="chip.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    return head, clip, tail + photo + f"\r\n--{BOUNDARY}--\r\n".encode()


@dataclass
class LiveService:
    server: subprocess.Popen[bytes]
    client: httpx.Client
    headers: dict[str, str]
    tmpdir: Path
    terminal_id: str
    terminal_key: Ed25519PrivateKey

    def reader_headers(self, attempt_id: str, portrait: bytes | None = None) -> dict[str, str]:
        """What the outlet's enrolled kiosk signs: the card it read (and, with the clip, its chip portrait)."""
        fields = document_fields(DOCUMENT)
        now = datetime.now(UTC)
        return signed_reader_headers(
            self.terminal_key, self.terminal_id, attempt_id, fields=fields, portrait=portrait, now=now
        )

    def challenged_attempt(self) -> tuple[str, str]:
        attempt = self.client.post("/v1/attempts", json={"device_id": "kiosk-1"}, headers=self.headers)
        assert attempt.status_code == 201, attempt.text
        attempt_id = attempt.json()["id"]
        for path, body, signed in (
            ("document", DOCUMENT, self.reader_headers(attempt_id)),
            ("consent", {"version": CONSENT_VERSION, "accepted": True}, {}),
        ):
            done = self.client.post(f"/v1/attempts/{attempt_id}/{path}", json=body, headers={**self.headers, **signed})
            assert done.status_code == 200, done.text
        challenge = self.client.post(f"/v1/attempts/{attempt_id}/challenge", headers=self.headers)
        assert challenge.status_code == 200, challenge.text
        return attempt_id, challenge.json()["nonce"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    root = tmp_path_factory.mktemp("uploads")
    tmpdir = root / "tmp"
    tmpdir.mkdir()
    run = Run(root)
    run.env["TMPDIR"] = str(tmpdir)
    run.env["REALNAME_LOG_LEVEL"] = "WARNING"
    run.cli("init")
    run.cli("outlet", "add", "BJ-001", "Beijing Xidan")
    terminal_key = Ed25519PrivateKey.generate()
    public_key = root / "terminal.pub"
    public_key.write_bytes(terminal_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    terminal_id = run.cli(
        "terminal", "add", "--outlet", "BJ-001", "--name", "Counter 1", "--public-key", str(public_key)
    )
    created = run.cli("staff", "add", "Li Lei", "--role", "clerk", "--outlet", "BJ-001")
    staff_code = re.search(r"staff code\s+(\S+)", created)
    password = re.search(r"password\s+(\S+)", created)
    assert staff_code and password
    port = free_port()
    with (run.logs / "serve.stderr").open("wb") as err:
        server = subprocess.Popen(
            [str(REALNAME), "serve", "--port", str(port)], env=run.env, stdout=subprocess.DEVNULL, stderr=err
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
                deadline = time.monotonic() + 90
                while True:
                    assert server.poll() is None, (run.logs / "serve.stderr").read_text()
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, "the service did not start"
                    time.sleep(0.2)
                token = client.post(
                    "/v1/auth/token", json={"staff_code": staff_code.group(1), "password": password.group(1)}
                )
                assert token.status_code == 200, token.text
                changed = client.post(
                    "/v1/auth/password",
                    json={"current_password": password.group(1), "new_password": "counter-pass-4821"},
                    headers={"Authorization": f"Bearer {token.json()['token']}"},
                )
                assert changed.status_code == 200, changed.text
                headers = {"Authorization": f"Bearer {changed.json()['token']}"}
                yield LiveService(server, client, headers, tmpdir, terminal_id.strip().splitlines()[0], terminal_key)
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_the_temp_file_check_sees_unnamed_temporary_files(tmp_path: Path) -> None:
    """Control: the check below would catch a spooled upload (Python's TemporaryFile, which has no name)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import tempfile, time; f = tempfile.TemporaryFile(); f.write(b'x'); time.sleep(30)"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    try:
        deadline = time.monotonic() + 10
        while not temp_files_of(holder.pid, tmp_path):
            assert time.monotonic() < deadline, "the control's temporary file was not seen"
            time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()


def test_a_clip_over_one_megabyte_never_reaches_a_temporary_file(live: LiveService) -> None:
    attempt, nonce = live.challenged_attempt()
    clip = noise_clip()
    photo = jpeg_bytes(np.full((160, 128, 3), 128, np.uint8))
    head, clip_part, tail = multipart_parts(nonce, clip, photo)
    seen_while_uploading: list[str] = []

    def body() -> Iterator[bytes]:
        yield head
        half = 1536 * 1024  # past Starlette's 1 MB spooling threshold
        for start in range(0, half, 64 * 1024):
            yield clip_part[start : start + 64 * 1024]
        time.sleep(0.5)  # let the server take in what was sent so far
        seen_while_uploading.extend(temp_files_of(live.server.pid, live.tmpdir))
        seen_while_uploading.extend(upload_traces(live.tmpdir))
        yield clip_part[half:]
        yield tail

    length = len(head) + len(clip_part) + len(tail)
    response = live.client.post(
        f"/v1/attempts/{attempt}/liveness",
        content=body(),
        headers={
            **live.headers,
            **live.reader_headers(attempt, photo),
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Content-Length": str(length),
        },
    )
    # A decision (the noise has no face), so the clip was received whole and analysed.
    assert response.status_code == 200, response.text
    assert response.json()["passed"] is False
    assert seen_while_uploading == []
    assert upload_traces(live.tmpdir) == []


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_300_megabyte_body_is_refused_long_before_it_is_read(live: LiveService, declared: bool) -> None:
    sent = 0

    head, _, _ = multipart_parts("0" * 32, b"", b"")

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield head  # a well-formed start, then a clip part that never ends
        chunk = b"\0" * MB
        while sent < HUGE_BODY_BYTES:
            sent += len(chunk)
            yield chunk

    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Authorization": "Bearer not-a-token"}
    if declared:
        headers["Content-Length"] = str(len(head) + HUGE_BODY_BYTES)
    try:
        response = live.client.post("/v1/attempts/x/liveness", content=body(), headers=headers)
    except httpx.TransportError as exc:  # pragma: no cover - the server closed before the client read the answer
        pytest.fail(f"no 413 answer: {exc!r}")
    # Refused as too large, not as unauthenticated: no authentication work was done for it.
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "request.too_large"
    assert sent < 64 * MB, sent
    assert upload_traces(live.tmpdir) == []


def test_json_bodies_are_limited_to_one_megabyte(service: Service) -> None:
    clerk = service.staff()
    big = b'{"device_id": "kiosk-1", "pad": "' + b"x" * (2 * MB) + b'"}'
    response = service.client.post("/v1/attempts", content=big, headers={**clerk, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "request.too_large"
    assert set(response.json()) == {"code", "message", "request_id"}
    unsigned = service.client.post("/v1/auth/token", content=big, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 413
