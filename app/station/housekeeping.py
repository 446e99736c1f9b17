"""The housekeeping thread: says in the journal when a bounded queue had to drop something.

Every queue between the poller and its consumers is bounded, so a stalled consumer costs data
rather than memory. That is only acceptable if the loss is never silent: this thread compares
the drop counters every few seconds and journals each increase once (``system.dropped``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.core.journal import Journal


class DropReporter:
    """Journals ``system.dropped`` whenever a drop counter grew since the last look."""

    def __init__(
        self,
        counts: Callable[[], dict[str, int]],
        journal: Journal,
        period_s: float = 5.0,
        also: Callable[[], None] | None = None,
    ):
        """``also`` runs every period too (the clock-step check); it must not raise."""
        self._counts = counts
        self._also = also
        self._journal = journal
        self._period_s = period_s
        self._stop = threading.Event()
        self._reported: dict[str, int] = {}
        self._thread = threading.Thread(target=self._loop, name="vigil-housekeeping", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and make a last report, so drops just before shutdown are journaled too."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self._period_s):
            self.report()
            if self._also is not None:
                self._also()
        self.report()

    def report(self) -> None:
        try:
            counts = self._counts()
        except Exception:  # a service mid-shutdown; try again next period
            return
        reported = self._reported
        new = {k: v - reported.get(k, 0) for k, v in counts.items() if v > reported.get(k, 0)}
        if new:
            self._journal.append("system.dropped", "system", {"new": new, "total": counts}, critical=True)
        reported.update(counts)
