"""Throughput and latency of relying parties' number–identity checks on PostgreSQL.

Sets up a fresh schema in the given database (dropped afterwards) with a real key file, the migrations,
``--subscribers`` registered numbers (each with a name on record) and one party, then sends a mix of checks
(50 % three-element, 25 % two-element, 15 % status, 10 % held-since; every check answered, most ``match``):

1. ``direct``: the use case (``NumberChecks``: signature, nonce, rate and quota counters, enumeration queries,
   blind-index comparison, check row, audit event) from ``--threads`` threads, through group commit
   (``--batch-wait-ms``, 0: one transaction and commit per check, as before group commit);
2. ``http``: ``realname serve --workers N`` in a subprocess, signed ``POST /v1/checks`` from ``--threads``
   client threads (one keep-alive connection each) on the same machine.

Reports checks/s, p50 and p99 latency, the load average before and after, and CPU seconds per check: this
process (``direct``: client and use case; ``http``: the client only), the server's processes (``http``) and the
PostgreSQL backends serving the benchmark's connections (found by their ``application_name``), read from
``/proc``, so the figure does not depend on how much of the shared machine the run got.

Usage: .venv/bin/python benchmarks/checks_bench.py --database-url postgresql://postgres@127.0.0.1:5432/DB
       [--modes direct,http] [--threads 8] [--seconds 20] [--subscribers 2000] [--workers 2] [--batch-wait-ms 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import sqlalchemy as sa

from proc_cpu import own_cpu_seconds, process_cpu_seconds
from realname.adapters.http.checks_api import parse_check
from realname.adapters.storage.database import normalise_url
from realname.adapters.storage.unit_of_work import SqlUnitOfWork
from realname.app.actors import OPERATOR_CLI, Actor
from realname.app.relying_party_checks import NewPartyCredential
from realname.bootstrap import Container
from realname.config import CheckSettings, Settings
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from realname.domain.relying_parties import CheckKind, SignedRequest, name_index_key, normalise_name, sign_request
from realname.domain.subscribers import BlindIndex

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"


def resident_id(serial: int) -> str:
    body = f"110105{19600101 + (serial % 28) + 100 * (serial // 28 % 12) + 10000 * (serial // 336 % 40)}{serial % 1000:03d}"
    total = sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def person(i: int) -> tuple[str, str, str]:
    """(number, ID number, name) of subscriber ``i``."""
    rng = random.Random(i)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
    return f"1390{i:07d}", resident_id(i), name


@dataclass
class World:
    container: Container
    settings: Settings
    credential: NewPartyCredential
    subscribers: int
    opened: str


APPLICATION_NAME = "checks-bench"


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the server's worker processes)."""
    found, todo = [], [pid]
    while todo:
        one = todo.pop()
        found.append(one)
        for task in Path(f"/proc/{one}/task").glob("*"):
            try:
                todo.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL backends of the benchmark's connections (any schema: one benchmark at a time)."""
    admin = sa.create_engine(normalise_url(database_url))
    try:
        with admin.connect() as c:
            rows = c.execute(
                sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": APPLICATION_NAME}
            )
            return [int(r[0]) for r in rows]
    finally:
        admin.dispose()


class CpuMeter:
    """CPU seconds spent by this process, by extra processes and by the benchmark's PostgreSQL backends."""

    def __init__(self, database_url: str, processes: Callable[[], list[int]] = list) -> None:
        self._url = database_url
        self._processes = processes
        self._before: tuple[float, dict[int, float], dict[int, float]] = (0.0, {}, {})

    def _sample(self) -> tuple[float, dict[int, float], dict[int, float]]:
        return (
            own_cpu_seconds(),
            {pid: process_cpu_seconds(pid) for pid in self._processes()},
            {pid: process_cpu_seconds(pid) for pid in backend_pids(self._url)},
        )

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> dict[str, float]:
        own, procs, backends = self._sample()
        own0, procs0, backends0 = self._before
        return {
            "client": own - own0,
            "server": sum(v - procs0.get(pid, 0.0) for pid, v in procs.items()),
            # A backend started during the run counts from 0 (its start-up included).
            "postgres": sum(v - backends0.get(pid, 0.0) for pid, v in backends.items()),
        }


