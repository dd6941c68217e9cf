"""TaskQueue: tasks that add tasks, several threads, and the first failure handed to the caller."""

from __future__ import annotations

import functools
import threading
import time
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
    taken, go = threading.Event(), threading.Event()

    def failing() -> None:
        taken.set()
        go.wait(timeout=5)
        raise RuntimeError("model failed")

    queue.add(failing)
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = pool.submit(queue.work)
        assert taken.wait(timeout=5)
        waiting = pool.submit(queue.work)  # no task left, but one is unfinished: it waits
        time.sleep(0.05)
        assert not waiting.done()
        go.set()
        waiting.result(timeout=5)
        running.result(timeout=5)
    with pytest.raises(RuntimeError, match="model failed"):
        queue.raise_failure()


def test_a_waiting_thread_returns_only_when_the_tasks_a_running_task_adds_are_done() -> None:
    queue = TaskQueue()
    taken, go = threading.Event(), threading.Event()
    ran_on: list[str] = []

    def parent() -> None:
        taken.set()
        go.wait(timeout=5)
        queue.add(lambda: ran_on.append(threading.current_thread().name))

    queue.add(parent)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parent") as parent_pool:
        running = parent_pool.submit(queue.work)
        assert taken.wait(timeout=5)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="helper") as helper_pool:
            waiting = helper_pool.submit(queue.work)
            time.sleep(0.05)
            assert not waiting.done()
            go.set()
            waiting.result(timeout=5)
            assert len(ran_on) == 1  # the added task ran (on either thread) before work() returned
        running.result(timeout=5)
    queue.raise_failure()
