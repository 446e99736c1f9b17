"""Alarm evaluation: from one tag's samples to its alarms' conditions.

Limits (with deadband), discrete states, unusable values (BAD), setpoint feedback, on- and
off-delays, and device faults (every read of a device refused) are decided here; the resulting
condition changes go to the state machine (:class:`~app.core.alarms.machine.AlarmMachine`).
A sample's communication evidence (BAD_COMM: no answer; GOOD: it answered) is handed to the
:class:`~app.core.alarms.comm.CommTracker`, which alone decides COMM alarms.

Fast path first: ``on_samples`` sees every sample of the plant (100,000/s for 10,000 tags at
10 Hz), so a tag whose value sits inside its limits with nothing pending costs one dict lookup
and two comparisons (:meth:`Watch.update`); everything else goes to :meth:`Evaluator.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from app.core.alarms.comm import NO_ANSWER_BY_SAMPLES, CommTracker
from app.core.alarms.definitions import HIGH_KINDS, alarm_id
from app.core.alarms.machine import AlarmMachine
from app.core.alarms.record import SYSTEM, AlarmRecord
from app.core.alarms.types import AlarmKind, AlarmView
from app.core.model import Quality, Sample, Value

_GOOD = Quality.GOOD
_BAD_COMM = Quality.BAD_COMM
_BAD_DEVICE = Quality.BAD_DEVICE
_UNCERTAIN = Quality.UNCERTAIN
_INF = math.inf


class LimitAlarm(NamedTuple):
    """One limit alarm of a tag, and which way it trips."""

    alarm: AlarmRecord
    high: bool


class RefusedRead(NamedTuple):
    """A BAD_DEVICE sample of one batch, decided after the batch: device fault or point fault."""

    watch: Watch
    quality: Quality


class Watch:
    """Evaluates the alarms of one tag from its samples."""

    __slots__ = ("bad", "busy", "device", "discrete", "evaluator", "follow", "high_edge", "limits",
                 "low_edge", "tag")

    def __init__(self, evaluator: Evaluator, tag: str, device: str):
        self.evaluator = evaluator
        self.tag = tag
        self.device = device
        self.limits: list[LimitAlarm] = []
        self.discrete: AlarmRecord | None = None
        self.bad: AlarmRecord | None = None
        #: FEEDBACK alarms this tag takes part in (as setpoint or as feedback)
        self.follow: list[AlarmRecord] = []
        self.low_edge = -_INF  # values strictly between the edges cannot raise a limit alarm
        self.high_edge = _INF
        self.busy = True  # something is active or pending: take the slow path

    def update(self, s: Sample, now: float, out: list[AlarmView]) -> None:
        if not self.busy and s.quality is _GOOD:
            try:
                if self.low_edge < s.value < self.high_edge:  # type: ignore[operator]
                    return
            except TypeError:  # not a number: the slow path says so with a BAD alarm
                pass
        self.evaluator.evaluate(self, s, now, out)


class Evaluator:
    """The watched tags of the plant and the decisions made from their samples.

    The caller holds the engine's lock, and calls :meth:`settle` after every batch."""

    def __init__(self, machine: AlarmMachine, comm: CommTracker, monotonic: Callable[[], float]) -> None:
        self._machine = machine
        self._comm = comm
        self._mono = monotonic
        self.watches: dict[str, Watch] = {}
        self._device_watches: dict[str, list[Watch]] = {}
        #: devices answering with exceptions only (their DEVICE alarm is raised)
        self._faulty: set[str] = set()
        #: one batch's BAD_DEVICE samples, decided after the batch (device fault or point fault)
        self._deferred: list[RefusedRead] = []
        #: faulty devices that answered with a good value in this batch
        self._recovered: set[str] = set()
        #: last good numeric value of tags that take part in FEEDBACK alarms
        self._follow_values: dict[str, float] = {}

    # ------------------------------------------------------------------ configuration

    def build(self, alarms: Iterable[AlarmRecord]) -> None:
        """Watches for every tag that has sample-driven alarms."""
        watches: dict[str, Watch] = {}
        for a in alarms:
            k = a.d.kind
            if k in (AlarmKind.COMM, AlarmKind.DEVICE, AlarmKind.ANOMALY, AlarmKind.SYSTEM):
                continue
            if k is AlarmKind.FEEDBACK:
                for tag in (a.d.source, a.d.feedback or ""):
                    fw = watches.get(tag)
                    if fw is None:
                        fw = watches[tag] = Watch(self, tag, a.d.device)
                    fw.follow.append(a)
                continue
            w = watches.get(a.d.source)
            if w is None:
                w = watches[a.d.source] = Watch(self, a.d.source, a.d.device)
            if k is AlarmKind.STATE:
                w.discrete = a
            elif k is AlarmKind.BAD:
                w.bad = a
            else:
                high = k in HIGH_KINDS
                w.limits.append(LimitAlarm(a, high))
                limit = float(a.d.limit)  # type: ignore[arg-type]
                if high:
                    w.high_edge = min(w.high_edge, limit)
                else:
                    w.low_edge = max(w.low_edge, limit)
        for w in watches.values():
            # the outer limit first, so that a jump past both suppresses HI before it can sound
            w.limits.sort(key=lambda la: la.alarm.d.kind not in (AlarmKind.HIHI, AlarmKind.LOLO))
            if w.discrete is not None:  # a bool point has no analog fast path
                w.low_edge, w.high_edge = _INF, -_INF
            self.refresh_busy(w)
        self.watches = watches
        self._device_watches = {}
        for w in watches.values():
            self._device_watches.setdefault(w.device, []).append(w)

    # ------------------------------------------------------------------ samples

    def on_batch(self, batch: Sequence[Sample], now: float, out: list[AlarmView],
                 on_error: Callable[[str], None]) -> None:
        """Evaluate one batch. One sample that raises is told to ``on_error`` and the rest of
        the batch still runs."""
        get = self.watches.get
        for s in batch:
            w = get(s.tag)
            if w is None:
                continue
            try:
                w.update(s, now, out)
            except Exception as e:  # one bad sample must not stop the batch or the runtime
                on_error(f"{s.tag}: {type(e).__name__}: {e}")
        if self._deferred or self._recovered:
            try:
                self._settle_device_faults(batch, now, out)
            except Exception as e:
                on_error(f"device faults: {type(e).__name__}: {e}")
            finally:
                self._deferred.clear()
                self._recovered.clear()

    def refresh_device(self, device: str) -> None:
        """Recompute whether ``device``'s tags need the slow path (after a change of its health)."""
        for w in self._device_watches.get(device, ()):
            self.refresh_busy(w)

    def refresh_all(self) -> None:
        for w in self.watches.values():
            self.refresh_busy(w)

    def refresh_busy(self, w: Watch) -> None:
        w.busy = (
            self._comm.is_lost(w.device)
            or w.device in self._faulty
            or bool(w.follow)
            or any(la.alarm.condition or la.alarm.pending_since is not None for la in w.limits)
            or (w.discrete is not None)
            or (w.bad is not None and w.bad.condition)
        )

    def evaluate(self, w: Watch, s: Sample, now: float, out: list[AlarmView]) -> None:
        """The slow path for one sample of one watched tag."""
        q = s.quality
        if q is _BAD_COMM:
            # A dead link is the device's alarm (after its on-delay); the tag's own alarms hold
            # their last state.
            if not self._comm.settled(w.device) and self._comm.observe(
                    w.device, False, NO_ANSWER_BY_SAMPLES, now, out, reported=False):
                self.refresh_device(w.device)  # so the first GOOD sample is seen and ends it
            return
        if q is _UNCERTAIN:
            return  # a held value: neither proof of trouble nor of recovery
        if q is _GOOD and self._comm.is_lost(w.device):
            self._comm.observe(w.device, True, "answering again", now, out, reported=False)
            self.refresh_device(w.device)
        if q is _GOOD and w.device in self._faulty:
            self._recovered.add(w.device)  # decided after the batch, once its points are settled
        v = s.value
        if q is _BAD_DEVICE:
            # a device fault (every read refused) or this point's fault: the batch decides
            if w.bad is not None and not w.bad.condition:
                self._deferred.append(RefusedRead(w, q))
            w.busy = True
            return
        set_condition = self._machine.set_condition
        if q is not _GOOD:
            if w.bad is not None and not w.bad.condition:
                set_condition(w.bad, True, q.name, now, SYSTEM, out)
                w.busy = True
            return
        if w.discrete is not None:
            if not isinstance(v, (bool, int)):
                self._bad_value(w, v, now, out)
                return
            self._clear_bad(w, now, out)
            a = w.discrete
            self._delayed(a, bool(v) == a.d.limit, v, now, out)
            return
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self._bad_value(w, v, now, out)
            return
        self._clear_bad(w, now, out)
        if w.limits:
            raws = []
            for a, high in w.limits:
                lim = a.d.limit
                if high:
                    raw = v >= (lim - a.d.deadband if a.condition else lim)  # type: ignore[operator]
                else:
                    raw = v <= (lim + a.d.deadband if a.condition else lim)  # type: ignore[operator]
                raws.append((a, raw))
            # clearing inner limits first and raising outer ones first keeps suppression by
            # design exact: HI never sounds for an instant on the way up past HIHI, nor on
            # the way down from it
            for a, raw in reversed(raws):
                if not raw:
                    self._delayed(a, raw, v, now, out)
            for a, raw in raws:
                if raw:
                    self._delayed(a, raw, v, now, out)
        if w.follow:
            self._follow(w, float(v), now, out)
        self.refresh_busy(w)

    # ------------------------------------------------------------------ decisions

    def _delayed(self, a: AlarmRecord, raw: bool, v: Value, now: float, out: list[AlarmView]) -> None:
        """Apply the on-delay: a rising condition must hold for ``on_delay_s`` to count (and
        the off-delay: a falling one for ``off_delay_s``)."""
        if raw == a.condition:
            a.pending_since = None
            a.off_pending_since = None
            return
        if not raw and a.off_delay_s:
            t = self._mono()
            if a.off_pending_since is None:
                a.off_pending_since = t
                return
            if t - a.off_pending_since < a.off_delay_s:
                return
        a.off_pending_since = None
        if raw and a.d.on_delay_s:
            t = self._mono()
            if a.pending_since is None:
                a.pending_since = t
                return
            if t - a.pending_since < a.d.on_delay_s:
                return
        a.pending_since = None
        self._machine.set_condition(a, raw, v, now, SYSTEM, out)

    def _bad_value(self, w: Watch, v: Value, now: float, out: list[AlarmView]) -> None:
        if w.bad is not None and not w.bad.condition:
            self._machine.set_condition(w.bad, True, f"unusable value {v!r}"[:80], now, SYSTEM, out)
        w.busy = True

    def _clear_bad(self, w: Watch, now: float, out: list[AlarmView]) -> None:
        if w.bad is not None and w.bad.condition:
            self._machine.set_condition(w.bad, False, "good", now, SYSTEM, out)

    def _follow(self, w: Watch, v: float, now: float, out: list[AlarmView]) -> None:
        """FEEDBACK alarms: does the process value follow its setpoint (within the tolerance,
        after the alarm's on-delay, which is the time it may take)?"""
        self._follow_values[w.tag] = v
        for a in w.follow:
            sp = self._follow_values.get(a.d.source)
            fb = self._follow_values.get(a.d.feedback or "")
            if sp is None or fb is None:
                continue
            tol = float(a.d.limit)  # type: ignore[arg-type]
            raw = abs(fb - sp) > (tol - a.d.deadband if a.condition else tol)
            self._delayed(a, raw, fb, now, out)

    def _settle_device_faults(self, batch: Sequence[Sample], now: float, out: list[AlarmView]) -> None:
        """After a batch: a device whose every watched sample in it was refused (exception
        responses) has a device fault - one DEVICE alarm, its points' BAD alarms suppressed by
        design. A device with a fault that answered with a good value again has recovered.
        Point faults (one NaN among good values) raise the point's own BAD alarm."""
        refused = {r.watch.device for r in self._deferred}
        if refused:
            get = self.watches.get
            answered = set()
            for s in batch:
                if s.quality is _GOOD:
                    w = get(s.tag)
                    if w is not None and w.device in refused:
                        answered.add(w.device)
            for device in refused - answered:
                self._device_fault(device, True, now, out)
        for device in self._recovered - refused:
            self._device_fault(device, False, now, out)
        for r in self._deferred:
            bad = r.watch.bad
            if bad is not None and not bad.condition:
                self._machine.set_condition(bad, True, r.quality.name, now, SYSTEM, out)

    def _device_fault(self, device: str, on: bool, now: float, out: list[AlarmView]) -> None:
        a = self._machine.alarms.get(alarm_id(device, AlarmKind.DEVICE))
        if on:
            self._faulty.add(device)
        else:
            self._faulty.discard(device)
        if a is not None:
            self._machine.set_condition(
                a, on, "refuses reads (exception responses)" if on else "answering again", now, SYSTEM, out)
        for w in self._device_watches.get(device, ()):
            self.refresh_busy(w)
            if on:
                w.busy = True
