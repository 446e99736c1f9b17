"""The one doorway from the station's threads into Qt.

The station polls on its own asyncio thread and pushes samples into a bounded snapshot buffer;
alarm changes arrive through a subscription callback, also on a station thread. Touching widgets
from there would crash Qt, and emitting a signal per sample would drown the GUI at 1,000
samples/s. So this bridge drains everything on the GUI thread, at most ~25 times a second, and
emits at most one signal of each kind per drain.

It drains only when there is something to drain: the station's thread posts one wake-up when
samples start waiting in an empty buffer (``SampleNotifier``) or an alarm change is queued, and
the drain follows 20 ms later, or 40 ms after the last drain if that is later. The 20 ms gather
what devices polled on the same beat deliver a few milliseconds apart into one drain, so the
window draws them in one pass instead of one per device. Device diagnostics and the flood state
come about every half second: with a drain when one happens 0.4 s or more after the last ones
(a wake-up of the GUI thread saved), else on a heartbeat 0.625 s after them, which also drains
whatever is waiting. A quiet plant costs the GUI thread nothing but that heartbeat (a station
that cannot announce its samples, such as a remote one, is drained on a free-running 25 Hz timer
instead).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.station.interface import AlarmView, SampleNotifier, Station


class CoreBridge(QObject):
    """Drains the station when woken (or on a timer) and re-emits what changed as Qt signals
    (GUI thread)."""

    #: every sample since the last drain, oldest first (list[Sample])
    samples = Signal(object)
    #: alarm views that changed since the last drain, newest state per alarm id (list[AlarmView])
    alarms_changed = Signal(object)
    #: device name -> DeviceDiagnostics snapshot
    diagnostics = Signal(object)
    #: total samples the snapshot buffer had to drop so far (emitted when it grows)
    dropped = Signal(int)
    #: the alarm engine's flood state (more than 10 alarms in 10 minutes), on each diagnostics tick
    flood = Signal(bool)
    #: after a drain's samples and alarm changes were emitted: a view that marked what they
    #: changed draws it now, so its repaint and the other views' go to the screen in one pass
    drained = Signal()
    #: posted from a station thread; delivered on the GUI thread (queued connection)
    _wake = Signal()

    def __init__(
        self,
        station: Station,
        parent: QObject | None = None,
        *,
        hz: float = 25.0,
        gather_s: float = 0.02,
        diagnostics_every_s: float = 0.5,
        alarm_queue_max: int = 10_000,
    ):
        super().__init__(parent)
        self.station = station
        self._min_gap_s = 1.0 / hz
        self._gather_s = gather_s
        self._last_dropped = 0
        self._lock = threading.Lock()
        self._alarm_queue: deque[AlarmView] = deque(maxlen=alarm_queue_max)
        self._wake_posted = False  # a wake-up is on its way to the GUI thread (under _lock)
        self._last_tick = -1.0e9  # monotonic time of the last drain
        self.alarm_overflow = 0
        self.last_tick_s = 0.0  # how long the last tick took (for the status bar and benchmarks)
        self.ticks = 0  # drains so far (tests and benchmarks count wake-ups with it)
        self._running = False
        self._notifier = station if isinstance(station, SampleNotifier) else None
        #: True when the station announces its samples; else the timer runs freely at ``hz``
        self.event_driven = self._notifier is not None
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / hz)))
        self._timer.setSingleShot(self.event_driven)
        self._timer.timeout.connect(self.tick)
        #: diagnostics go with a drain this long after the last ones; without drains the
        #: heartbeat brings them a quarter of their period late at most
        self._diagnostics_due_s = 0.8 * diagnostics_every_s
        self._diagnostics_at = -1.0e9  # monotonic time diagnostics were last emitted
        self._heartbeat = QTimer(self)
        self._heartbeat.setInterval(max(1, round(1250 * diagnostics_every_s)))
        self._heartbeat.timeout.connect(self._beat)
        self._wake.connect(self._woken, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe: Callable[[], None] | None = station.subscribe_alarms(self._on_alarm)

    # -- station threads ----------------------------------------------------------------------
    def _on_alarm(self, view: AlarmView) -> None:
        """Called on a station thread: only enqueue. A full queue drops the oldest change, which
        is harmless because the next drain re-reads the whole alarm list anyway when it happens."""
        with self._lock:
            if len(self._alarm_queue) == self._alarm_queue.maxlen:
                self.alarm_overflow += 1
            self._alarm_queue.append(view)
        self._post_wake()

    def _post_wake(self) -> None:
        """Called on a station thread: one wake-up in flight at a time, however many batches."""
        with self._lock:
            if self._wake_posted:
                return
            self._wake_posted = True
        self._wake.emit()

    # -- GUI thread -------------------------------------------------------------------------
    def start(self) -> None:
        self._running = True
        if self._notifier is not None:
            self._notifier.notify_samples(self._post_wake)
        else:
            self._timer.start()
        self._heartbeat.start()
        QTimer.singleShot(0, self, self._beat)  # what arrived before the window was listening

    def stop(self) -> None:
        self._running = False
        self._timer.stop()
        self._heartbeat.stop()
        if self._notifier is not None:
            self._notifier.notify_samples(None)
            self._notifier = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _woken(self) -> None:
        """Drain after the gathering delay, and not within 40 ms of the last drain (coalesced:
        one timer)."""
        with self._lock:
            self._wake_posted = False
        if not self._running or self._timer.isActive():
            return
        wait = max(self._gather_s, self._min_gap_s - (time.monotonic() - self._last_tick))
        self._timer.start(max(1, math.ceil(wait * 1000)))

    def _beat(self) -> None:
        if not self._running:
            return  # the first beat, posted by start(), came after stop()
        beat = time.monotonic()
        if not (self.event_driven and self._timer.isActive()):
            self.tick()  # (a drain already due soon keeps gathering what is on its way)
        if self._diagnostics_at < beat:  # (not already sent with that drain)
            self._emit_diagnostics()

    def tick(self) -> None:
        """Drain the samples and alarm changes waiting, and emit them."""
        t0 = time.perf_counter()
        self._last_tick = time.monotonic()
        self.ticks += 1
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
        if batch or changes:
            if self._last_tick - self._diagnostics_at >= self._diagnostics_due_s:
                self._emit_diagnostics()  # the heartbeat need not wake the GUI thread for them
            self.drained.emit()
        self.last_tick_s = time.perf_counter() - t0

    def _emit_diagnostics(self) -> None:
        self._diagnostics_at = time.monotonic()
        if self._heartbeat.isActive():
            self._heartbeat.start()  # the next beat counts from now
        self.diagnostics.emit(self.station.diagnostics())
        self.flood.emit(self.station.in_flood())
        dropped = self.station.samples_dropped()
        if dropped != self._last_dropped:
            self._last_dropped = dropped
            self.dropped.emit(dropped)

    def current_alarms(self) -> list[AlarmView]:
        return self.station.alarms()
