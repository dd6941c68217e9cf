"""TaskQueue: tasks that add tasks, several threads, and the first failure handed to the caller."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from realname.adapters.vision.task_queue import TaskQueue


def test_tasks_added_by_tasks_all_run_before_work_returns() -> None:
    queue = TaskQueue()
    done: list[int] = []
    lock = threading.Lock()

    def leaf(value: int) -> None:
        with lock:
            done.append(value)

    def parent(start: int) -> None:
        for value in range(start, start + 5):
            queue.add(functools.partial(leaf, value))

    for start in (0, 100, 200):
        queue.add(functools.partial(parent, start))
    with ThreadPoolExecutor(max_workers=2) as pool:
        for _ in range(2):
            pool.submit(queue.work)
        queue.work()
        # work() returned on the caller's thread: every task is finished, whichever thread ran it
        assert sorted(done) == [*range(5), *range(100, 105), *range(200, 205)]
    queue.raise_failure()


def test_a_late_thread_finds_nothing_to_do() -> None:
    queue = TaskQueue()
    ran: list[str] = []
    queue.add(lambda: ran.append("only"))
    queue.work()
    queue.work()
    assert ran == ["only"]


def test_the_first_failure_stops_the_queue_and_is_raised() -> None:
    queue = TaskQueue()
    ran: list[str] = []

    def fail() -> None:
        raise ValueError("degenerate")

    queue.add(fail)
    queue.add(lambda: ran.append("after"))
    queue.work()
    assert ran == []
    with pytest.raises(ValueError, match="degenerate"):
        queue.raise_failure()


def test_a_waiting_thread_is_released_when_another_thread_fails() -> None:
    queue = TaskQueue()
    started = threading.Event()

    def slow_failure() -> None:
        started.set()
        raise RuntimeError("model failed")

    queue.add(slow_failure)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(queue.work)
        started.wait(timeout=5)
        queue.work()  # returns: the only task failed
        running.result(timeout=5)
    with pytest.raises(RuntimeError, match="model failed"):
        queue.raise_failure()
