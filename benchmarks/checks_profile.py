"""Where one relying-party check spends its time, on PostgreSQL: single-threaded checks through the use case
(as ``checks_bench.py --modes direct --threads 1``), with every SQL statement timed by SQLAlchemy's cursor events
(grouped by the statement's first words and table) and a cProfile of the whole run.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/checks_profile.py --database-url postgresql://…/DB
       [--checks 300] [--subscribers 300] [--top 25] [--cpu]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from checks_bench import scratch_schema, set_up, signed_check
from realname.adapters.http.checks_api import parse_check


def _statement_name(statement: str) -> str:
    words = " ".join(statement.split())
    match = re.match(r"(WITH \w+ AS \(\s*)?(\w+)\s+.*?\b(?:FROM|INTO|UPDATE)\s+(\w+)", words, re.IGNORECASE)
    if words.upper().startswith("UPDATE"):
        return "UPDATE " + words.split()[1]
    return f"{match.group(2).upper()} {match.group(3)}" if match else words[:40]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("REALNAME_TEST_POSTGRES_URL", ""))
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--cpu", action="store_true", help="profile CPU time (time.process_time), not wall time: waits vanish"
    )
    args = parser.parse_args()
    with scratch_schema(args.database_url, "prof", "checks-profile-") as (schema, data_dir):
        world = set_up(args.database_url, schema, data_dir, args.subscribers)
        checks = world.container.check_services().checks
        timings: dict[str, list[float]] = defaultdict(list)
        started: dict[int, float] = {}

        @sa.event.listens_for(world.container.engine, "before_cursor_execute")
        def _before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            started[id(cursor)] = time.perf_counter()

        @sa.event.listens_for(world.container.engine, "after_cursor_execute")
        def _after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            timings[_statement_name(statement)].append(time.perf_counter() - started.pop(id(cursor)))

        rng = random.Random(7)
        requests = [signed_check(world, rng) for _ in range(args.checks)]
        for signed in requests[:20]:  # warm up: prepared statements, caches
            checks.check(signed, parse_check)
        timings.clear()
        profile = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
        began = time.perf_counter()
        cpu_began = time.process_time()
        per_check: list[float] = []
        profile.enable()
        for signed in requests[20:]:
            one = time.perf_counter()
            checks.check(signed, parse_check)
            per_check.append(time.perf_counter() - one)
        profile.disable()
        wall = time.perf_counter() - began
        cpu = time.process_time() - cpu_began
        n = len(per_check)
        print(
            f"{n} checks, {wall / n * 1000:.2f} ms each, {cpu / n * 1000:.2f} ms CPU of this process each "
            f"(cProfile on), load {os.getloadavg()[0]:.2f}"
        )
        total_sql = 0.0
        print(f"{'statement':44} {'per check':>9} {'ms each':>8}")
        for name, values in sorted(timings.items(), key=lambda kv: -sum(kv[1])):
            total_sql += sum(values)
            print(f"{name[:44]:44} {len(values) / n:9.2f} {sum(values) / len(values) * 1000:8.3f}")
        statements = sum(len(v) for v in timings.values()) / n
        print(f"SQL statements per check {statements:.2f}, {total_sql / n * 1000:.2f} ms of SQL per check")
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats("cumulative")
        stats.print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)  # where the CPU goes (own time, waits included)
        stats.print_callers(r"elements.py:\d+\(_compiler\)")  # statements compiled afresh (not cached)
        print(out.getvalue())
        world.container.engine.dispose()


if __name__ == "__main__":
    main()
