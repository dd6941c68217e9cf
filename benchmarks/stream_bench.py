"""Streamed verification: how long after the last chunk the decision comes, and the CPU per clip.

    .venv/bin/python benchmarks/stream_bench.py [--data ../shared/data/liveness]
        [--models var/models] [--chunk-seconds 1.0] [--rounds 1] [--out benchmarks/results/stream.json]

The whole service runs in this process (SQLite in a temporary folder, real models, the FastAPI app behind
Starlette's TestClient, an enrolled kiosk signing the chip portrait). For each real clip that performs a challenge
(``liveness_bench.PERFORMED``), re-encoded as a kiosk records it (VP8 WebM, 15 fps, 2 Mbit/s), an attempt is
prepared and challenged with the clip's first action (so the decision includes the face match against a chip
photo cut from the clip), then:

* **stream**: the WebM is cut into chunks of ``--chunk-seconds`` of video (at byte positions proportional to time,
  as a recorder's timeslice gives them) and each is sent at the moment the recorder would have produced it
  (real-time pacing); **latency** = from sending the last chunk to the decision's answer (last chunk's analysis,
  end of stream, decision, match, audit). CPU = process CPU time from opening the stream to the decision
  (server and in-process client); **server CPU** = the same minus the main thread's (the client's requests run in
  the main thread, the app in the TestClient's event-loop thread and the thread pools);
* **single**: the same WebM as one ``POST …/liveness`` after recording: latency = the whole request.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from liveness_bench import PERFORMED
from realname.adapters.http.app import create_app
from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.adapters.system import SecretsRandom
from realname.adapters.vision.chip_photo import simulate_chip_photo
from realname.adapters.vision.kiosk_recording import KIOSK_FPS, kiosk_recording
from realname.app.actors import OPERATOR_CLI
from realname.bootstrap import Container
from realname.config import PolicySettings, Settings
from realname.domain.consent import CONSENT_VERSION
from realname.domain.organisation import Role

REPO = Path(__file__).resolve().parents[1]
KIOSK_BIT_RATE = 2_000_000
OUTLET = "BJ-001"
ID_NUMBER = "11010519491231002X"


class AskFor(SecretsRandom):
    """Real randomness, except that the next challenge asks for ``wanted`` first."""

    wanted = "blink"

    def shuffle(self, items: list[str]) -> list[str]:
        return [self.wanted] + [i for i in items if i != self.wanted]


def kiosk_webm(clip: Path) -> tuple[bytes, float, Any]:
    """The clip as VP8 WebM at 15 fps (what MediaRecorder uploads), its duration, and a frontal frame (RGB)."""
    webm, frames = kiosk_recording(clip, bit_rate=KIOSK_BIT_RATE, fps=KIOSK_FPS)
    return webm, len(frames) / KIOSK_FPS, frames[min(4, len(frames) - 1)]


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the in-process service's set-up: the clips, the models and the rounds."""
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "liveness")
    parser.add_argument(
        "--models", type=Path, default=Path(os.environ.get("REALNAME_MODELS_DIR", REPO / "var" / "models"))
    )
    parser.add_argument("--rounds", type=int, default=1)


def start_service(folder: Path, models: Path, random: AskFor) -> Container:
    """The whole service on SQLite in ``folder``, one challenge action asked, and the kiosk's outlet."""
    settings = Settings(
        env="test",
        data_dir=folder,
        models_dir=models,
        policy=PolicySettings(challenge_actions=1, max_challenges_per_attempt=3),
        token_ttl_minutes=24 * 60,  # a loaded machine may take longer than a shift's token to run this
    )
    container = Container(settings, random=random)
    container.initialise()
    container.registry().add_outlet(OPERATOR_CLI, OUTLET, "Beijing Xidan")
    return container


def chip_photo(container: Container, frontal: Any) -> bytes:
    """A chip portrait cut from the clip's frontal frame."""
    box = container.onnx_models.detect(frontal)[0]
    return simulate_chip_photo(frontal, (box.x0, box.y0, box.x1, box.y1))


