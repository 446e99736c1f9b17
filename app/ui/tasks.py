"""Run slow work (SQLite queries, journal verification, model fitting) off the GUI thread.

A result comes back as a queued signal to a QObject living in the GUI thread, so callbacks run
there and may touch widgets. Failures arrive as one readable line, never a traceback.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot


class _Job(QRunnable):
    def __init__(self, runner: TaskRunner, job_id: int, fn: Callable[[], Any]):
        super().__init__()
        self._runner = runner
        self._id = job_id
        self._fn = fn

    def run(self) -> None:  # worker thread
        try:
            result = self._fn()
        except Exception as e:
            self._runner._finished.emit(self._id, False, f"{type(e).__name__}: {e}")
        else:
            self._runner._finished.emit(self._id, True, result)


class TaskRunner(QObject):
    """Submit callables to a thread pool; deliver their results on the GUI thread."""

    _finished = Signal(int, bool, object)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2):
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._ids = itertools.count(1)
        self._callbacks: dict[int, tuple[Callable[[Any], None] | None, Callable[[str], None] | None]] = {}
        self._finished.connect(self._deliver)

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> int:
        job_id = next(self._ids)
        self._callbacks[job_id] = (on_done, on_error)
        self._pool.start(_Job(self, job_id, fn))
        return job_id

    def pending(self) -> int:
        return len(self._callbacks)

    def wait(self, timeout_ms: int = 10_000) -> bool:
        """For shutdown and tests: block until every job finished (results still queued)."""
        return self._pool.waitForDone(timeout_ms)

    @Slot(int, bool, object)
    def _deliver(self, job_id: int, ok: bool, payload: object) -> None:
        on_done, on_error = self._callbacks.pop(job_id, (None, None))
        if ok:
            if on_done is not None:
                on_done(payload)
        elif on_error is not None:
            on_error(str(payload))
