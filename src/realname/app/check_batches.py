"""Group commit for relying parties' checks: concurrent checks of one worker share one transaction and one
commit.

A check costs a few milliseconds of work and a commit whose WAL flush (≈ 7 ms on the reference machine) is
most of its latency and much of the database's work. ``GroupCommit`` gathers the checks that arrive while
another batch of checks is running (each waits at most ``max_wait_seconds`` for company; a lone check on
an idle worker does not wait at all) and hands them to ``NumberChecks.check_many``, which handles each as
if it ran alone, one after the other, in one transaction. Every caller gets its own outcome only after that
commit succeeded; if anything fails (a database error in any check, or at the commit), every check in the
batch fails with that error and nothing of the batch is recorded: never an answer without its check row and
audit event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from realname.app.relying_party_checks import CheckAnswer, CheckInquiry, NumberChecks
from realname.domain.errors import RealnameError
from realname.domain.relying_parties import SignedRequest

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

ParseCheck = Callable[[bytes], CheckInquiry]


class CheckAnswerer(Protocol):
    """What ``POST /v1/checks`` calls: ``NumberChecks`` itself, or its checks gathered into batches."""

    def check(self, signed: SignedRequest, parse: ParseCheck) -> CheckAnswer: ...


@dataclass(eq=False)
class _Batch(Generic[Item, Outcome]):
    items: list[Item] = field(default_factory=list)
    closed: bool = False
    outcomes: Sequence[Outcome] | None = None
    failure: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _copy_of(failure: Exception) -> Exception:
    """The failure as a new exception of the same class and attributes, so that each waiting thread raises
    its own (one exception object raised in several threads would share one traceback)."""
    copy = type(failure).__new__(type(failure))
    copy.__dict__.update(failure.__dict__)
    copy.args = failure.args
    return copy


class GroupCommit(Generic[Item, Outcome]):
    """Runs the items that concurrent callers submit together, in batches, with ``run``.

    The first caller to find no open batch opens one and leads it: while ``max_running`` other batches are
    running it waits (at most ``max_wait_seconds``, or until the batch holds ``max_batch`` items, or until a
    running batch ends) for others to join; then it closes the batch and runs it on its own thread. The others
    wait for the batch to end and take their outcome by position. A batch's failure is every member's failure.
    """

    def __init__(
        self,
        run: Callable[[Sequence[Item]], Sequence[Outcome]],
        *,
        max_wait_seconds: float,
        max_batch: int,
        max_running: int = 1,
    ) -> None:
        if max_wait_seconds < 0 or max_batch < 1 or max_running < 1:
            raise ValueError("a batch waits 0 or more seconds, holds at least one item, and one may run")
        self._run = run
        self._max_wait_seconds = max_wait_seconds
        self._max_batch = max_batch
        self._max_running = max_running
        self._changed = threading.Condition()
        self._open: _Batch[Item, Outcome] | None = None
        self._running = 0

    def submit(self, item: Item) -> Outcome:
        """Run ``item`` in a batch; its outcome once the whole batch succeeded.

        Raises:
            Exception: a copy of whatever ``run`` raised for the batch.
        """
        with self._changed:
            batch = self._open
            leads = batch is None
            if batch is None:
                batch = self._open = _Batch()
            index = len(batch.items)
            batch.items.append(item)
            if len(batch.items) >= self._max_batch:
                self._close(batch)
        if leads:
            self._lead(batch)
        else:
            batch.done.wait()
        if batch.failure is not None:
            raise _copy_of(batch.failure) from batch.failure
        assert batch.outcomes is not None
        return batch.outcomes[index]

    def _close(self, batch: _Batch[Item, Outcome]) -> None:
        batch.closed = True
        if self._open is batch:
            self._open = None
        self._changed.notify_all()

    def _lead(self, batch: _Batch[Item, Outcome]) -> None:
        deadline = time.monotonic() + self._max_wait_seconds
        with self._changed:
            # Company is worth waiting for only while other batches hold the database: a lone check on an
            # idle worker runs at once.
            while not batch.closed and self._running >= self._max_running:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            self._close(batch)
            self._running += 1
        try:
            outcomes = self._run(batch.items)
            if len(outcomes) != len(batch.items):
                raise RuntimeError("a batch must give one outcome per item")
            batch.outcomes = outcomes
        except Exception as exc:
            batch.failure = exc
        finally:
            if batch.outcomes is None and batch.failure is None:
                batch.failure = RuntimeError("the batch was interrupted")
            with self._changed:
                self._running -= 1
                self._changed.notify_all()
            batch.done.set()


class GroupCommittedChecks:
    """``NumberChecks`` behind a ``GroupCommit``: the same answers and refusals, fewer commits."""

    def __init__(self, checks: NumberChecks, *, max_wait_seconds: float, max_batch: int, max_running: int = 1) -> None:
        self._batches: GroupCommit[tuple[SignedRequest, ParseCheck], CheckAnswer | RealnameError] = GroupCommit(
            checks.check_many, max_wait_seconds=max_wait_seconds, max_batch=max_batch, max_running=max_running
        )

    def check(self, signed: SignedRequest, parse: ParseCheck) -> CheckAnswer:
        """As ``NumberChecks.check``; answered once the batch it ran in committed."""
        outcome = self._batches.submit((signed, parse))
        if isinstance(outcome, RealnameError):
            raise outcome
        return outcome
