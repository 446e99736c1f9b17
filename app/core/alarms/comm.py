"""Communication health per device: the one place that decides a device's ``<device>:COMM`` alarm.

Two kinds of evidence say whether a device answers: the runtime's report of its state
(``AlarmEngine.on_device_state``) and its samples (BAD_COMM: no answer; GOOD: it answered).
Both go into :meth:`CommTracker.observe`, which keeps one record per device that is not
answering, so a device that both stops answering and has its samples go BAD is one loss, one
on-delay and one alarm, whichever evidence came first.

The on-delay is measured on the monotonic clock: one lost reply makes the TCP driver drop the
connection and the runtime report the device offline, and that alone must not annunciate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from app.core.alarms.definitions import alarm_id
from app.core.alarms.machine import AlarmMachine
from app.core.alarms.record import AlarmRecord
from app.core.alarms.types import AlarmKind, AlarmView

#: default on-delay of communication-loss alarms, seconds (see AlarmEngine)
COMM_ON_DELAY_S = 2.0
#: the reason a COMM alarm carries when only its samples told that the device is not answering
NO_ANSWER_BY_SAMPLES = "no answer (bad samples)"


@dataclass(slots=True)
class CommLoss:
    """A device not answering: since when, why, and when its COMM alarm activates (monotonic)."""

    since: float
    reason: str
    due: float
    #: the COMM alarm has been raised for this loss (nothing left to wait for)
    raised: bool = False


class CommTracker:
    """Which devices are not answering, and their COMM alarms' on-delays.

    The caller holds the engine's lock. ``reschedule`` is called when a new on-delay starts, so
    the engine's timer can wake for it even if no more evidence arrives."""

    def __init__(
        self,
        machine: AlarmMachine,
        on_delay_s: float,
        monotonic: Callable[[], float],
        reschedule: Callable[[], None],
    ) -> None:
        self._machine = machine
        self.on_delay_s = on_delay_s
        self._mono = monotonic
        self._reschedule = reschedule
        #: devices not answering, by name
        self.lost: dict[str, CommLoss] = {}

    def is_lost(self, device: str) -> bool:
        return device in self.lost

    def settled(self, device: str) -> bool:
        """True when more "not answering" evidence for ``device`` cannot change anything now:
        its on-delay is still running, or its alarm is already raised. The cheap test the
        sample path makes for every BAD_COMM sample."""
        loss = self.lost.get(device)
        return loss is not None and (loss.raised or self._mono() < loss.due)

    def observe(
        self, device: str, answering: bool, reason: str, now: float, out: list[AlarmView],
        *, reported: bool = True,
    ) -> bool:
        """One piece of evidence about ``device``. ``reported``: it comes from the runtime's
        report of the device's state (its reason then replaces a sample's); False for a sample.
        Returns True when the device's lost/answering status changed."""
        if answering:
            return self._answering(device, now, out, reported=reported)
        return self._not_answering(device, reason, now, out, reported=reported)

    def _answering(self, device: str, now: float, out: list[AlarmView], *, reported: bool) -> bool:
        """The device answers: a running on-delay ends without an alarm; an active one clears.
        A sample can only end a loss this tracker knows of; a report also clears an alarm that
        was restored active from the previous run."""
        loss = self.lost.pop(device, None)
        if loss is None and not reported:
            return False
        a = self._alarm(device)
        if a is not None and a.condition:
            # the cleared alarm reads what is true now, not the last error ("cannot connect")
            self._machine.set_condition(a, False, "answering again", now, "system", out)
        return loss is not None

    def _not_answering(self, device: str, reason: str, now: float, out: list[AlarmView],
                       *, reported: bool) -> bool:
        """Start (or continue) the device's on-delay; activate its COMM alarm once it has been
        down continuously for the delay."""
        a = self._alarm(device)
        if a is None:  # a device without a COMM alarm (none configured, or not yet)
            return self.lost.pop(device, None) is not None
        loss = self.lost.get(device)
        if a.condition:  # already raised (or restored raised): remember the loss, nothing to wait for
            if loss is None:
                t = self._mono()
                self.lost[device] = CommLoss(t, reason, t, raised=True)
                return True
            loss.raised = True
            return False
        if loss is None or loss.raised:  # a raised loss whose alarm was cleared elsewhere starts afresh
            t = self._mono()
            self.lost[device] = CommLoss(t, reason, t + self._delay(a))
            self._fire_if_due(device, a, now, out)
            self._reschedule()
            return True
        if reported:
            loss.reason = reason
        self._fire_if_due(device, a, now, out)
        return False

    def expire(self, now: float, out: list[AlarmView]) -> None:
        """Time-driven: raise the COMM alarms whose on-delay ended without further evidence."""
        for device, loss in list(self.lost.items()):
            if loss.raised:
                continue
            a = self._alarm(device)
            if a is None:  # reconfigured away
                del self.lost[device]
            elif a.condition:  # raised by something else meanwhile
                loss.raised = True
            else:
                self._fire_if_due(device, a, now, out)

    def next_due(self) -> float:
        """When (monotonic) the next on-delay ends; inf if none is running."""
        return min((loss.due for loss in self.lost.values() if not loss.raised), default=float("inf"))

    def _fire_if_due(self, device: str, a: AlarmRecord, now: float, out: list[AlarmView]) -> None:
        loss = self.lost[device]
        if self._mono() >= loss.due:
            loss.raised = True
            self._machine.set_condition(a, True, loss.reason, now, "system", out)

    def _alarm(self, device: str) -> AlarmRecord | None:
        return self._machine.alarms.get(alarm_id(device, AlarmKind.COMM))

    def _delay(self, a: AlarmRecord) -> float:
        return self.on_delay_s if a.d.on_delay_s is None else float(a.d.on_delay_s)
