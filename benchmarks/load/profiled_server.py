"""The registry benchmark's server in one process under cProfile, every thread profiled with its own CPU time.

    python benchmarks/load/profiled_server.py OUT.pstats PORT

Run by ``http_registry.py --profile-server OUT.pstats`` (one worker) in place of ``uvicorn --workers N``: the same
app (``fake_engine_app:build_app``, same environment), served by uvicorn in this process. Each thread (the event
loop, the thread pool of sync routes and dependencies, the inference pool) gets its own ``cProfile.Profile`` timed by
``time.thread_time``, so waiting (for the database, a lock, the next request) costs nothing and the merged
statistics show where the server's CPU goes. Written when the server stops (SIGTERM or SIGINT).
"""

from __future__ import annotations

import cProfile
import pstats
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> None:
    out, port = Path(sys.argv[1]), int(sys.argv[2])
    # uvicorn re-raises the signal that stopped it once it has shut down: end here, so the statistics get written.
    signal.signal(signal.SIGTERM, _stop)
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_in_thread(*_: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()

    threading.setprofile(start_in_thread)
    main_profile = cProfile.Profile(time.thread_time)
    main_profile.enable()
    try:
        uvicorn.run(
            "fake_engine_app:build_app",
            factory=True,
            host="127.0.0.1",
            port=port,
            access_log=False,
            log_level="warning",
        )
    finally:
        main_profile.disable()
        threading.setprofile(None)
        stats = pstats.Stats(main_profile)
        with lock:
            for profile in profiles:
                profile.create_stats()
                stats.add(profile)
        stats.dump_stats(str(out))


if __name__ == "__main__":
    main()
