"""The one doorway from the core's threads into Qt.

The core polls on its own asyncio thread and pushes samples into a bounded snapshot buffer;
alarm changes arrive through a subscription callback, also on the core thread. Touching widgets
from there would crash Qt, and emitting a signal per sample would drown the GUI at 1,000
samples/s. So this bridge drains everything on one QTimer (~25 Hz) and emits at most one signal
of each kind per tick, always on the GUI thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.core.model import Sample


def _find_drain(core: Any) -> Callable[[], list[Sample]]:
    for name in ("snapshots", "snapshot_buffer"):
        buf = getattr(core, name, None)
        if buf is not None and hasattr(buf, "drain"):
            return buf.drain
    raise AttributeError("the core has no snapshot buffer ('snapshots' or 'snapshot_buffer')")


def _find_dropped(core: Any) -> Callable[[], int]:
    for name in ("snapshots", "snapshot_buffer"):
        buf = getattr(core, name, None)
        if buf is not None and hasattr(buf, "dropped"):
            return lambda b=buf: int(b.dropped)
    return lambda: 0


def _find_diagnostics(core: Any) -> Callable[[], dict[str, Any]]:
    fn = getattr(core, "diagnostics", None)
    if callable(fn):
        return fn
    runtime = getattr(core, "runtime", None)
    if runtime is not None and callable(getattr(runtime, "diagnostics", None)):
        return runtime.diagnostics
    return dict


class CoreBridge(QObject):
    """Drains the core on a timer and re-emits what changed as Qt signals (GUI thread)."""

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
        core: Any,
        parent: QObject | None = None,
        *,
        hz: float = 25.0,
        diagnostics_every_s: float = 0.5,
        alarm_queue_max: int = 10_000,
    ):
        super().__init__(parent)
        self.core = core
        self._drain = _find_drain(core)
        self._dropped = _find_dropped(core)
        self._diag = _find_diagnostics(core)
        self._diag_every = diagnostics_every_s
        self._last_diag = 0.0
        self._last_dropped = 0
        self._lock = threading.Lock()
        self._alarm_queue: deque[Any] = deque(maxlen=alarm_queue_max)
        self.alarm_overflow = 0
        self.last_tick_s = 0.0  # how long the last tick took (for the status bar and benchmarks)
        self._unsubscribe: Callable[[], None] | None = None
        alarms = getattr(core, "alarms", None)
        if alarms is not None and hasattr(alarms, "subscribe"):
            self._unsubscribe = alarms.subscribe(self._on_alarm)
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / hz)))
        self._timer.timeout.connect(self.tick)

    # -- core thread ------------------------------------------------------------------------
    def _on_alarm(self, view: Any) -> None:
        """Called on the core thread: only enqueue. A full queue drops the oldest change, which
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
        if callable(self._unsubscribe):
            self._unsubscribe()
            self._unsubscribe = None

    def tick(self) -> None:
        t0 = time.perf_counter()
        batch = self._drain()
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
            latest: dict[Any, Any] = {}
            for view in changes:
                latest[getattr(view, "id", id(view))] = view
            self.alarms_changed.emit(list(latest.values()))
        now = time.monotonic()
        if now - self._last_diag >= self._diag_every:
            self._last_diag = now
            self.diagnostics.emit(self._diag())
            alarms = getattr(self.core, "alarms", None)
            if alarms is not None and hasattr(alarms, "in_flood"):
                self.flood.emit(bool(alarms.in_flood))
            dropped = self._dropped()
            if dropped != self._last_dropped:
                self._last_dropped = dropped
                self.dropped.emit(dropped)
        self.last_tick_s = time.perf_counter() - t0

    def current_alarms(self) -> list[Any]:
        alarms = getattr(self.core, "alarms", None)
        if alarms is None or not hasattr(alarms, "alarms"):
            return []
        return list(alarms.alarms())
