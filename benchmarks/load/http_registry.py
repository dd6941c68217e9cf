"""Registry-only load through HTTP: full store registrations with verification answered by a benchmark-only fake.

Sets up a database (a SQLite file, or a fresh schema in ``--database-url``), a key file, one outlet, an enrolled
kiosk (terminal key), ``--clients`` clerks and enough numbers; then, for each worker count, serves the real app
from ``benchmarks/load/fake_engine_app.py`` (liveness and matching approve at once, nothing else is faked) with
``uvicorn --workers N`` in a separate process and drives it from ``--clients`` client threads (one keep-alive
connection each). One registration is 8 requests: attempt, signed document, consent, challenge, signed liveness
upload, reservation, registration (``Idempotency-Key``), plus the clerk's token once per thread.

Reports registrations/s, p50/p95/p99 of a whole registration, the server's CPU seconds per registration (its
processes' utime+stime from ``/proc`` before and after the run) and the load average.

Usage: PYTHONPATH=src nice -n 15 .venv/bin/python benchmarks/load/http_registry.py [--database-url URL]
           [--workers 1,2] [--clients 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fake_engine_app import BENCHMARK_TOKEN
from PIL import Image

from realname.adapters.http.reader import document_fields, signed_reader_headers
from realname.adapters.storage.database import normalise_url
from realname.app.actors import OPERATOR_CLI
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.consent import CONSENT_VERSION
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from realname.domain.sim import luhn_valid

HERE = Path(__file__).resolve().parent
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def chip_photo() -> bytes:
    """A 102×126 grey JPEG: decoded by the real decoder; the fake engine sees a face in it."""
    buffer = io.BytesIO()
    Image.new("RGB", (102, 126), (128, 128, 128)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


PHOTO = chip_photo()


def resident_id(serial: int) -> str:
    body = f"110105{19600101 + (serial % 28) + 100 * (serial // 28 % 12) + 10000 * (serial // 336 % 40)}{serial % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def iccid(serial: int) -> str:
    """A 20-digit ICCID with a valid Luhn check digit."""
    stem = f"898600{serial:013d}"
    return next(stem + digit for digit in "0123456789" if luhn_valid(stem + digit))


@dataclass
class World:
    env: dict[str, str]
    schema: str | None
    terminal_id: str
    key: Ed25519PrivateKey
    clerks: list[tuple[str, str]]
    numbers: int


def set_up(database_url: str | None, folder: Path, clients: int, numbers: int) -> World:
    url, schema = database_url, None
    if database_url is not None:
        schema = f"bench_{secrets.token_hex(4)}"
        admin = sa.create_engine(normalise_url(database_url))
        with admin.begin() as c:
            c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        admin.dispose()
        separator = "&" if "?" in database_url else "?"
        url = f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}"
    env = {
        "REALNAME_ENV": "test",
        "REALNAME_DATA_DIR": str(folder / "data"),
        "REALNAME_TOKEN_SECRET": secrets.token_urlsafe(32),
        "REALNAME_TOKEN_TTL_MINUTES": "600",
        "REALNAME_LOG_LEVEL": "WARNING",
        "REALNAME_POLICY__MAX_NUMBERS_PER_ID": "5",
        "REALNAME_BENCHMARK_FAKE_ENGINE": BENCHMARK_TOKEN,
    }
    if url is not None:
        env["REALNAME_DATABASE_URL"] = url
    settings = Settings(env="test", data_dir=folder / "data", database_url=url)
    container = Container(settings)
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [Msisdn(f"1390{i:07d}") for i in range(numbers)], source="bench")
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    terminal = container.terminals().enroll(OPERATOR_CLI, "BJ-001", "Bench kiosk", raw)
    clerks = []
    for i in range(clients):
        created = registry.add_staff(OPERATOR_CLI, f"Clerk {i}", Role.CLERK, "BJ-001", password_change_required=False)
        clerks.append((created.staff_code, created.password))
    container.engine.dispose()
    return World(env, schema, terminal.id, key, clerks, numbers)


def ok(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON body; anything but a success stops the benchmark."""
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text[:200]}")
    body: dict[str, Any] = response.json()
    return body


def open_visit(http: httpx.Client, world: World, clerk: dict[str, str], serial: int) -> tuple[str, list[str | None]]:
    """A new attempt with its kiosk-signed document and the consent given: the attempt id and the document's fields."""
    attempt = str(ok(http.post("/v1/attempts", json={"device_id": "kiosk-1"}, headers=clerk))["id"])
    document: dict[str, object] = {"value": resident_id(serial), "name": "Zhang Wei", "expiry": "long_term"}
    fields = document_fields(document)
    signed = signed_reader_headers(world.key, world.terminal_id, attempt, fields=fields, now=datetime.now(UTC))
    ok(http.post(f"/v1/attempts/{attempt}/document", json=document, headers={**clerk, **signed}))
    ok(http.post(f"/v1/attempts/{attempt}/consent", json={"version": CONSENT_VERSION, "accepted": True}, headers=clerk))
    return attempt, fields


