"""What the idle lock's application-wide event filter costs per Qt event.

Run by hand: ``QT_QPA_PLATFORM=offscreen python tests/benchmarks/idle_filter.py``.
Sends the same pre-built events to a widget through QApplication (so every application event
filter sees them) with and without `IdleWatcher` installed, in the same run, and prints the
median time per event over several rounds and the added cost. Two kinds: a non-input event
(what most of the traffic is: timers, paints, posted signals) and a mouse move (input, which
also stores a timestamp). Then it counts how many events the real workstation delivers per
second on the demo plant, to turn the per-event figure into a share of a core.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QWidget

from app.ui.idle import IdleWatcher

N = 20_000
ROUNDS = 7


def per_event_us(app: QApplication, widget: QWidget, event: QEvent) -> float:
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        for _ in range(N):
            app.sendEvent(widget, event)
        samples.append((time.perf_counter() - t0) / N * 1e6)
    return statistics.median(samples)


class _Counter(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def eventFilter(self, _obj: QObject, _event: QEvent) -> bool:
        self.n += 1
        return False


def workstation_events_per_s(app: QApplication, seconds: float = 5.0) -> float:
    """Events per second through the application while the workstation shows the demo plant."""
    from app.station import Core, LocalStation
    from app.ui.main_window import MainWindow

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        core = Core(Path(tmp), plugins_enabled=False)
        core.start()
        try:
            win = MainWindow(LocalStation(core), settings_path=Path(tmp) / "ui.json")
            win.show()
            end = time.monotonic() + 2.0
            while time.monotonic() < end:  # warm up: first values, first paints
                app.processEvents()
                time.sleep(0.005)
            counter = _Counter()
            app.installEventFilter(counter)
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                app.processEvents()
                time.sleep(0.005)
            rate = counter.n / (time.monotonic() - t0)
            app.removeEventFilter(counter)
            win.close()
            app.processEvents()
        finally:
            core.stop()
    return rate


def main() -> None:
    app = QApplication.instance() or QApplication([])
    widget = QWidget()
    widget.setMouseTracking(True)
    kinds = {
        "non-input (QEvent.User)": QEvent(QEvent.Type.User),
        "mouse move": QMouseEvent(
            QEvent.Type.MouseMove,
            QPointF(5, 5),
            QPointF(5, 5),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        ),
    }
    print(f"{N} events x {ROUNDS} rounds per figure, median per event")
    added = []
    for name, event in kinds.items():
        base = per_event_us(app, widget, event)
        watcher = IdleWatcher(600.0)
        with_filter = per_event_us(app, widget, event)
        watcher.stop()
        added.append(with_filter - base)
        print(
            f"{name:26s} without filter {base:6.2f} us   with IdleWatcher {with_filter:6.2f} us"
            f"   added {with_filter - base:5.2f} us ({with_filter / base:.2f}x)"
        )

    rate = workstation_events_per_s(app)
    worst = max(added)
    print(
        f"workstation on the demo plant: {rate:,.0f} events/s through the application; "
        f"at {worst:.2f} us each the filter costs {rate * worst / 1e4:.3f} % of one core"
    )


if __name__ == "__main__":
    main()
