"""Technical alarms about log-ins: a burst of failures, and break-glass use.

A failed log-in is journaled by the account store, but nobody reads the journal during a night
shift: five or more failures within ten minutes (any accounts: someone guessing) raise
``station.login_failures:SYSTEM``, which clears at the next log-in attempt that finds fewer in
the window. An emergency (break-glass) log-in raises the
urgent ``station.break_glass:SYSTEM`` for as long as that session lasts, so its use is seen at
once and reviewed, as HIPAA's emergency access procedure expects. Windows run on the monotonic
clock, so a wall-clock step neither hides nor invents a burst.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

from app.core.alarms import AlarmEngine
from app.core.users import EMERGENCY_USER, Session

FAILURES = 5
WINDOW_S = 600.0


class LoginWatch:
    def __init__(self, alarms: AlarmEngine, monotonic: Callable[[], float] = time.monotonic):
        self.alarms = alarms
        self.monotonic = monotonic
        self._failures: collections.deque[float] = collections.deque()
        self._active = False

    def failed(self, name: str) -> None:
        self._failures.append(self.monotonic())
        self._update()

    def succeeded(self, session: Session) -> None:
        self._update()
        if session.user.startswith(f"{EMERGENCY_USER}:"):
            self.alarms.set_system_condition(
                "break_glass", True, priority="urgent",
                message=f"emergency log-in used ({session.user}, {session.role.label}): review why",
            )

    def ended(self, session: Session) -> None:
        if session.user.startswith(f"{EMERGENCY_USER}:"):
            self.alarms.set_system_condition("break_glass", False, message="emergency session ended")

    def _update(self) -> None:
        now = self.monotonic()
        while self._failures and now - self._failures[0] > WINDOW_S:
            self._failures.popleft()
        burst = len(self._failures) >= FAILURES
        if burst or self._active:
            self.alarms.set_system_condition(
                "login_failures", burst,
                message=f"{len(self._failures)} failed log-ins in the last {WINDOW_S / 60:.0f} min",
            )
        self._active = burst
