"""``TaskQueue``: tasks shared by a few threads, where a running task may add more (no I/O, no globals)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class TaskQueue:
    """Several threads call :meth:`work`; each runs queued tasks until every task added so far is finished.

    A task may :meth:`add` tasks (e.g. detecting a face adds one task per aligned crop to embed), so a thread
    that finds the queue empty waits while another thread's task may still add work. The first task to raise
    stops the queue: :meth:`work` returns on every thread and :meth:`raise_failure` re-raises it. A caller can
    always finish its queue alone: threads that join late find nothing to do and return at once.
    """

    def __init__(self) -> None:
        self._tasks: deque[Callable[[], None]] = deque()
        self._unfinished = 0
        self._failure: BaseException | None = None
        self._changed = threading.Condition()

    def add(self, task: Callable[[], None]) -> None:
        with self._changed:
            self._tasks.append(task)
            self._unfinished += 1
            self._changed.notify()

    def work(self) -> None:
        """Run tasks until all are finished or one has failed."""
        while True:
            with self._changed:
                while not self._tasks and self._unfinished and self._failure is None:
                    self._changed.wait()
                if not self._unfinished or self._failure is not None:
                    return
                task = self._tasks.popleft()
            try:
                task()
            except BaseException as exc:  # handed to the caller by raise_failure
                with self._changed:
                    self._failure = self._failure or exc
                    self._changed.notify_all()
                return
            with self._changed:
                self._unfinished -= 1
                if not self._unfinished:
                    self._changed.notify_all()

    def raise_failure(self) -> None:
        """Re-raise the first task's exception, if any task failed."""
        with self._changed:
            failure = self._failure
        if failure is not None:
            raise failure
