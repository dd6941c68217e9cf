"""``realname serve --workers N`` against PostgreSQL under load: requests per second, ``/metrics`` and ``/readyz``.

    PYTHONPATH=src:benchmarks/load .venv/bin/python benchmarks/load/serve_check.py --database-url URL
        [--workers 2] [--clients 8] [--seconds 20]

The real server (``python -m realname.entrypoints.cli serve``, real models: nothing faked) on a fresh schema set up
as ``http_registry.py`` does. ``--clients`` threads each sign in once, then run the visit's first steps over and
over (attempt, kiosk-signed document, consent, challenge: 4 requests, each a transaction with an audit event; the
liveness step needs a real clip and is left to ``stream_bench.py``). Meanwhile a watcher polls ``/metrics`` and
``/readyz`` twice a second. After the load, the database is made unusable (``ALTER DATABASE … ALLOW_CONNECTIONS
false`` and its connections ended: use a database of your own) and ``/readyz`` must answer 503 naming the database,
then 200 again once connections are allowed. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
from http_registry import World, ok, open_visit, process_tree_cpu_seconds, set_up

from realname.adapters.storage.database import normalise_url

REPO = Path(__file__).resolve().parents[2]


def visit(http: httpx.Client, world: World, clerk: dict[str, str], serial: int) -> None:
    attempt, _ = open_visit(http, world, clerk, serial)
    ok(http.post(f"/v1/attempts/{attempt}/challenge", headers=clerk))


def set_connections(database_url: str, allowed: bool) -> None:
    url = sa.make_url(normalise_url(database_url))
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS {"true" if allowed else "false"}'))
        if not allowed:
            c.execute(
                sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :db"),
                {"db": url.database},
            )
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
        probe.close()
        world = set_up(args.database_url, Path(folder), args.clients, 10)
        env = {**os.environ, **world.env}
        env.pop("REALNAME_BENCHMARK_FAKE_ENGINE", None)
        command = [
            sys.executable,
            "-m",
            "realname.entrypoints.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=10).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not become ready")
                time.sleep(0.5)
            latencies: list[float] = []
            failures: list[str] = []
            watched: dict[str, list[int]] = {"metrics": [], "readyz": []}
            watch_ms: dict[str, list[float]] = {"metrics": [], "readyz": []}
            stop = threading.Event()
            cpu_before, load_before = process_tree_cpu_seconds(server.pid), os.getloadavg()[0]
            stop_at = time.perf_counter() + args.seconds

            def client(k: int) -> None:
                with httpx.Client(base_url=base, timeout=60) as http:
                    code, password = world.clerks[k]
                    token = http.post("/v1/auth/token", json={"staff_code": code, "password": password}).json()
                    clerk = {"Authorization": f"Bearer {token['token']}"}
                    serial = k * 100_000
                    while time.perf_counter() < stop_at:
                        began = time.perf_counter()
                        try:
                            visit(http, world, clerk, serial)
                            latencies.append(time.perf_counter() - began)
                        except (RuntimeError, httpx.HTTPError) as exc:
                            failures.append(str(exc)[:200])
                        serial += 1

            def watcher() -> None:
                with httpx.Client(base_url=base, timeout=30) as http:
                    while not stop.is_set():
                        for path in ("metrics", "readyz"):
                            began = time.perf_counter()
                            watched[path].append(http.get(f"/{path}").status_code)
                            watch_ms[path].append(1000 * (time.perf_counter() - began))
                        stop.wait(0.5)

            watching = threading.Thread(target=watcher)
            watching.start()
            started = time.perf_counter()
            threads = [threading.Thread(target=client, args=(k,)) for k in range(args.clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - started
            cpu = process_tree_cpu_seconds(server.pid) - cpu_before
            load_after = os.getloadavg()[0]
            stop.set()
            watching.join()
            metrics_text = httpx.get(f"{base}/metrics", timeout=30).text
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics_text.splitlines()
                if line.startswith("realname_http_requests_total{") and "/v1/attempts" in line
            )
            set_connections(args.database_url, allowed=False)
            try:
                time.sleep(1.0)
                down = httpx.get(f"{base}/readyz", timeout=60)
                down_body = down.json()
            finally:
                set_connections(args.database_url, allowed=True)
            time.sleep(1.0)
            back = [httpx.get(f"{base}/readyz", timeout=60).status_code for _ in range(4)]
        finally:
            server.terminate()
            server.wait(timeout=60)
            admin = sa.create_engine(normalise_url(args.database_url))
            with admin.begin() as c:
                c.execute(sa.text(f"DROP SCHEMA IF EXISTS {world.schema} CASCADE"))
            admin.dispose()
    visits = len(latencies)
    cuts = statistics.quantiles(latencies, n=100) if visits > 1 else [float("nan")] * 99
    print(
        json.dumps(
            {
                "workers": args.workers,
                "clients": args.clients,
                "visits": visits,
                "requests_per_s": round(4 * visits / wall, 1),
                "visit_p50_ms": round(cuts[49] * 1000, 1),
                "visit_p95_ms": round(cuts[94] * 1000, 1),
                "server_cpu_ms_per_request": round(1000 * cpu / max(4 * visits, 1), 1),
                "failures": len(failures),
                "first_failure": failures[0] if failures else None,
                "metrics_status": sorted(set(watched["metrics"])),
                "metrics_polls": len(watched["metrics"]),
                "metrics_p50_ms": round(statistics.median(watch_ms["metrics"]), 1) if watch_ms["metrics"] else None,
                "readyz_status_under_load": sorted(set(watched["readyz"])),
                "readyz_p50_ms": round(statistics.median(watch_ms["readyz"]), 1) if watch_ms["readyz"] else None,
                "attempt_requests_counted_in_metrics": counted,
                "readyz_database_down": [down.status_code, down_body],
                "readyz_after_reconnect": back,
                "load_average_1min": [round(load_before, 2), round(load_after, 2)],
            }
        )
    )


if __name__ == "__main__":
    main()
