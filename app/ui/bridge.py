"""The one doorway from the station's threads into Qt.

The station polls on its own asyncio thread and pushes samples into a bounded snapshot buffer;
alarm changes arrive through a subscription callback, also on a station thread. Touching widgets
from there would crash Qt, and emitting a signal per sample would drown the GUI at 1,000
samples/s. So this bridge drains everything on one QTimer (~25 Hz) and emits at most one signal
of each kind per tick, always on the GUI thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from app.station.interface import AlarmView, Station


class CoreBridge(QObject):
    """Drains the station on a timer and re-emits what changed as Qt signals (GUI thread)."""

    #: every sample since the last tick, oldest first (list[Sample])
    samples = Signal(object)
    #: alarm views that changed since the last tick, newest state per alarm id (list[AlarmView])
    alarms_changed = Signal(object)
    #: device name -> DeviceDiagnostics snapshot
    diagnostics = Signal(object)
    #: total samples the snapshot buffer had to drop so far (emitted when it grows)
    dropped = Signal(int)
    #: the alarm engine's flood state (more than 10 alarms in 10 minutes), on each diagnostics tick
    flood = Signal(bool)

    def __init__(
        self,
        station: Station,
        parent: QObject | None = None,
        *,
        hz: float = 25.0,
        diagnostics_every_s: float = 0.5,
        alarm_queue_max: int = 10_000,
    ):
        super().__init__(parent)
        self.station = station
        self._diag_every = diagnostics_every_s
        self._last_diag = 0.0
        self._last_dropped = 0
        self._lock = threading.Lock()
        self._alarm_queue: deque[AlarmView] = deque(maxlen=alarm_queue_max)
        self.alarm_overflow = 0
        self.last_tick_s = 0.0  # how long the last tick took (for the status bar and benchmarks)
        self._unsubscribe: Callable[[], None] | None = station.subscribe_alarms(self._on_alarm)
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / hz)))
        self._timer.timeout.connect(self.tick)

    # -- station thread ---------------------------------------------------------------------
    def _on_alarm(self, view: AlarmView) -> None:
        """Called on a station thread: only enqueue. A full queue drops the oldest change, which
        is harmless because the next tick re-reads the whole alarm list anyway when it happens."""
        with self._lock:
            if len(self._alarm_queue) == self._alarm_queue.maxlen:
                self.alarm_overflow += 1
            self._alarm_queue.append(view)

    # -- GUI thread -------------------------------------------------------------------------
    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def tick(self) -> None:
        t0 = time.perf_counter()
        batch = self.station.drain_samples()
        if batch:
            self.samples.emit(batch)
        with self._lock:
            changes = list(self._alarm_queue)
            self._alarm_queue.clear()
            overflow = self.alarm_overflow
            self.alarm_overflow = 0
        if overflow:
            changes = list(self.current_alarms())
        if changes:
            latest: dict[str, AlarmView] = {}
            for view in changes:
                latest[view.id] = view
            self.alarms_changed.emit(list(latest.values()))
        now = time.monotonic()
        if now - self._last_diag >= self._diag_every:
            self._last_diag = now
            self.diagnostics.emit(self.station.diagnostics())
            self.flood.emit(self.station.in_flood())
            dropped = self.station.samples_dropped()
            if dropped != self._last_dropped:
                self._last_dropped = dropped
                self.dropped.emit(dropped)
        self.last_tick_s = time.perf_counter() - t0

    def current_alarms(self) -> list[AlarmView]:
        return self.station.alarms()
