"""Start the workstation window on a running core (used by ``vigil run``).

Creates the QApplication if there is none, installs the palette, shows the main window and runs
the event loop. With ``screenshot`` it waits ``after_s`` seconds, saves a PNG of the window and
exits, which is how the README pictures and the packaging checks are made.
"""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

if TYPE_CHECKING:
    from pyqtgraph.util.garbage_collector import GarbageCollector
    from PySide6.QtWidgets import QApplication, QWidget

    from app.station.interface import Station


def ensure_app() -> QApplication:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    # PySide6 lets go of the GIL around every call into Qt and must take it back afterwards; while
    # a worker runs Python (a history query) each take-back can wait out the interpreter's 5 ms
    # switch interval, and one trend paint makes hundreds of them: measured, a paint beside a
    # history query blocked the GUI thread ~700 ms at 5 ms, ~40-100 ms at 0.2-1 ms
    # (tests/benchmarks/trend_scrollback.py)
    sys.setswitchinterval(0.0005)
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Vigil")
    app.setOrganizationName("Vigil")
    return app


def settle_memory() -> GarbageCollector:
    """Collect garbage only on the GUI thread, and keep start-up objects out of its way.

    Python's cyclic collector runs in whichever thread happens to allocate; when the garbage
    holds Qt objects (a closed dialog's wrappers, say) and that thread is a core or worker
    thread, Qt objects die on the wrong thread (seen in the UI tests as "Timers cannot be
    started from another thread"). pyqtgraph's GarbageCollector disables automatic collection
    and collects on a GUI-thread timer instead. Freezing what exists at start-up matters too:
    a full collection over everything Qt, pyqtgraph and the core allocate took 215 ms on the
    GUI thread (measured, tests/benchmarks/ui.py), a visible freeze; frozen objects are skipped.
    The same timer gives the C heap's free pages back to the system once a minute
    (``app.ui.memory``): without it the window's memory crept up over hours although nothing
    in it grew. Returns the collector, which must be kept alive for as long as the window runs.
    """
    from pyqtgraph.util.garbage_collector import GarbageCollector

    from app.ui.memory import TRIM_EVERY_S, trim_heap

    class GuiGarbage(GarbageCollector):
        def __init__(self, interval: float) -> None:
            super().__init__(interval=interval)
            self._trim_every = max(1, round(TRIM_EVERY_S / interval))
            self._checks = 0
            self.trims = 0

        def check(self) -> None:
            super().check()
            self._checks += 1
            if self._checks % self._trim_every == 0:
                trim_heap()
                self.trims += 1

    gc.collect()
    gc.freeze()
    return GuiGarbage(interval=1.0)


def run_gui(
    station: Station,
    *,
    screenshot: str | None = None,
    after_s: float = 0.0,
    dark: bool = False,
    duration_s: float | None = None,
    display: str | None = None,
) -> int:
    """Show the main window on ``station`` (already started) until closed; returns an exit code.

    ``screenshot``: save a PNG of the window after ``after_s`` seconds, then exit.
    ``duration_s``: close by itself after this many seconds (for unattended runs).
    ``display``: the process display to show first (default: the overview).
    """
    app = ensure_app()
    from PySide6.QtCore import QTimer

    from app.ui.main_window import MainWindow

    win = MainWindow(station, dark=dark)
    if display:
        win.show_display(display)
    win.show()
    collector = settle_memory()
    status = {"code": 0}

    if screenshot:

        def shoot() -> None:
            path = Path(screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not win.grab().save(str(path)):
                print(f"vigil: could not write screenshot {path}", file=sys.stderr)
                status["code"] = 1
            else:
                print(f"vigil: screenshot saved to {path}")
            win.close()

        QTimer.singleShot(int(max(0.0, after_s) * 1000), shoot)
    if duration_s:
        QTimer.singleShot(int(duration_s * 1000), win.close)
    restore_signals = _close_on_signals(win)
    # Python runs signal handlers only between bytecodes; a light timer gives it the chance
    # while Qt's event loop (C++) is waiting
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        app.exec()
    finally:
        wake.stop()
        restore_signals()
    collector.timer.stop()
    gc.enable()
    return status["code"]


def _close_on_signals(win: QWidget) -> Callable[[], None]:
    """Ctrl-C and SIGTERM close the window the normal way, so the core stops cleanly: a final
    signed checkpoint and ``app.stop`` in the journal, the historian flushed. Returns a function
    that puts the previous handlers back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum: int, frame: object) -> None:
        print(f"vigil: {signal.Signals(signum).name} received, closing", file=sys.stderr)
        win.close()

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, h in previous.items():
            signal.signal(sig, h)

    return restore
