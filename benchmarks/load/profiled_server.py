"""The registry benchmark's server in one process under cProfile, every thread profiled with its own CPU time.

    python benchmarks/load/profiled_server.py OUT.pstats PORT

Run by ``http_registry.py --profile-server OUT.pstats`` (one worker) in place of ``uvicorn --workers N``: the same
app (``fake_engine_app:build_app``, same environment), served by uvicorn in this process. Each thread (the event
loop, the thread pool of sync routes and dependencies, the inference pool) gets its own ``cProfile.Profile`` timed by
``time.thread_time`` (``benchmarks/thread_profiles.py``), so waiting (for the database, a lock, the next request)
costs nothing and the merged statistics show where the server's CPU goes. Written when the server stops (SIGTERM or
SIGINT).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from thread_profiles import profiled_threads


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    out, port = Path(sys.argv[1]), int(sys.argv[2])
    # uvicorn re-raises the signal that stopped it once it has shut down: end here, so the statistics get written.
    signal.signal(signal.SIGTERM, _stop)
    with profiled_threads(out):
        uvicorn.run(
            "fake_engine_app:build_app",
            factory=True,
            host="127.0.0.1",
            port=port,
            access_log=False,
            log_level="warning",
        )


if __name__ == "__main__":
    main()
