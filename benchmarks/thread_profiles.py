"""cProfile in every thread of a benchmark's process, each timed by its own CPU (``time.thread_time``), merged.

Used by ``stream_profile.py`` and ``load/profiled_server.py``: waiting (for a lock, the database, the next request)
costs nothing, so the merged statistics show where the process's CPU goes.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def profiled_threads(out: Path | None) -> Iterator[None]:
    """cProfile in every thread started from now on, and in this one; merged into ``out`` at the end (nothing is
    profiled when ``out`` is None)."""
    if out is None:
        yield
        return
    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def start_in_thread(*_: Any) -> None:
        sys.setprofile(None)
        profile = cProfile.Profile(time.thread_time)
        with lock:
            profiles.append(profile)
        profile.enable()

    main = cProfile.Profile(time.thread_time)
    threading.setprofile(start_in_thread)
    main.enable()
    try:
        yield
    finally:
        main.disable()
        threading.setprofile(None)
        stats = pstats.Stats(main)
        with lock:
            for profile in profiles:
                profile.create_stats()
                stats.add(profile)
        stats.dump_stats(str(out))
