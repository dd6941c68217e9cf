"""``GroupCommit``: who waits for whom, what a batch holds, and how a failure reaches every member."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from realname.app.check_batches import GroupCommit
from realname.domain.errors import DependencyUnavailable

WAIT_LONG = 10.0
"""Longer than any test: a test that waited this long for company would fail on its time limit."""


class HeldRuns:
    """A batch runner that records each batch and holds the first one until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()
        self.fail_with: Exception | None = None

    def __call__(self, items: Sequence[str]) -> list[str]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_started.set()
            assert self.release_first.wait(WAIT_LONG)
        if self.fail_with is not None:
            raise self.fail_with
        return [item.upper() for item in items]


def submit_in_thread(batches: GroupCommit[str, str], item: str, into: dict[str, object]) -> threading.Thread:
    def go() -> None:
        try:
            into[item] = batches.submit(item)
        except Exception as exc:
            into[item] = exc

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_lone_item_runs_at_once_without_waiting_for_company() -> None:
    runs = HeldRuns()
    runs.release_first.set()
    batches = GroupCommit(runs, max_wait_seconds=WAIT_LONG, max_batch=8)
    started = time.monotonic()
    assert batches.submit("a") == "A"
    assert time.monotonic() - started < WAIT_LONG / 2
    assert runs.batches == [["a"]]


def test_items_arriving_while_a_batch_runs_share_the_next_batch() -> None:
    runs = HeldRuns()
    batches = GroupCommit(runs, max_wait_seconds=WAIT_LONG, max_batch=8)
    outcomes: dict[str, object] = {}
    first = submit_in_thread(batches, "a", outcomes)
    assert runs.first_started.wait(5)
    later = [submit_in_thread(batches, item, outcomes) for item in ("b", "c", "d")]
    wait_until(lambda: len(batches._open.items) == 3 if batches._open else False)
    runs.release_first.set()  # the running batch ends: the waiting one goes without waiting any longer
    for thread in (first, *later):
        thread.join(5)
    assert outcomes == {"a": "A", "b": "B", "c": "C", "d": "D"}
    assert runs.batches[0] == ["a"] and sorted(runs.batches[1]) == ["b", "c", "d"] and len(runs.batches) == 2


def test_a_full_batch_goes_without_waiting_for_the_running_one() -> None:
    runs = HeldRuns()
    batches = GroupCommit(runs, max_wait_seconds=WAIT_LONG, max_batch=2)
    outcomes: dict[str, object] = {}
    first = submit_in_thread(batches, "a", outcomes)
    assert runs.first_started.wait(5)
    pair = [submit_in_thread(batches, item, outcomes) for item in ("b", "c")]
    for thread in pair:
        thread.join(5)
    assert (outcomes.get("b"), outcomes.get("c")) == ("B", "C")  # while "a" is still held
    runs.release_first.set()
    first.join(5)
    assert outcomes["a"] == "A"


def test_the_wait_for_company_is_bounded() -> None:
    runs = HeldRuns()
    batches = GroupCommit(runs, max_wait_seconds=0.05, max_batch=8)
    outcomes: dict[str, object] = {}
    first = submit_in_thread(batches, "a", outcomes)
    assert runs.first_started.wait(5)
    second = submit_in_thread(batches, "b", outcomes)
    second.join(5)
    assert outcomes.get("b") == "B"  # ran beside the held batch once its wait was over
    runs.release_first.set()
    first.join(5)


def test_a_failed_batch_fails_every_member_each_with_its_own_error() -> None:
    runs = HeldRuns()
    runs.release_first.set()
    runs.fail_with = DependencyUnavailable("the database is unavailable", code="database.unavailable")
    batches = GroupCommit(runs, max_wait_seconds=WAIT_LONG, max_batch=3)
    outcomes: dict[str, object] = {}
    threads = [submit_in_thread(batches, item, outcomes) for item in ("a", "b", "c")]
    for thread in threads:
        thread.join(5)
    errors = [outcomes[item] for item in ("a", "b", "c")]
    assert all(isinstance(e, DependencyUnavailable) and e.code == "database.unavailable" for e in errors)
    assert len({id(e) for e in errors}) == 3
    assert all(isinstance(e, Exception) and e.__cause__ is runs.fail_with for e in errors)


def test_a_runner_must_answer_every_item() -> None:
    batches: GroupCommit[str, str] = GroupCommit(lambda items: [], max_wait_seconds=0, max_batch=4)
    with pytest.raises(RuntimeError):
        batches.submit("a")


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        GroupCommit(lambda items: items, max_wait_seconds=-1, max_batch=4)
    with pytest.raises(ValueError):
        GroupCommit(lambda items: items, max_wait_seconds=0, max_batch=0)
    with pytest.raises(ValueError):
        GroupCommit(lambda items: items, max_wait_seconds=0, max_batch=4, max_running=0)


def test_with_room_for_more_running_batches_an_item_does_not_wait_for_company() -> None:
    runs = HeldRuns()
    batches = GroupCommit(runs, max_wait_seconds=WAIT_LONG, max_batch=8, max_running=2)
    outcomes: dict[str, object] = {}
    first = submit_in_thread(batches, "a", outcomes)
    assert runs.first_started.wait(5)
    second = submit_in_thread(batches, "b", outcomes)
    second.join(5)
    assert outcomes.get("b") == "B"  # ran beside the held batch at once: one more batch may run
    runs.release_first.set()
    first.join(5)
    assert runs.batches == [["a"], ["b"]]
