"""The ISA-18.2 state machine of every alarm, and the operator actions that move it.

Everything that changes an alarm's state goes through here: a condition coming or going
(:meth:`AlarmMachine.set_condition`, from evaluation, communication tracking, detectors and the
station's own technical conditions), acknowledgement, shelving, out of service, suppression by
hand and by design. Each step is journaled before it is applied, written to the state table and
handed back as an :class:`AlarmView` in the caller's ``out`` list, so the engine can notify
subscribers once its lock is released.

The machine does not lock, read the clock for time stamps, or notify: the engine does those
once per call, so one batch of samples has one time stamp and one notification pass.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from app.core.alarms import design
from app.core.alarms.kpis import AlarmStatistics, FloodChange
from app.core.alarms.record import SYSTEM, AlarmRecord, Chatter, Shelf, Suppression, jsonable
from app.core.alarms.store import AlarmStore, EventRow
from app.core.alarms.types import LEGAL_TRANSITIONS, AlarmError, AlarmKind, AlarmState, AlarmView
from app.core.model import Value

S = AlarmState
#: an alarm that activates more than this many times ...
CHATTER_COUNT = 3
#: ... within this many seconds is flagged as chattering in the window
CHATTER_WINDOW_S = 600.0
#: kinds whose ``value`` is a communication reason, never a measured value
_VALUE_FREE_KINDS = frozenset({AlarmKind.COMM, AlarmKind.DEVICE, AlarmKind.SYSTEM})


class JournalLike(Protocol):
    """What the engine needs from the journal (``app.core.journal.Journal`` fits)."""

    def append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None: ...


class ShelfExpiry(NamedTuple):
    """One shelve's expiry in the timer heap (ordered by ``due``)."""

    due: float  #: monotonic clock
    until: float  #: the shelve's wall-clock ``until``: a re-shelved alarm leaves a stale entry
    alarm: str


