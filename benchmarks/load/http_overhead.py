"""Server CPU of the HTTP layer alone: requests whose use case does (almost) nothing, in one process.

    PYTHONPATH=src:benchmarks/load .venv/bin/python benchmarks/load/http_overhead.py [--requests 2000]

The app of ``http_registry.py`` (``fake_engine_app``) behind Starlette's TestClient, one signed-in clerk, and three
requests whose own work is small, so that what they cost is the HTTP layer's (middleware, routing, FastAPI's
dependencies and validation, thread-pool hops, the staff check) and the TestClient's own machinery:

- ``activity``: ``POST /v1/auth/activity`` (the staff check, answered from this worker's memory of the sign-in
  after the first request, and an empty 204);
- ``consent``: ``GET /v1/consent`` (no sign-in; a constant text through a response model);
- ``healthz``: ``GET /healthz``.

Server CPU as in ``http_registry_profile.py``: every thread's CPU but the client's (the main thread), from
``/proc/self/task``, after 200 warm-up requests of each kind. Prints JSON: µs of server CPU per request by kind.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_engine_app import build_app
from fastapi.testclient import TestClient
from http_registry import set_up

from proc_cpu import thread_cpu_seconds

WARM_UP = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        world = set_up(None, Path(folder), 1, 10)
        os.environ.update(world.env)
        with TestClient(build_app(), raise_server_exceptions=False) as http:
            staff_code, password = world.clerks[0]
            token = http.post("/v1/auth/token", json={"staff_code": staff_code, "password": password}).json()
            clerk = {"Authorization": f"Bearer {token['token']}"}
            kinds: dict[str, Callable[[], httpx.Response]] = {
                "activity": lambda: http.post("/v1/auth/activity", headers=clerk),
                "consent": lambda: http.get("/v1/consent"),
                "healthz": lambda: http.get("/healthz"),
            }
            main_id = threading.get_native_id()
            load_before = os.getloadavg()[0]
            result: dict[str, object] = {}
            for kind, send in kinds.items():
                for _ in range(WARM_UP):
                    send()
                before = thread_cpu_seconds()
                for _ in range(args.requests):
                    if send().status_code >= 300:
                        raise SystemExit(f"{kind} failed")
                after = thread_cpu_seconds()
                server = sum(cpu - before.get(tid, 0.0) for tid, cpu in after.items() if tid != main_id)
                client = after.get(main_id, 0.0) - before.get(main_id, 0.0)
                result[f"{kind}_server_us"] = round(1e6 * server / args.requests)
                result[f"{kind}_client_us"] = round(1e6 * client / args.requests)
            result["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