def set_up(
    database_url: str,
    schema: str,
    data_dir: Path,
    subscribers: int,
    batch_wait_ms: float = 5.0,
    batch_running: int = 1,
) -> World:
    admin = sa.create_engine(normalise_url(database_url))
    with admin.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}&application_name={APPLICATION_NAME}"
    settings = Settings(
        env="test",
        data_dir=data_dir,
        database_url=url,
        models_dir=REPO / "var" / "models",
        log_level="WARNING",
        checks=CheckSettings(
            max_numbers_per_id=1000, max_ids_per_number=1000, batch_wait_ms=batch_wait_ms, batch_running=batch_running
        ),
    )
    container = Container(settings)
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    people = [person(i) for i in range(subscribers)]
    registry.import_numbers(OPERATOR_CLI, [Msisdn(p[0]) for p in people], source="bench")
    clerk = Actor("staff:bench", Role.CLERK, "BJ-001")
    started = time.perf_counter()
    for i, (number, id_number, _name) in enumerate(people):
        registry.assign_number(
            clerk,
            msisdn=Msisdn(number),
            attempt_id=f"bench-{i}",
            id_index=BlindIndex(container.blind_indexer.index(id_number)),
            iccid=f"898600{i:013d}",
            outlet_code="BJ-001",
        )
    with SqlUnitOfWork(container.engine) as uow:
        for _number, id_number, name in people:
            found = uow.subscribers.find(BlindIndex(container.blind_indexer.index(id_number)))
            assert found is not None
            key = name_index_key(found.id, normalise_name(name))
            uow.subscribers.set_name(found.id, b"-", container.blind_indexer.index(key))
        uow.commit()
    print(f"set up {subscribers} subscribers in {time.perf_counter() - started:.1f} s", flush=True)
    credential = container.party_admin().add(
        OPERATOR_CLI,
        party_id="bench-bank",
        name="Bench Bank",
        purpose="benchmark",
        kinds=frozenset(CheckKind),
        daily_quota=10_000_000,
        per_minute_limit=10_000_000,
        contact="bench@example.com",
    )
    opened = datetime.now(UTC).date().isoformat()  # held since today: a match
    return World(container, settings, credential, subscribers, opened)


def body_for(world: World, rng: random.Random) -> bytes:
    number, id_number, name = person(rng.randrange(world.subscribers))
    consent = {"reference": "bench-consent-1", "given_at": datetime.now(UTC).isoformat()}
    roll = rng.random()
    if roll < 0.5:
        check: dict[str, Any] = {"kind": "three_element", "number": number, "id_number": id_number, "name": name}
    elif roll < 0.75:
        check = {"kind": "two_element", "number": number, "id_number": id_number}
    elif roll < 0.9:
        check = {"kind": "status", "number": number}
    else:
        check = {"kind": "held_since", "number": number, "since": world.opened}
    return json.dumps({**check, "consent": consent}, ensure_ascii=False).encode()


def headers_for(credential: NewPartyCredential, body: bytes) -> dict[str, str]:
    ts, nonce = str(int(time.time())), secrets.token_urlsafe(16)
    signature = sign_request(credential.secret.encode(), "POST", "/v1/checks", ts, nonce, body)
    return {
        "Content-Type": "application/json",
        "X-Realname-Party": credential.party_id,
        "X-Realname-Timestamp": ts,
        "X-Realname-Nonce": nonce,
        "X-Realname-Signature": signature,
    }


def run_load(threads: int, seconds: float, one: Callable[[random.Random], str], meter: CpuMeter) -> dict[str, Any]:
    latencies: list[list[float]] = [[] for _ in range(threads)]
    results: list[dict[str, int]] = [{} for _ in range(threads)]
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        rng = random.Random(k)
        while time.perf_counter() < stop:
            began = time.perf_counter()
            result = one(rng)
            latencies[k].append(time.perf_counter() - began)
            results[k][result] = results[k].get(result, 0) + 1

    load_before = os.getloadavg()[0]
    meter.start()
    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started
    cpu = meter.stop()
    every = sorted(x for part in latencies for x in part)
    counts: dict[str, int] = {}
    for part in results:
        for key, value in part.items():
            counts[key] = counts.get(key, 0) + value
    return {
        "checks": len(every),
        "checks_per_s": round(len(every) / wall, 1),
        "p50_ms": round(statistics.quantiles(every, n=100)[49] * 1000, 1),
        "p99_ms": round(statistics.quantiles(every, n=100)[98] * 1000, 1),
        "results": counts,
        "cpu_ms_per_check": {k: round(v / max(1, len(every)) * 1000, 2) for k, v in cpu.items()},
        "cpu_ms_per_check_total": round(sum(cpu.values()) / max(1, len(every)) * 1000, 2),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "threads": threads,
        "seconds": round(wall, 1),
    }


