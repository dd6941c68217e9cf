"""CPU seconds (user + system) as Linux accounts them: of this process, of any process by id (a server's workers, the
PostgreSQL backends of a local server) and of each thread of this process, read from ``/proc``. The benchmarks report
CPU per operation from these, so their figures do not depend on the share of the shared machine a run got."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """This process: every thread, not its children."""
    times = os.times()
    return times.user + times.system


def process_cpu_seconds(pid: int) -> float:
    """Process ``pid``, all its threads; 0 when it is gone."""
    seconds = _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
    return 0.0 if seconds is None else seconds


def processes_cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """Each process of ``pids`` that is still there, by id."""
    found: dict[int, float] = {}
    for pid in pids:
        seconds = _stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
        if seconds is not None:
            found[pid] = seconds
    return found


def thread_cpu_seconds() -> dict[int, float]:
    """Each live thread of this process, by native thread id (``threading.get_native_id``)."""
    found: dict[int, float] = {}
    for task in Path("/proc/self/task").iterdir():
        seconds = _stat_cpu_seconds(task / "stat")
        if seconds is not None:
            found[int(task.name)] = seconds
    return found


def _stat_cpu_seconds(stat: Path) -> float | None:
    """utime + stime of a ``/proc/…/stat`` file; None when its process or thread is gone. The fields are counted
    from the last ``)``: the command name before it may hold spaces and brackets."""
    try:
        raw = stat.read_text(encoding="ascii")
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
