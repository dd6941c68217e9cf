"""What the per-request staff check costs: ``StaffAuth.actor_for`` (token verified, then the member joined with the
sign-in in one primary-key read, the last activity written when older than 15 s) against verifying the token alone
(what every request did before the check).

    .venv/bin/python benchmarks/staff_session_bench.py [--database-url postgresql+psycopg://…] [--calls 2000]

Without ``--database-url`` a SQLite database in a temporary folder is used. Prints one JSON object.
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
    for _ in range(calls):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1e6)
    samples.sort()
    return {
        "median_us": round(statistics.median(samples), 1),
        "p95_us": round(samples[int(0.95 * len(samples)) - 1], 1),
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
            issuer, clock = container.token_issuer, container.clock
            for _ in range(50):  # warm the connection pool and the statement caches
                auth.actor_for(token)
            result = {
                "database": container.engine.dialect.name,
                "calls": args.calls,
                "token_only": timed(args.calls, lambda: issuer.verify(token, clock.now())),
                "actor_for": timed(args.calls, lambda: auth.actor_for(token)),
            }
        finally:
            container.engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
