"""What the per-request staff check costs: ``StaffAuth.actor_for`` (token verified, then the member joined with the
sign-in in one primary-key read, the last activity written when older than 15 s; since the per-worker cache, only
when this worker has not found the sign-in usable in the last ``REALNAME_STAFF_CHECK_CACHE_SECONDS``) against
verifying the token alone, and a whole request's work without HTTP: the check, then a use case with its own unit of
work (the clerk's current visit).

    PYTHONPATH=src .venv/bin/python benchmarks/staff_session_bench.py [--database-url postgresql+psycopg://…]
        [--calls 2000]

Without ``--database-url`` a SQLite database in a temporary folder is used. Prints one JSON object: median and p95
wall time and the mean process CPU time per call, in µs. Runs against older code too (the cache time is then 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from realname.app.actors import OPERATOR_CLI
from realname.bootstrap import Container
from realname.config import Settings
from realname.domain.organisation import Role


def timed(calls: int, work: Callable[[], object]) -> dict[str, float]:
    samples = []
    cpu_start = time.process_time()
    for _ in range(calls):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1e6)
    cpu_us = (time.process_time() - cpu_start) * 1e6 / calls
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(0.95 * len(samples)) - 1], 1),
        "cpu_us": round(cpu_us, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        overrides = {"database_url": args.database_url} if args.database_url else {}
        settings = Settings(env="test", data_dir=Path(folder) / "data", **overrides)
        container = Container(settings)
        container.initialise()
        try:
            registry = container.registry()
            registry.add_outlet(OPERATOR_CLI, "BN-001", "Bench outlet")
            member = registry.add_staff(
                OPERATOR_CLI, "Bench Clerk", Role.CLERK, "BN-001", password_change_required=False
            )
            auth = container.staff_auth
            token = auth.sign_in(member.staff_code, member.password).token
            issuer, clock, visits = container.token_issuer, container.clock, container.visits

            def request() -> object:
                return visits.current(auth.actor_for(token), "bench-kiosk")

            for _ in range(50):  # warm the connection pool and the statement caches
                request()
            result = {
                "database": container.engine.dialect.name,
                "calls": args.calls,
                "cache_seconds": getattr(settings, "staff_check_cache_seconds", 0),
                "token_only": timed(args.calls, lambda: issuer.verify(token, clock.now())),
                "actor_for": timed(args.calls, lambda: auth.actor_for(token)),
                "request": timed(args.calls, request),
            }
        finally:
            container.engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
