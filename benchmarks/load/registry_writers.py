"""Concurrent registry writers on PostgreSQL: registrations per second through the use case.

Sets up a fresh schema in the given database (dropped afterwards) with a real key file and the migrations,
one outlet and ``--numbers`` numbers, then for each writer count runs that many threads for ``--seconds``,
each registering numbers through ``Registry.assign_number`` (quota slot, number ACTIVE, binding, audit event;
one transaction each), every registration for a new ID and a number no other writer picks. While it runs, a
sampler reads ``pg_stat_activity`` every 50 ms and counts the writers waiting on a lock, by the statement
they wait in, so the serialisation point shows. Each run also reports the SQL statements and commits per
registration (SQLAlchemy's cursor events, so BEGIN is not counted) and the CPU per registration, read from
``/proc``: this process (the writer threads: use case, SQLAlchemy, driver) and the PostgreSQL backends of its
connections (found by ``application_name``), so the figure does not depend on the share of the machine a run got.

``--processes``: the writers are that many processes (one thread each, their own engine and pool) instead of
threads of this one, so one interpreter's lock does not cap the writers; their CPU is read from their own
``os.times`` and the lock sampler stays here.

Runs on whatever ``realname`` is on ``PYTHONPATH`` (so the same script measures an older checkout too).

Usage: PYTHONPATH=src nice -n 15 .venv/bin/python benchmarks/load/registry_writers.py \
           --database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB [--writers 2,4,8] [--seconds 10] \
           [--processes]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proc_cpu import own_cpu_seconds, process_cpu_seconds
from realname.adapters.storage.database import normalise_url
from realname.app.actors import OPERATOR_CLI, Actor
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.numbers import Msisdn
from realname.domain.organisation import Role
from realname.domain.subscribers import BlindIndex

REPO = Path(__file__).resolve().parents[2]
CLERK = Actor("staff:bench", Role.CLERK, "BJ-001")
APPLICATION_NAME = "registry-writers-bench"


def bench_settings(database_url: str, schema: str, data_dir: Path) -> Settings:
    separator = "&" if "?" in database_url else "?"
    url = f"{database_url}{separator}options={quote(f'-csearch_path={schema}')}&application_name={APPLICATION_NAME}"
    return Settings(env="test", data_dir=data_dir, database_url=url, models_dir=REPO / "var" / "models")


def set_up(database_url: str, schema: str, data_dir: Path, numbers: int) -> Container:
    admin = sa.create_engine(normalise_url(database_url))
    with admin.begin() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    container = Container(bench_settings(database_url, schema, data_dir))
    container.initialise()
    registry = container.registry()
    registry.add_outlet(OPERATOR_CLI, "BJ-001", "Beijing Xidan")
    registry.import_numbers(OPERATOR_CLI, [Msisdn(f"1390{i:07d}") for i in range(numbers)], source="bench")
    return container


def sample_lock_waits(engine: sa.Engine, stop: threading.Event, waits: Counter[str], samples: list[int]) -> None:
    query = sa.text(
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    with engine.connect() as c:
        while not stop.is_set():
            rows = c.execute(query).scalars().all()
            c.commit()
            samples.append(len(rows))
            waits.update(rows)
            time.sleep(0.05)


def backend_cpu_seconds(engine: sa.Engine) -> float:
    """User + system CPU of the PostgreSQL backends serving the writers' connections (local server only), asked
    on ``engine``, a connection of its own."""
    with engine.connect() as c:
        pids = c.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": APPLICATION_NAME},
        ).scalars()
        return sum(process_cpu_seconds(pid) for pid in pids)


def write_numbers(container: Container, first: int, count: int, stop_at: float) -> list[float]:
    """Register numbers ``first`` … ``first + count - 1`` (each for a new ID) until ``stop_at``
    (``time.perf_counter``); the latency of each."""
    registry = container.registry()
    indexer = container.blind_indexer
    latencies: list[float] = []
    for serial in range(first, first + count):
        if time.perf_counter() >= stop_at:
            break
        began = time.perf_counter()
        registry.assign_number(
            CLERK,
            msisdn=Msisdn(f"1390{serial:07d}"),
            attempt_id=f"bench-{serial}",
            id_index=BlindIndex(indexer.index(f"bench-id-{serial}")),
            iccid=f"898600{serial:013d}",
            outlet_code="BJ-001",
        )
        latencies.append(time.perf_counter() - began)
    return latencies


def count_statements(engine: sa.Engine) -> tuple[dict[str, int], Callable[[], None]]:
    """Counts of SQL statements and commits on ``engine`` from now on (a lost increment under the GIL only
    understates them), and what stops counting."""
    counts = {"statements": 0, "commits": 0}

    def count_statement(*_: Any) -> None:
        counts["statements"] += 1

    def count_commit(*_: Any) -> None:
        counts["commits"] += 1

    sa.event.listen(engine, "before_cursor_execute", count_statement)
    sa.event.listen(engine, "commit", count_commit)

    def stop() -> None:
        sa.event.remove(engine, "before_cursor_execute", count_statement)
        sa.event.remove(engine, "commit", count_commit)

    return counts, stop


def process_writer(
    database_url: str,
    schema: str,
    data_dir: str,
    first: int,
    count: int,
    seconds: float,
    barriers: tuple[Any, Any],
    results: Any,
) -> None:
    """One writer process (``--processes``): its own container and pool; waits at the first of ``barriers``
    (shared with the parent and the other writers), writes for ``seconds``, puts (latencies, counts, CPU seconds)
    on ``results`` and keeps its connection (its backend's CPU is read) until the parent passes the second."""
    ready, finished = barriers
    container = Container(bench_settings(database_url, schema, Path(data_dir)))
    container.engine.connect().close()  # the backend exists before the parent first reads the CPU
    counts, _ = count_statements(container.engine)
    ready.wait()
    cpu_before = own_cpu_seconds()
    latencies = write_numbers(container, first, count, time.perf_counter() + seconds)
    results.put((latencies, counts, own_cpu_seconds() - cpu_before))
    finished.wait()
    container.engine.dispose()


def run(
    container: Container,
    writers: int,
    seconds: float,
    first_number: int,
    per_writer: int,
    processes: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """``processes``: (database URL, schema, data folder) to run the writers as processes instead of threads."""
    stop = threading.Event()
    waits: Counter[str] = Counter()
    samples: list[int] = []
    # The sampler and the CPU reader use their own connection: neither is counted as a writer's.
    watcher = sa.create_engine(container.engine.url.update_query_dict({"application_name": "registry-watcher"}))
    sampler = threading.Thread(target=sample_lock_waits, args=(watcher, stop, waits, samples))
    # Open a connection per writer first, so that every writer's backend exists before the CPU is first read.
    opened = [container.engine.connect() for _ in range(writers)]
    for connection in opened:
        connection.close()
    latencies: list[list[float]] = []
    child_cpu = 0.0
    context = multiprocessing.get_context("spawn")
    ready, finished = (context.Barrier(writers + 1), context.Barrier(writers + 1)) if processes else (None, None)
    results = context.Queue() if processes else None
    children = (
        [
            context.Process(
                target=process_writer,
                args=(*processes, first_number + k * per_writer, per_writer, seconds, (ready, finished), results),
            )
            for k in range(writers)
        ]
        if processes is not None
        else []
    )
    for child in children:
        child.start()
    load_before = os.getloadavg()[0]
    counts, stop_counting = count_statements(container.engine)
    if ready is not None:
        ready.wait()  # every writer process is connected
    cpu_before = own_cpu_seconds(), backend_cpu_seconds(watcher)
    sampler.start()
    started = time.perf_counter()
    if results is not None:
        for _ in children:
            part, part_counts, part_cpu = results.get()
            latencies.append(part)
            counts["statements"] += part_counts["statements"]
            counts["commits"] += part_counts["commits"]
            child_cpu += part_cpu
    else:
        stop_at = started + seconds
        threads = [
            threading.Thread(
                target=lambda k: latencies.append(
                    write_numbers(container, first_number + k * per_writer, per_writer, stop_at)
                ),
                args=(k,),
            )
            for k in range(writers)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    stop_counting()
    own_cpu = own_cpu_seconds() - cpu_before[0] + child_cpu
    backend_cpu = backend_cpu_seconds(watcher) - cpu_before[1]
    if finished is not None:
        finished.wait()  # the writer processes may close their connections now
    for child in children:
        child.join()
    watcher.dispose()
    every = sorted(x for part in latencies for x in part)
    done = max(len(every), 1)
    cuts = statistics.quantiles(every, n=100)
    return {
        "writers": writers,
        "registrations": len(every),
        "per_s": round(len(every) / wall, 1),
        "p50_ms": round(cuts[49] * 1000, 1),
        "p95_ms": round(cuts[94] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "statements_per_registration": round(counts["statements"] / done, 2),
        "commits_per_registration": round(counts["commits"] / done, 3),
        "cpu_ms_per_registration": {
            "python": round(1000 * own_cpu / done, 2),
            "postgres": round(1000 * backend_cpu / done, 2),
            "total": round(1000 * (own_cpu + backend_cpu) / done, 2),
        },
        "mean_lock_waiters": round(sum(samples) / max(len(samples), 1), 2),
        "lock_waits_by_statement": dict(waits.most_common(3)),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--writers", default="2,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--numbers", type=int, default=40_000)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--processes", action="store_true", help="writers as processes, not threads")
    args = parser.parse_args()
    counts = [int(w) for w in args.writers.split(",")]
    schema = f"bench_{secrets.token_hex(4)}"
    results = []
    with tempfile.TemporaryDirectory() as data_dir:
        container = set_up(args.database_url, schema, Path(data_dir), args.numbers)
        try:
            first = 0
            share = args.numbers // len(counts)
            for writers in counts:
                processes = (args.database_url, schema, data_dir) if args.processes else None
                result = run(container, writers, args.seconds, first, share // writers, processes)
                result["mode"] = "processes" if args.processes else "threads"
                first += share
                print(json.dumps(result, ensure_ascii=False), flush=True)
                results.append(result)
        finally:
            container.engine.dispose()
            admin = sa.create_engine(normalise_url(args.database_url))
            with admin.begin() as c:
                c.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