class AlarmMachine:
    """Every alarm's record, its legal transitions, the operator actions and flood tracking.

    The caller holds the engine's lock around every method and passes ``now`` (wall clock, one
    per batch) and ``out`` (the views to notify)."""

    def __init__(
        self,
        journal: JournalLike,
        store: AlarmStore,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        reschedule: Callable[[], None],
        note_error: Callable[[str], None],
    ) -> None:
        self.journal = journal
        self.store = store
        self._clock = clock
        self._mono = monotonic
        #: called when time-driven work may be due earlier than planned (the engine's timer)
        self._reschedule = reschedule
        #: the engine's ``last_error``: the journal's failures are told there, never raised
        self._note_error = note_error
        self.alarms: dict[str, AlarmRecord] = {}
        #: suppression by design: cause alarm id -> alarm ids it suppresses
        self.suppresses: dict[str, list[str]] = {}
        self.n_annunciating = 0
        self.chatter = Chatter(CHATTER_COUNT, CHATTER_WINDOW_S)
        self.stats = AlarmStatistics(clock())
        self.shelf_heap: list[ShelfExpiry] = []
        self._drops_reported = 0
        self.journal_errors = 0
        #: devices whose values are patient data (``alarm_signals = "medical"``): the journal,
        #: which retention never deletes, gets a reference to the historian sample instead of
        #: the value, so the historian's retention can delete it; the store keeps the value
        self.private_devices: frozenset[str] = frozenset()

    # ------------------------------------------------------------------ lookup and views

    def view(self, a: AlarmRecord) -> AlarmView:
        return a.view(self.chatter)

    def get(self, aid: str) -> AlarmRecord:
        a = self.alarms.get(aid)
        if a is None:
            raise AlarmError(f"unknown alarm '{aid}'")
        return a

    # ------------------------------------------------------------------ conditions

    def set_condition(
        self, a: AlarmRecord, active: bool, value: Value, now: float, actor: str, out: list[AlarmView]
    ) -> None:
        """The alarm's condition is (or is no longer) present: move its state accordingly."""
        if active == a.condition:
            if active and value is not None and a.d.kind is AlarmKind.ANOMALY:
                a.value = value
            return
        a.condition = active
        a.value = value
        a.active_since = now if active else None
        st = a.state
        if st.is_suppressed:
            # tracked, never annunciated; the state table keeps the truth for unshelving, and
            # the history shows what the suppressed alarm saw
            self.store.put_state(a.d.id, a.to_row())
            self.store.put_event(
                EventRow(now, a.d.id, a.d.source, a.d.device, a.d.priority.label,
                         "condition", str(st), str(st), jsonable(value), jsonable(a.d.limit), actor,
                         {"active": active, "while": str(st)})
            )
        elif active:
            if st in (S.NORMAL, S.UNACK_RTN):
                self.transition(a, S.UNACK_ACTIVE, actor, now, "condition", out)
        elif st is S.UNACK_ACTIVE:
            self.transition(a, S.UNACK_RTN, actor, now, "condition", out)
        elif st is S.ACK_ACTIVE:
            self.transition(a, S.NORMAL, actor, now, "condition", out)
        if a.d.id in self.suppresses:
            self.design_check(a.d.id, now, out)

    def design_check(self, cause_id: str, now: float, out: list[AlarmView]) -> None:
        """Apply or lift suppression by design for the alarms ``cause_id`` suppresses."""
        for dep_id in self.suppresses.get(cause_id, ()):
            dep = self.alarms.get(dep_id)
            if dep is None:
                continue
            active = [c for c in design.suppressors(dep.d)
                      if (ca := self.alarms.get(c)) is not None and ca.condition]
            if active and dep.suppressed is None:
                why = design.reason(self.alarms[active[0]].d)
                self.action(dep, "alarm.suppress", SYSTEM, now, {"reason": why, "by_design": active[0]})
                dep.suppressed = Suppression(SYSTEM, why, active[0])
                self.apply_suppression(dep, SYSTEM, now, "suppressed by design", out)
            elif not active and dep.suppressed is not None and dep.suppressed.by_design:
                self.action(dep, "alarm.unsuppress", SYSTEM, now,
                            {"reason": "by design: its cause cleared", "by_design": cause_id})
                dep.suppressed = None
                self.apply_suppression(dep, SYSTEM, now, "cause cleared", out)

    # ------------------------------------------------------------------ operator actions

    def acknowledge(self, a: AlarmRecord, actor: str, now: float, out: list[AlarmView]) -> None:
        st = a.state
        if st is S.UNACK_ACTIVE:
            to = S.ACK_ACTIVE
        elif st is S.UNACK_RTN:
            to = S.NORMAL
        elif st is S.ACK_ACTIVE:
            raise AlarmError(
                f"alarm '{a.d.id}' was already acknowledged by {a.acked_by} "
                f"at {_fmt_time(a.acked_at)}"
            )
        elif st is S.NORMAL:
            raise AlarmError(f"alarm '{a.d.id}' is normal: there is nothing to acknowledge")
        else:
            raise AlarmError(f"alarm '{a.d.id}' is {st.value.replace('_', ' ')}: it is not annunciating")
        need_actor(actor)
        self.action(a, "alarm.ack", actor, now, {"to": str(to)})
        a.acked_by, a.acked_at = actor, now
        self.transition(a, to, actor, now, "ack", out)

    def shelve(self, a: AlarmRecord, actor: str, reason: str, until_ts: float, now: float,
               out: list[AlarmView]) -> None:
        reason = need_reason(reason, "shelve", a.d.id)
        if not (isinstance(until_ts, (int, float)) and math.isfinite(until_ts)) or until_ts <= now:
            raise AlarmError(f"cannot shelve '{a.d.id}': the expiry must be in the future")
        self.action(a, "alarm.shelve", actor, now, {"reason": reason, "until": float(until_ts)},
                    critical=True)
        a.shelved = Shelf(actor, reason, float(until_ts), now)
        self.push_shelf(float(until_ts), a.d.id, now)
        self.apply_suppression(a, actor, now, "shelve", out)
        self._reschedule()

    def unshelve(self, a: AlarmRecord, actor: str, now: float, why: str, out: list[AlarmView]) -> None:
        self.action(a, "alarm.unshelve", actor, now, {"reason": why})
        a.shelved = None
        self.apply_suppression(a, actor, now, "unshelve", out)

    def set_out_of_service(self, a: AlarmRecord, actor: str, on: bool, reason: str, now: float,
                           out: list[AlarmView]) -> None:
        reason = need_reason(reason, "take out of service" if on else "return to service", a.d.id)
        if on == (a.oos is not None):
            raise AlarmError(f"alarm '{a.d.id}' is already {'out of' if on else 'in'} service")
        kind = "alarm.out_of_service" if on else "alarm.return_to_service"
        self.action(a, kind, actor, now, {"reason": reason}, critical=True)
        a.oos = Suppression(actor, reason) if on else None
        self.apply_suppression(a, actor, now, kind.removeprefix("alarm."), out)

    def set_suppressed(self, a: AlarmRecord, actor: str, on: bool, reason: str, now: float,
                       out: list[AlarmView]) -> None:
        reason = need_reason(reason, "suppress" if on else "unsuppress", a.d.id)
        if on == (a.suppressed is not None):
            raise AlarmError(f"alarm '{a.d.id}' is already {'suppressed' if on else 'not suppressed'}")
        kind = "alarm.suppress" if on else "alarm.unsuppress"
        self.action(a, kind, actor, now, {"reason": reason}, critical=True)
        a.suppressed = Suppression(actor, reason) if on else None
        self.apply_suppression(a, actor, now, kind.removeprefix("alarm."), out)

    def set_off_delay(self, a: AlarmRecord, actor: str, seconds: float, now: float) -> None:
        if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 <= seconds <= 3600):
            raise AlarmError(f"cannot set the off-delay of '{a.d.id}': give 0 to 3600 seconds")
        self.action(a, "alarm.off_delay", actor, now,
                    {"seconds": float(seconds), "was": a.off_delay_s}, critical=True)
        a.off_delay_override = float(seconds)
        self.store.put_state(a.d.id, a.to_row())

    # ------------------------------------------------------------------ transitions

    def apply_suppression(
        self, a: AlarmRecord, actor: str, now: float, cause: str, out: list[AlarmView]
    ) -> None:
        """Move to the state the suppression flags and the tracked condition call for."""
        target = a.suppression()
        if target is None:
            if not a.state.is_suppressed:
                self.store.put_state(a.d.id, a.to_row())
                out.append(self.view(a))
                return
            target = S.UNACK_ACTIVE if a.condition else S.NORMAL
        if target != a.state:
            self.transition(a, target, actor, now, cause, out)
        else:
            self.store.put_state(a.d.id, a.to_row())
            out.append(self.view(a))

    def transition(
        self, a: AlarmRecord, to: AlarmState, actor: str, now: float, cause: str, out: list[AlarmView]
    ) -> None:
        frm = a.state
        if (frm, to) not in LEGAL_TRANSITIONS:  # a bug in the engine, never an operator error
            raise RuntimeError(f"alarm engine bug: illegal transition {frm} -> {to} for {a.d.id}")
        a.state = to
        a.last_change = now
        self.n_annunciating += int(to.annunciating) - int(frm.annunciating)
        if to is S.UNACK_ACTIVE:
            a.acked_by = a.acked_at = None
            a.activations.append(now)
            if not frm.annunciating:
                a.episode_start = now
        elif not to.annunciating:
            a.episode_start = None
        value = jsonable(a.value)
        limit = jsonable(a.d.limit)
        self.journal_append(
            "alarm.transition",
            actor,
            {
                "alarm": a.d.id,
                "from": str(frm),
                "to": str(to),
                **self.journal_value(a, value, now),
                "limit": limit,
                "priority": a.d.priority.label,
                "source": a.d.source,
                "cause": cause,
                "t": now,
            },
        )
        self.store.put_event(
            EventRow(now, a.d.id, a.d.source, a.d.device, a.d.priority.label, "transition",
                     str(frm), str(to), value, limit, actor, {"cause": cause})
        )
        self.store.put_state(a.d.id, a.to_row())
        out.append(self.view(a))
        if to is S.UNACK_ACTIVE:
            for change in self.stats.activation(a.d.id, now):
                self.flood(change)
            self._reschedule()
        elif self.n_annunciating == 0 and self.stats.in_flood:
            # nothing left on the list: the flood is over, whatever the 10-minute count says
            ended = self.stats.end_flood(now)
            if ended is not None:
                self.flood(ended)
            self._reschedule()

    def action(self, a: AlarmRecord, kind: str, actor: str, now: float, body: dict[str, Any],
               *, critical: bool = False) -> None:
        """Journal an operator action on an alarm (before the transition it causes)."""
        need_actor(actor)
        full = {"alarm": a.d.id, "state": str(a.state), "priority": a.d.priority.label,
                "source": a.d.source, "t": now, **body}
        self.journal_append(kind, actor, full, critical=critical)
        self.store.put_event(
            EventRow(now, a.d.id, a.d.source, a.d.device, a.d.priority.label,
                     kind.removeprefix("alarm."), str(a.state), None, None, None, actor, body)
        )

    def journal_value(self, a: AlarmRecord, value: Value, now: float) -> dict[str, Any]:
        """The value part of a journaled transition: the value itself, or for a vital-signs
        device a reference to it, ``value_ref``: the historian's last sample of ``tag`` at or
        before ``t`` (anomaly explanations quote values too, so they are referenced the same
        way). Communication reasons are no measurement and stay."""
        if a.d.device in self.private_devices and a.d.kind not in _VALUE_FREE_KINDS:
            return {"value_ref": {"tag": a.d.source, "t": now}}
        return {"value": value}

    # ------------------------------------------------------------------ time-driven work

    def push_shelf(self, until_ts: float, alarm: str, now: float) -> None:
        """Expire a shelve after the time left now, counted on the monotonic clock."""
        heapq.heappush(self.shelf_heap, ShelfExpiry(self._mono() + (until_ts - now), until_ts, alarm))

    def expire_shelves(self, now: float, out: list[AlarmView]) -> None:
        """Unshelve what has expired (on the monotonic clock)."""
        heap = self.shelf_heap
        mono = self._mono()
        while heap and heap[0].due <= mono:
            entry = heapq.heappop(heap)
            a = self.alarms.get(entry.alarm)
            if a is not None and a.shelved is not None and a.shelved.until == entry.until:
                self.unshelve(a, "system", now, "shelve expired", out)

    def advance(self, now: float) -> None:
        """End a flood whose window has passed; report state-table drops."""
        for change in self.stats.advance_until(now):
            self.flood(change)
        self.report_drops(now)

    def next_due(self) -> float:
        """When (monotonic) a shelve expires or the flood window next moves; inf if never."""
        due = self.shelf_heap[0].due if self.shelf_heap else math.inf
        if self.stats.in_flood:
            edge = self.stats.next_window_edge()  # a wall-clock window edge
            if edge is not None:
                due = min(due, self._mono() + (edge - self._clock()))
        return due

    @property
    def drops_unreported(self) -> bool:
        return self.store.dropped != self._drops_reported

    def report_drops(self, now: float) -> None:
        """Say in the journal when the state-table writer could not keep up. Nothing is lost
        for good: the journal holds every transition and the next start rebuilds from it."""
        dropped = self.store.dropped
        if dropped != self._drops_reported:
            self.journal_append(
                "system.dropped",
                "system",
                {"what": "alarm state-table writes", "count": dropped - self._drops_reported,
                 "total": dropped, "file": str(self.store.path), "t": now},
                critical=True,
            )
            self._drops_reported = dropped

    def flood(self, change: FloodChange) -> None:
        self.journal_append(
            "alarm.flood",
            "system",
            {"active": change.active, "new_alarms_10min": change.count, "t": change.t},
            critical=change.active,
        )

    def journal_append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None:
        try:
            self.journal.append(kind, actor, body, critical=critical)
        except Exception as e:  # a closed or broken journal must not stop alarming
            self.journal_errors += 1
            self._note_error(f"journal: {e}")


def need_reason(reason: str, what: str, aid: str) -> str:
    r = (reason or "").strip()
    if not r:
        raise AlarmError(f"cannot {what} '{aid}' without a reason")
    return r


def need_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise AlarmError("an alarm action needs the name of who takes it")


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