class Kiosk:
    def __init__(self, container: Container, client: TestClient) -> None:
        self.container, self.client = container, client
        self.key = Ed25519PrivateKey.generate()
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.terminal = container.terminals().enroll(OPERATOR_CLI, OUTLET, "Counter 1", raw).id
        staff = container.registry().add_staff(
            OPERATOR_CLI, "Li Lei", Role.CLERK, OUTLET, password_change_required=False
        )
        token = client.post("/v1/auth/token", json={"staff_code": staff.staff_code, "password": staff.password})
        self.headers = {"Authorization": f"Bearer {token.json()['token']}"}
        self.fields: list[str | None] = []

    def challenged(self, random: AskFor, action: str) -> tuple[str, str]:
        c, h = self.client, self.headers
        started = c.post("/v1/attempts", json={"purpose": "register", "device_id": "kiosk-1"}, headers=h)
        assert started.status_code == 201, started.text
        attempt = started.json()["id"]
        body: dict[str, object] = {"value": ID_NUMBER, "expiry": "long_term"}
        self.fields = document_fields(body)
        signed = signed_reader_headers(
            self.key, self.terminal, attempt, fields=self.fields, now=self.container.clock.now()
        )
        checked = c.post(f"/v1/attempts/{attempt}/document", json=body, headers={**h, **signed})
        assert checked.status_code == 200 and checked.json()["check"]["valid"], checked.text
        consent = c.post(
            f"/v1/attempts/{attempt}/consent", json={"version": CONSENT_VERSION, "accepted": True}, headers=h
        )
        assert consent.status_code == 200, consent.text
        random.wanted = action
        nonce = c.post(f"/v1/attempts/{attempt}/challenge", headers=h).json()["nonce"]
        return attempt, nonce

    def portrait_headers(self, attempt: str, photo: bytes) -> dict[str, str]:
        return signed_reader_headers(
            self.key, self.terminal, attempt, fields=self.fields, portrait=photo, now=self.container.clock.now()
        )


def stream_once(
    kiosk: Kiosk,
    attempt: str,
    nonce: str,
    webm: bytes,
    seconds: float,
    photo: bytes,
    chunk_s: float,
    *,
    pace: bool = True,
) -> dict[str, Any]:
    """Open a stream, send the clip in chunks (each at the moment a recorder would have produced it, or back to back
    without ``pace``) and end it; the latency and CPU of the decision."""
    c, h = kiosk.client, kiosk.headers
    count = max(1, math.ceil(seconds / chunk_s))
    cpu0, client0 = time.process_time(), time.thread_time()
    opened = c.post(
        f"/v1/attempts/{attempt}/liveness/streams",
        data={"nonce": nonce},
        files={"id_photo": ("chip.jpg", photo, "image/jpeg")},
        headers={**h, **kiosk.portrait_headers(attempt, photo)},
    )
    assert opened.status_code == 201, opened.text
    stream = opened.json()["stream_id"]
    recording_started = time.perf_counter()
    last_sent = 0.0
    for seq in range(count):
        start, end = len(webm) * seq // count, len(webm) * (seq + 1) // count
        if pace:
            due = recording_started + min((seq + 1) * chunk_s, seconds)
            time.sleep(max(0.0, due - time.perf_counter()))
        last_sent = time.perf_counter()
        last_cpu = time.process_time()
        sent = c.put(
            f"/v1/attempts/{attempt}/liveness/streams/{stream}/chunks/{seq}",
            content=webm[start:end],
            headers={**h, "Content-Type": "application/octet-stream"},
        )
        assert sent.status_code == 200, sent.text
    end_cpu = time.process_time()
    decision = c.post(f"/v1/attempts/{attempt}/liveness/streams/{stream}/end", json={"chunks": count}, headers=h)
    done = time.perf_counter()
    done_cpu, client_cpu = time.process_time(), time.thread_time() - client0
    assert decision.status_code == 200, decision.text
    return {
        "latency_ms": round(1000 * (done - last_sent), 1),
        "cpu_ms": round(1000 * (done_cpu - cpu0), 1),
        "server_cpu_ms": round(1000 * (done_cpu - cpu0 - client_cpu), 1),
        "last_chunk_cpu_ms": round(1000 * (end_cpu - last_cpu), 1),
        "end_cpu_ms": round(1000 * (done_cpu - end_cpu), 1),
        "chunks": count,
        "passed": decision.json()["passed"],
    }


