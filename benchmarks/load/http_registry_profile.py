"""Server CPU per registration through HTTP, in one process, and where it goes (cProfile of the server's threads).

    PYTHONPATH=src:benchmarks/load .venv/bin/python benchmarks/load/http_registry_profile.py
        [--database-url URL] [--registrations 60] [--warm-up 10] [--cprofile OUT.pstats]

The app of ``http_registry.py`` (``fake_engine_app``: real app and use cases, approving fakes for liveness and
matching) behind Starlette's TestClient, one clerk registering numbers one after the other (the same 7 requests as
``http_registry.py``), after ``--warm-up`` registrations. The client runs in the main thread and the server in the
others (the event loop's thread and the thread pools), so **server CPU** = the CPU of every thread but the main one
(``/proc/self/task``), without start-up, sign-in, or another process's noise. ``--cprofile`` profiles the server's
threads (thread CPU as the timer) during the measured registrations only. The SQL statements and commits of the
measured registrations are counted too (SQLAlchemy's cursor events, every engine of the process; BEGIN is not a
statement there); ``--statements`` prints them by text, most frequent first. On PostgreSQL (local) the CPU of the
backends serving the process's connections is reported too (``postgres_cpu_ms_per_registration``).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fake_engine_app import build_app
from fastapi.testclient import TestClient
from http_registry import register, set_up

from proc_cpu import processes_cpu_seconds, thread_cpu_seconds


class StatementCounter:
    """Counts the SQL statements and commits of every engine in the process while on, and remembers the
    PostgreSQL backend of every connection the process opens (their CPU is the database's share)."""

    def __init__(self) -> None:
        self.by_text: Counter[str] = Counter()
        self.commits = 0
        self.on = False
        self.backends: set[int] = set()
        sa.event.listen(sa.Engine, "before_cursor_execute", self._statement)
        sa.event.listen(sa.Engine, "commit", self._commit)
        sa.event.listen(sa.pool.Pool, "connect", self._connect)

    def _connect(self, dbapi_connection: Any, _record: Any) -> None:
        pid = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)
        if isinstance(pid, int):
            self.backends.add(pid)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.on:
            self.by_text[" ".join(statement.split())[:110]] += 1

    def _commit(self, *_: Any) -> None:
        if self.on:
            self.commits += 1


class ServerProfiles:
    """A cProfile per server thread, switched on and off together (the main thread, the client, is left out)."""

    def __init__(self) -> None:
        self._profiles: dict[int, cProfile.Profile] = {}
        self._lock = threading.Lock()
        self.on = False

    def hook(self, *_: Any) -> None:
        """Installed with ``threading.setprofile`` in every new thread: once profiling is on, the thread's next
        event replaces this hook with the thread's own cProfile."""
        if not self.on:
            return
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self._profiles[threading.get_ident()] = profile
        profile.enable()

    def dump(self, out: Path) -> None:
        with self._lock:
            profiles = list(self._profiles.values())
        stats: pstats.Stats | None = None
        for profile in profiles:
            profile.create_stats()
            if stats is None:
                stats = pstats.Stats(profile)
            else:
                stats.add(profile)
        if stats is not None:
            stats.dump_stats(str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--registrations", type=int, default=60)
    parser.add_argument("--warm-up", type=int, default=10)
    parser.add_argument("--cprofile", type=Path, default=None)
    parser.add_argument("--statements", action="store_true", help="print the statements by text")
    args = parser.parse_args()
    total = args.registrations + args.warm_up
    with tempfile.TemporaryDirectory() as folder:
        world = set_up(args.database_url, Path(folder), 1, total + 10)
        os.environ.update(world.env)
        profiles = ServerProfiles()
        statements = StatementCounter()
        if args.cprofile:
            # Every thread started from here on is a server thread (the event loop's portal, the thread pools).
            threading.setprofile(profiles.hook)
        with TestClient(build_app(), raise_server_exceptions=False) as http:
            staff_code, password = world.clerks[0]
            token = http.post("/v1/auth/token", json={"staff_code": staff_code, "password": password}).json()
            clerk = {"Authorization": f"Bearer {token['token']}"}
            for serial in range(args.warm_up):
                register(http, world, clerk, serial)
            main_id = threading.get_native_id()
            load_before = os.getloadavg()[0]
            before = thread_cpu_seconds()
            database_before = processes_cpu_seconds(statements.backends)
            profiles.on = args.cprofile is not None
            statements.on = True
            started = time.perf_counter()
            for serial in range(args.warm_up, total):
                register(http, world, clerk, serial)
            wall = time.perf_counter() - started
            after = thread_cpu_seconds()
            statements.on = False
            database = processes_cpu_seconds(statements.backends)
        if args.cprofile:
            threading.setprofile(None)
            profiles.dump(args.cprofile)
    server = sum(cpu - before.get(tid, 0.0) for tid, cpu in after.items() if tid != main_id)
    client = after.get(main_id, 0.0) - before.get(main_id, 0.0)
    result = {
        "database": "postgresql" if args.database_url else "sqlite",
        "registrations": args.registrations,
        "server_cpu_ms_per_registration": round(1000 * server / args.registrations, 1),
        "client_cpu_ms_per_registration": round(1000 * client / args.registrations, 1),
        # A backend opened during the measured registrations counts from 0 (its start-up included).
        "postgres_cpu_ms_per_registration": round(
            1000 * sum(cpu - database_before.get(pid, 0.0) for pid, cpu in database.items()) / args.registrations, 1
        )
        if args.database_url
        else None,
        "wall_ms_per_registration": round(1000 * wall / args.registrations, 1),
        "statements_per_registration": round(sum(statements.by_text.values()) / args.registrations, 2),
        "commits_per_registration": round(statements.commits / args.registrations, 2),
        "profiled": args.cprofile is not None,
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if args.statements:
        for text, count in statements.by_text.most_common():
            print(f"{count / args.registrations:6.2f}  {text}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