def signed_check(world: World, rng: random.Random) -> SignedRequest:
    """A check as the HTTP layer hands it to the use case: the body and its signature, unparsed."""
    body = body_for(world, rng)
    h = headers_for(world.credential, body)
    return SignedRequest(
        h["X-Realname-Party"],
        h["X-Realname-Timestamp"],
        h["X-Realname-Nonce"],
        h["X-Realname-Signature"],
        "POST",
        "/v1/checks",
        body,
    )


def direct(world: World, threads: int, seconds: float) -> dict[str, Any]:
    checks = world.container.check_services().answering

    def one(rng: random.Random) -> str:
        return checks.check(signed_check(world, rng), parse_check).result.value

    commits = [0]

    def count(_connection: Any) -> None:
        commits[0] += 1  # a lost increment under the GIL only understates the count

    sa.event.listen(world.container.engine, "commit", count)
    try:
        result = run_load(threads, seconds, one, CpuMeter(str(world.settings.database_url).split("?")[0]))
    finally:
        sa.event.remove(world.container.engine, "commit", count)
    result["commits_per_check"] = round(commits[0] / max(1, result["checks"]), 3)
    result["batch_wait_ms"] = world.settings.checks.batch_wait_ms
    result["batch_running"] = world.settings.checks.batch_running
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http(world: World, threads: int, seconds: float, workers: int) -> dict[str, Any]:
    port = _free_port()
    env = {
        **os.environ,
        "REALNAME_ENV": "test",
        "REALNAME_DATA_DIR": str(world.settings.data_dir),
        "REALNAME_DATABASE_URL": str(world.settings.database_url),
        "REALNAME_MODELS_DIR": str(world.settings.resolved_models_dir),
        "REALNAME_LOG_LEVEL": "WARNING",
        "REALNAME_CHECKS__MAX_NUMBERS_PER_ID": "1000",
        "REALNAME_CHECKS__MAX_IDS_PER_NUMBER": "1000",
        "REALNAME_CHECKS__BATCH_WAIT_MS": str(world.settings.checks.batch_wait_ms),
        "REALNAME_CHECKS__BATCH_RUNNING": str(world.settings.checks.batch_running),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "realname.entrypoints.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise SystemExit("the server did not start")
        clients = threading.local()

        def one(rng: random.Random) -> str:
            if not hasattr(clients, "client"):
                clients.client = httpx.Client(base_url=base, timeout=30)
            body = body_for(world, rng)
            response = clients.client.post("/v1/checks", content=body, headers=headers_for(world.credential, body))
            return str(response.json().get("result", response.json().get("code")))

        meter = CpuMeter(str(world.settings.database_url).split("?")[0], lambda: process_tree(server.pid))
        result = run_load(threads, seconds, one, meter)
        result["workers"] = workers
        return result
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def scratch_schema(database_url: str, schema_prefix: str, folder_prefix: str) -> Iterator[tuple[str, Path]]:
    """A new schema's name and a temporary data folder; the schema dropped and the folder removed afterwards."""
    schema = f"{schema_prefix}_{secrets.token_hex(4)}"
    data_dir = Path(tempfile.mkdtemp(prefix=folder_prefix)) / "data"
    try:
        yield schema, data_dir
    finally:
        admin = sa.create_engine(normalise_url(database_url))
        with admin.begin() as c:
            c.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        admin.dispose()
        shutil.rmtree(data_dir.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("REALNAME_TEST_POSTGRES_URL", ""))
    parser.add_argument("--modes", default="direct,http")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--subscribers", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--batch-wait-ms", type=float, default=5.0, help="group commit's wait for company (0: each check commits alone)"
    )
    parser.add_argument("--batch-running", type=int, default=1, help="batches side by side before a check waits")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "checks.json")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        raise SystemExit("give --database-url postgresql://… (or set REALNAME_TEST_POSTGRES_URL)")
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "cpus": os.cpu_count()}
    with scratch_schema(args.database_url, "bench", "checks-bench-") as (schema, data_dir):
        world = set_up(args.database_url, schema, data_dir, args.subscribers, args.batch_wait_ms, args.batch_running)
        for mode in args.modes.split(","):
            if mode == "direct":
                report["direct"] = direct(world, args.threads, args.seconds)
            elif mode == "http":
                report["http"] = http(world, args.threads, args.seconds, args.workers)
            print(json.dumps({mode: report.get(mode)}, ensure_ascii=False), flush=True)
        world.container.engine.dispose()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