def register(http: httpx.Client, world: World, clerk: dict[str, str], serial: int) -> None:
    attempt, fields = open_visit(http, world, clerk, serial)
    nonce = ok(http.post(f"/v1/attempts/{attempt}/challenge", headers=clerk))["nonce"]
    signed = signed_reader_headers(
        world.key, world.terminal_id, attempt, fields=fields, portrait=PHOTO, now=datetime.now(UTC)
    )
    files = {
        "clip": ("clip.webm", b"\x1a\x45\xdf\xa3 benchmark", "video/webm"),
        "id_photo": ("chip.jpg", PHOTO, "image/jpeg"),
    }
    decided = ok(
        http.post(f"/v1/attempts/{attempt}/liveness", data={"nonce": nonce}, files=files, headers={**clerk, **signed})
    )
    if not decided.get("passed"):
        raise RuntimeError(f"the fake engine did not approve: {decided}")
    msisdn = f"1390{serial:07d}"
    ok(http.post(f"/v1/attempts/{attempt}/reservation", json={"msisdn": msisdn}, headers=clerk))
    body = {"msisdn": msisdn, "iccid": iccid(serial)}
    ok(
        http.post(
            f"/v1/attempts/{attempt}/registration", json=body, headers={**clerk, "Idempotency-Key": f"k-{attempt}"}
        )
    )


def process_tree_cpu_seconds(root: int) -> float:
    """utime+stime of ``root`` and its descendants (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += times.get(pid, 0.0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


def serve(world: World, workers: int, port: int, profile: Path | None = None) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "--factory", "fake_engine_app:build_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    if profile is not None:
        command = [sys.executable, str(HERE / "profiled_server.py"), str(profile), str(port)]
    pythonpath = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, **world.env, "REALNAME_WORKERS": str(workers), "PYTHONPATH": pythonpath}
    server = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            raise RuntimeError("the benchmark server exited")
        time.sleep(0.5)
    server.terminate()
    raise RuntimeError("the benchmark server did not become ready")


def run(
    world: World,
    workers: int,
    clients: int,
    seconds: float,
    first_serial: int,
    per_client: int,
    profile: Path | None = None,
) -> dict[str, Any]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = serve(world, workers, port, profile)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    try:
        time.sleep(1.0)
        cpu_before, load_before = process_tree_cpu_seconds(server.pid), os.getloadavg()[0]
        stop_at = time.perf_counter() + seconds

        def client(k: int) -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                staff_code, password = world.clerks[k]
                token = http.post("/v1/auth/token", json={"staff_code": staff_code, "password": password}).json()
                clerk = {"Authorization": f"Bearer {token['token']}"}
                for j in range(per_client):
                    if time.perf_counter() >= stop_at:
                        return
                    began = time.perf_counter()
                    try:
                        register(http, world, clerk, first_serial + k * per_client + j)
                    except RuntimeError as exc:
                        failures.append(str(exc))
                        continue
                    latencies[k].append(time.perf_counter() - began)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        cpu = process_tree_cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(timeout=30)
    every = sorted(x for part in latencies for x in part)
    cuts = statistics.quantiles(every, n=100) if len(every) > 1 else [float("nan")] * 99
    return {
        "workers": workers,
        "clients": clients,
        "registrations": len(every),
        "per_s": round(len(every) / wall, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "server_cpu_ms_per_registration": round(cpu / max(len(every), 1) * 1000, 1),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--numbers", type=int, default=20_000)
    parser.add_argument("--output", type=Path)
    parser.add_argument(
        "--profile-server",
        type=Path,
        help="serve one worker under cProfile (benchmarks/load/profiled_server.py) and write its statistics here",
    )
    args = parser.parse_args()
    counts = [1] if args.profile_server else [int(w) for w in args.workers.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        world = set_up(args.database_url, Path(folder), args.clients, args.numbers)
        share = args.numbers // len(counts)
        try:
            for i, workers in enumerate(counts):
                result = run(
                    world, workers, args.clients, args.seconds, i * share, share // args.clients, args.profile_server
                )
                result["profiled"] = args.profile_server is not None
                result["database"] = "postgresql" if args.database_url else "sqlite"
                print(json.dumps(result, ensure_ascii=False), flush=True)
                results.append(result)
        finally:
            if args.database_url and world.schema:
                admin = sa.create_engine(normalise_url(args.database_url))
                with admin.begin() as c:
                    c.execute(sa.text(f"DROP SCHEMA {world.schema} CASCADE"))
                admin.dispose()
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
