"""Noticing when the wall clock steps (NTP correcting a bad clock, a person setting it).

Durations in Vigil are measured on the monotonic clock, so a step changes no delay or timer;
but time stamps on either side of it jump, and an operator or auditor reading the journal must
be told why. The offset between the wall clock and the monotonic clock is constant while the
wall clock runs freely (NTP slewing moves it by milliseconds a minute); a change of more than a
few seconds between two looks is a step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

#: smaller changes are slewing or scheduling noise; larger ones break time stamps visibly
STEP_THRESHOLD_S = 5.0


class ClockStep(NamedTuple):
    step_s: float  # positive: the wall clock jumped forward
    wall_before: float  # what the wall clock would read now without the step
    wall_after: float  # what it reads now


class ClockStepDetector:
    """``check()`` returns the step since the previous look, or None (call it every few s)."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        threshold_s: float = STEP_THRESHOLD_S,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.threshold_s = threshold_s
        self._offset = wall() - monotonic()

    def check(self) -> ClockStep | None:
        mono = self._monotonic()
        wall = self._wall()
        offset = wall - mono
        step = offset - self._offset
        self._offset = offset  # the next step is measured from the new setting
        if abs(step) <= self.threshold_s:
            return None
        return ClockStep(step, wall - step, wall)