def single_once(kiosk: Kiosk, attempt: str, nonce: str, webm: bytes, photo: bytes) -> dict[str, Any]:
    c, h = kiosk.client, kiosk.headers
    cpu0, client0 = time.process_time(), time.thread_time()
    started = time.perf_counter()
    decision = c.post(
        f"/v1/attempts/{attempt}/liveness",
        data={"nonce": nonce},
        files={"clip": ("clip.webm", webm, "video/webm"), "id_photo": ("chip.jpg", photo, "image/jpeg")},
        headers={**h, **kiosk.portrait_headers(attempt, photo)},
    )
    done = time.perf_counter()
    done_cpu, client_cpu = time.process_time(), time.thread_time() - client0
    assert decision.status_code == 200, decision.text
    return {
        "latency_ms": round(1000 * (done - started), 1),
        "cpu_ms": round(1000 * (done_cpu - cpu0), 1),
        "server_cpu_ms": round(1000 * (done_cpu - cpu0 - client_cpu), 1),
        "passed": decision.json()["passed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_service_arguments(parser)
    parser.add_argument("--chunk-seconds", type=float, default=1.0)
    parser.add_argument("--stream-only", action="store_true", help="skip the single uploads")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "stream.json")
    args = parser.parse_args()

    random = AskFor()
    load_at_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory() as folder:
        container = start_service(Path(folder), args.models, random)
        results: dict[str, list[dict[str, Any]]] = {"stream": [], "single": []}
        with TestClient(create_app(container.http_services()), raise_server_exceptions=False) as client:
            kiosk = Kiosk(container, client)
            clips = {name: kiosk_webm(args.data / name) for name in PERFORMED}
            for _ in range(args.rounds):
                for name, actions in PERFORMED.items():
                    webm, seconds, frontal = clips[name]
                    photo = chip_photo(container, frontal)
                    attempt, nonce = kiosk.challenged(random, actions[0].value)
                    streamed = stream_once(kiosk, attempt, nonce, webm, seconds, photo, args.chunk_seconds)
                    measured = [("stream", streamed)]
                    if not args.stream_only:
                        attempt, nonce = kiosk.challenged(random, actions[0].value)
                        measured.append(("single", single_once(kiosk, attempt, nonce, webm, photo)))
                    for kind, row in measured:
                        row.update(clip=name, seconds=round(seconds, 2))
                        row["cpu_ms_per_10s"] = round(row["cpu_ms"] * 10.0 / seconds, 1)
                        row["server_cpu_ms_per_10s"] = round(row["server_cpu_ms"] * 10.0 / seconds, 1)
                        results[kind].append(row)
                        print(kind, json.dumps(row), flush=True)
        container.engine.dispose()
    summary = {
        kind: {
            "median_latency_ms": statistics.median(r["latency_ms"] for r in rows),
            "max_latency_ms": max(r["latency_ms"] for r in rows),
            "median_cpu_ms_per_10s_clip": statistics.median(r["cpu_ms_per_10s"] for r in rows),
            "median_server_cpu_ms_per_10s_clip": statistics.median(r["server_cpu_ms_per_10s"] for r in rows),
            "passed": sum(bool(r["passed"]) for r in rows),
            "of": len(rows),
        }
        for kind, rows in results.items()
        if rows
    }
    report = {
        "chunk_seconds": args.chunk_seconds,
        "load_average_1min_at_start": load_at_start,
        "summary": summary,
        "runs": results,
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"summary": summary, "load_average_1min": report["load_average_1min"]}, indent=2))


if __name__ == "__main__":
    main()
