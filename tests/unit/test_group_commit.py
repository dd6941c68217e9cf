"""``GroupCommit``: who waits for whom, what a batch holds, and how a failure reaches every member."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


@dataclass
class HeldFirst:
    """A ``GroupCommit`` whose first batch, item "a", is running and held until ``release``."""

    runs: HeldRuns
    batches: GroupCommit[str, str]
    outcomes: dict[str, object]
    first: threading.Thread

    def submit(self, item: str) -> threading.Thread:
        return submit_in_thread(self.batches, item, self.outcomes)

    def release(self) -> None:
        self.runs.release_first.set()
        self.first.join(5)


def hold_first(*, max_wait_seconds: float, max_batch: int, max_running: int = 1) -> HeldFirst:
    runs = HeldRuns()
    batches = GroupCommit(runs, max_wait_seconds=max_wait_seconds, max_batch=max_batch, max_running=max_running)
    outcomes: dict[str, object] = {}
    first = submit_in_thread(batches, "a", outcomes)
    assert runs.first_started.wait(5)
    return HeldFirst(runs, batches, outcomes, first)


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
    held = hold_first(max_wait_seconds=WAIT_LONG, max_batch=8)
    later = [held.submit(item) for item in ("b", "c", "d")]
    wait_until(lambda: len(held.batches._open.items) == 3 if held.batches._open else False)
    held.release()  # the running batch ends: the waiting one goes without waiting any longer
    for thread in later:
        thread.join(5)
    assert held.outcomes == {"a": "A", "b": "B", "c": "C", "d": "D"}
    batches = held.runs.batches
    assert batches[0] == ["a"] and sorted(batches[1]) == ["b", "c", "d"] and len(batches) == 2


def test_a_full_batch_goes_without_waiting_for_the_running_one() -> None:
    held = hold_first(max_wait_seconds=WAIT_LONG, max_batch=2)
    pair = [held.submit(item) for item in ("b", "c")]
    for thread in pair:
        thread.join(5)
    assert (held.outcomes.get("b"), held.outcomes.get("c")) == ("B", "C")  # while "a" is still held
    held.release()
    assert held.outcomes["a"] == "A"


def test_the_wait_for_company_is_bounded() -> None:
    held = hold_first(max_wait_seconds=0.05, max_batch=8)
    held.submit("b").join(5)
    assert held.outcomes.get("b") == "B"  # ran beside the held batch once its wait was over
    held.release()


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
    held = hold_first(max_wait_seconds=WAIT_LONG, max_batch=8, max_running=2)
    held.submit("b").join(5)
    assert held.outcomes.get("b") == "B"  # ran beside the held batch at once: one more batch may run
    held.release()
    assert held.runs.batches == [["a"], ["b"]]
