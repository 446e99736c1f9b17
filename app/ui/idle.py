"""Notice when nobody has touched the workstation for a while (for the idle lock).

An application-wide event filter records the time of the last key press, mouse click, mouse
move, wheel or touch; a slow timer compares it with the limit. Nothing else is done per event,
so the filter stays cheap (``tests/benchmarks/idle_filter.py`` measures its cost per event).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

DEFAULT_IDLE_LOCK_S = 600.0
#: the idle lock can be neither switched off in effect (a day) nor set so short it locks mid-task
MIN_IDLE_LOCK_S = 30.0
MAX_IDLE_LOCK_S = 3600.0

_INPUT = frozenset(
    {
        QEvent.Type.KeyPress,
        QEvent.Type.MouseButtonPress,
        QEvent.Type.MouseMove,
        QEvent.Type.Wheel,
        QEvent.Type.TouchBegin,
    }
)


def parse_idle_lock_s(raw: object) -> tuple[float, str | None]:
    """The idle-lock delay from settings.json and, when the stored value cannot be used, why
    (the default then applies: a typo must not switch the lock off)."""
    if raw is None:
        return DEFAULT_IDLE_LOCK_S, None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not raw > 0:
        return DEFAULT_IDLE_LOCK_S, (
            f"settings.json: idle_lock_s must be a number of seconds above 0, got {raw!r}; "
            f"using {DEFAULT_IDLE_LOCK_S:.0f} s"
        )
    if not MIN_IDLE_LOCK_S <= raw <= MAX_IDLE_LOCK_S:
        bounded = min(max(float(raw), MIN_IDLE_LOCK_S), MAX_IDLE_LOCK_S)
        return bounded, (
            f"settings.json: idle_lock_s must be between {MIN_IDLE_LOCK_S:.0f} and "
            f"{MAX_IDLE_LOCK_S:.0f} seconds, got {raw!r}; using {bounded:.0f} s"
        )
    return float(raw), None


class IdleWatcher(QObject):
    """Emits ``idle`` once after ``timeout_s`` seconds without user input; input re-arms it."""

    idle = Signal()

    def __init__(self, timeout_s: float, parent: QObject | None = None, clock=time.monotonic):
        super().__init__(parent)
        self.timeout_s = float(timeout_s)
        self._clock = clock
        self._last = clock()
        self._fired = False
        self._timer = QTimer(self)
        # a quarter of the limit, between 0.1 s and 5 s: late by at most that much
        self._timer.setInterval(int(min(5.0, max(0.1, self.timeout_s / 4)) * 1000))
        self._timer.timeout.connect(self._check)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._timer.start()

    def eventFilter(self, _obj: QObject, event: QEvent) -> bool:
        if event.type() in _INPUT:
            self._last = self._clock()
            self._fired = False
        return False

    def reset(self) -> None:
        """Count idle time from now (after a log-in, for instance)."""
        self._last = self._clock()
        self._fired = False

    def idle_for(self) -> float:
        return self._clock() - self._last

    def _check(self) -> None:
        if not self._fired and self.idle_for() >= self.timeout_s:
            self._fired = True
            self.idle.emit()

    def stop(self) -> None:
        self._timer.stop()
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
