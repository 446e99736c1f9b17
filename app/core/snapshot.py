"""The bounded buffer between the core thread and the UI.

The core appends every sample batch; the UI drains it at most ~25 times a second, never per
sample, and only when something is waiting: the buffer calls its ``waiting`` callback when a
batch lands in an empty buffer, so a quiet plant costs the window no wake-ups.
If the UI stalls, the oldest samples are dropped and counted, so a frozen screen can never make
the core run out of memory; the latest value per tag is kept separately and is never dropped,
so the tag table is always current even after an overflow.

With no window to drain it (headless), the buffer keeps only the latest value per tag: a buffer
nobody drains would otherwise grow to its bound and then report drops for ever.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from app.core.model import Sample


class SnapshotBuffer:
    def __init__(self, maxlen: int = 200_000, keep_history: bool = True):
        self._lock = threading.Lock()
        self._buf: deque[Sample] = deque()
        self._maxlen = maxlen
        #: False when no window drains the buffer: only ``latest()`` is kept
        self.keep_history = keep_history
        self._latest: dict[str, Sample] = {}
        self.dropped = 0
        self._waiting: Callable[[], None] | None = None

    def notify(self, waiting: Callable[[], None] | None) -> None:
        """Call ``waiting()`` (on the core thread, outside the lock: it must only post a
        wake-up) each time samples start waiting in an empty buffer; None stops it. Decided
        under the same lock as ``drain``, so no batch is ever left waiting unannounced."""
        with self._lock:
            self._waiting = waiting

    def on_samples(self, batch: Sequence[Sample]) -> None:
        with self._lock:
            for s in batch:
                self._latest[s.tag] = s
            if not self.keep_history or not batch:
                return
            announce = self._waiting if not self._buf else None
            self._buf.extend(batch)
            overflow = len(self._buf) - self._maxlen
            if overflow > 0:
                for _ in range(overflow):
                    self._buf.popleft()
                self.dropped += overflow
        if announce is not None:
            announce()

    def drain(self) -> list[Sample]:
        """Every sample since the last drain, oldest first."""
        with self._lock:
            out = list(self._buf)
            self._buf.clear()
        return out

    def pending(self) -> int:
        """Samples waiting for the next drain."""
        with self._lock:
            return len(self._buf)

    def latest(self) -> dict[str, Sample]:
        with self._lock:
            return dict(self._latest)
