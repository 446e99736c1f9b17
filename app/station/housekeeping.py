"""The housekeeping thread: says in the journal when a bounded queue had to drop something,
and watches the data folder's disk (``DiskWatch``).

Every queue between the poller and its consumers is bounded, so a stalled consumer costs data
rather than memory. That is only acceptable if the loss is never silent: this thread compares
the drop counters every few seconds and journals each increase once (``system.dropped``).
"""

from __future__ import annotations

import datetime as _dt
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.core.alarms import AlarmEngine
from app.core.journal import Journal

log = logging.getLogger(__name__)


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
        self._checking = threading.Lock()  # the thread's period and run_checks() take turns
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
            self.run_checks()
        self.report()

    def run_checks(self) -> None:
        """One period's work now (also from another thread, e.g. right after start)."""
        with self._checking:
            self.report()
            if self._also is not None:
                self._also()

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


#: how a loss counter is named in the journal and on screen
_LOSS_NAMES = {
    "historian_samples": "historian samples",
    "alarm_store_rows": "alarm-history writes",
    "journal_events": "journal events",
}


class DiskWatch:
    """The data folder's disk: a technical alarm before it fills, and every loss while writes
    fail, journaled with its counts once they succeed again.

    ``check()`` runs on the housekeeping thread every period. Free space below
    ``min_free_mb`` raises ``station.disk:SYSTEM`` ("disk almost full") through the alarm
    engine. ``losses()`` gives cumulative counters of data the disk refused (historian samples
    whose commit failed, alarm-history writes given up, journal events lost); while any of them
    grows the disk is failing: one critical ``storage.failing`` event starts the episode (the
    journal holds it in memory until it can commit), the alarm says so, and the problem list
    shows it. ``held()`` gives the writes kept in memory now because the disk refused them
    (journal events, alarm-history writes): while any are held the disk is failing too, even
    if nothing is lost yet (a start on a disk that is already full). When the counters stop
    growing and nothing is held, one critical ``storage.recovered`` event gives the episode's
    span and what was lost, by kind, and the problem list keeps that summary.
    """

    def __init__(
        self,
        data_dir: Path,
        alarms: AlarmEngine,
        journal: Journal,
        problems: list[str],
        losses: Callable[[], dict[str, int]],
        *,
        min_free_mb: float = 500.0,
        disk_usage: Callable[[Path], tuple[int, int, int]] = shutil.disk_usage,
        clock: Callable[[], float] = time.time,
        held: Callable[[], dict[str, int]] = dict,
    ) -> None:
        self._dir = data_dir
        self._alarms = alarms
        self._journal = journal
        self._problems = problems
        self._losses = losses
        self._held = held
        self._min_free = min_free_mb * 1e6
        self._disk_usage = disk_usage
        self._clock = clock
        self._seen: dict[str, int] | None = None  # the counters at the last look
        self._episode: tuple[float, dict[str, int], str] | None = None  # since, counts then, problem
        self._alarm_on = False

    def check(self) -> None:
        """Look once; never raises (it runs on the housekeeping thread)."""
        try:
            self._check()
        except Exception:
            log.exception("disk check failed")

    def _check(self) -> None:
        try:
            free: int | None = int(self._disk_usage(self._dir)[2])
        except OSError:
            free = None
        counts = self._losses()
        held = {k: n for k, n in self._held().items() if n > 0}
        seen = self._seen if self._seen is not None else {}  # every counter starts at 0
        grew = {k: v - seen.get(k, 0) for k, v in counts.items() if v > seen.get(k, 0)}
        self._seen = counts
        now = self._clock()
        free_mb = None if free is None else round(free / 1e6, 1)
        if (grew or held) and self._episode is None:
            problem = (f"the disk of {self._dir} is refusing writes since {_iso(now)} "
                       f"({free_mb} MB free): journal events and alarm-history writes are held "
                       "in memory until space returns, historian samples are lost; free space")
            self._episode = (now, seen, problem)
            self._problems.append(problem)
            self._journal.append("storage.failing", "system", {
                "dir": str(self._dir), "free_mb": free_mb, "lost_so_far": grew, "held": held,
            }, critical=True)
        elif not grew and not held and self._episode is not None:
            since, before, problem = self._episode
            self._episode = None
            lost = {k: v - before.get(k, 0) for k, v in counts.items() if v > before.get(k, 0)}
            self._journal.append("storage.recovered", "system", {
                "dir": str(self._dir), "since": since, "until": now, "free_mb": free_mb, "lost": lost,
            }, critical=True)
            said = ", ".join(f"{n} {_LOSS_NAMES.get(k, k)}" for k, n in sorted(lost.items()))
            self._problems[:] = [p for p in self._problems if p != problem]
            self._problems.append(f"the disk of {self._dir} refused writes from {_iso(since)} to "
                                  f"{_iso(now)}: lost {said or 'nothing'}")
        low = free is not None and free < self._min_free
        failing = self._episode is not None
        if failing:
            message = f"disk full: writes to {self._dir} fail ({free_mb} MB free); data is being lost"
        elif low:
            message = (f"disk almost full: {free_mb} MB free in {self._dir} "
                       f"(alarm below {self._min_free / 1e6:.0f} MB)")
        else:
            message = f"disk space back above {self._min_free / 1e6:.0f} MB in {self._dir}"
        if low or failing or self._alarm_on:
            self._alarms.set_system_condition("disk", low or failing, message=message, priority="high")
            self._alarm_on = low or failing


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
