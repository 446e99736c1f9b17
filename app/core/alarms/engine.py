"""The alarm engine: turns samples and device health into ISA-18.2 alarms, journals every step.

It is the facade over four parts, each in its own module:

- ``evaluation.py``: samples to conditions (limits with deadband, discrete states, BAD values,
  setpoint feedback, on/off-delays, device faults), with the per-tag fast path;
- ``comm.py``: communication health, the one path by which a device's COMM alarm is decided,
  fed by both the runtime's device reports and the samples;
- ``machine.py``: the ISA-18.2 state machine, the operator actions, suppression by design,
  shelve expiry and flood tracking;
- ``restore.py``: the previous run's states at start, checked against the journal.

Design choices worth knowing before changing anything here:

- Two clocks. Time stamps (journal bodies, history, KPIs, flood windows) use the wall ``clock``,
  read once per batch, so the journal, the history and the KPIs agree about when things
  happened. Durations (on- and off-delays, communication-loss delays, shelve expiry) use the
  ``monotonic`` clock, so a wall-clock step (NTP, a person) neither delays nor hastens an
  alarm. Tests that inject one clock drive both with it, without sleeping.
- The condition is tracked apart from the state. A shelved, suppressed or out-of-service alarm
  never annunciates, but the engine keeps evaluating its condition, so leaving suppression lands
  in the true state (UNACK_ACTIVE if the condition is present, else NORMAL) - the ISA-18.2 path
  back through normal, so an active alarm re-annunciates instead of hiding behind an old ack.
- One lock, here. Every public method takes it, reads the wall clock once and collects the
  changed alarms' views; subscriber callbacks run after the lock is released.
- Nothing waits for a disk on the core thread: the journal and the state table both have their
  own writer threads.
- Refused operator actions raise :class:`AlarmError` with a message for the operator. Role
  checks are not made here (the station's ``Actions`` do them); the ``actor`` is recorded as given.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from app.core.alarms import design
from app.core.alarms.comm import COMM_ON_DELAY_S, CommTracker
from app.core.alarms.definitions import alarm_id, plant_alarms, vital_sign_devices
from app.core.alarms.evaluation import Evaluator
from app.core.alarms.machine import CHATTER_COUNT, CHATTER_WINDOW_S, AlarmMachine, JournalLike
from app.core.alarms.record import AlarmRecord, Chatter
from app.core.alarms.restore import restore_states
from app.core.alarms.store import AlarmStore, query_events
from app.core.alarms.types import (
    AlarmDefinition,
    AlarmError,
    AlarmKind,
    AlarmQuery,
    AlarmView,
    Priority,
)
from app.core.model import Sample
from app.core.plant import Plant

__all__ = ["CHATTER_COUNT", "CHATTER_WINDOW_S", "COMM_ON_DELAY_S", "AlarmEngine", "JournalLike"]

_INF = math.inf


class AlarmEngine:
    """ISA-18.2 alarm engine. See the module docstring for the design; CONTRACTS.md for use."""

    def __init__(
        self,
        journal: JournalLike,
        state_path: str | Path,
        clock: Callable[[], float] = time.time,
        *,
        monotonic: Callable[[], float] | None = None,
        store_queue_max: int = 100_000,
        tick_interval_s: float | None = -1.0,
        comm_on_delay_s: float = COMM_ON_DELAY_S,
    ):
        """``tick_interval_s``: how often a small daemon thread runs time-driven work (shelve
        expiry, flood end, communication-loss on-delay) when no samples arrive, e.g. every
        device is down. The default (-1) means 1 s with the real clock and no thread with an
        injected clock, where the test drives time and calls :meth:`tick` itself. None disables
        the thread.

        ``comm_on_delay_s``: how long a device must be continuously not answering before its
        ``<device>:COMM`` alarm activates (a COMM definition's own ``on_delay_s`` overrides it).
        One lost reply makes the TCP driver drop the connection and the runtime report the
        device offline; that alone must not annunciate. The BAD_COMM samples still show at once.

        ``monotonic``: the clock durations are measured on; by default ``time.monotonic`` with
        the real wall clock, and the injected ``clock`` itself otherwise.
        """
        if not (isinstance(comm_on_delay_s, (int, float)) and math.isfinite(comm_on_delay_s)
                and comm_on_delay_s >= 0):
            raise AlarmError(f"comm_on_delay_s must be a number of seconds >= 0, got {comm_on_delay_s!r}")
        self._clock = clock
        if monotonic is None:
            monotonic = time.monotonic if clock is time.time else clock
        self._mono = monotonic
        self._lock = threading.RLock()
        self._store = AlarmStore(Path(state_path), queue_max=store_queue_max)
        self.sink_errors = 0  # samples that raised inside the engine (counted, never re-raised)
        self.callback_errors = 0
        self.last_error: str | None = None
        self._machine = AlarmMachine(journal, self._store, clock, monotonic, self._schedule,
                                     self._note_error)
        self._comm = CommTracker(self._machine, float(comm_on_delay_s), monotonic, self._schedule)
        self._evaluator = Evaluator(self._machine, self._comm, monotonic)
        #: (monotonic) when time-driven work is next needed
        self._next_due = _INF
        self._subscribers: list[Callable[[AlarmView], None]] = []
        self._restored = False
        if tick_interval_s is not None and tick_interval_s < 0:
            tick_interval_s = 1.0 if clock is time.time else None
        self._stop_ticker = threading.Event()
        self._ticker: threading.Thread | None = None
        if tick_interval_s:
            self._ticker = threading.Thread(
                target=self._tick_forever, args=(tick_interval_s,), name="alarm-ticker", daemon=True
            )
            self._ticker.start()
        if self._store.quarantine_note:
            self._machine.journal_append("alarm.state_quarantined", "system",
                                         {"message": self._store.quarantine_note}, critical=True)

    @property
    def comm_on_delay_s(self) -> float:
        """The default on-delay of COMM alarms (seconds)."""
        return self._comm.on_delay_s

    @property
    def chatter(self) -> Chatter:
        """An alarm that activated more than ``times`` times within ``window_s`` is flagged as
        chattering in its view."""
        return self._machine.chatter

    @chatter.setter
    def chatter(self, value: tuple[int, float]) -> None:
        self._machine.chatter = Chatter(*value)

    @property
    def journal_errors(self) -> int:
        """Journal appends that failed (counted; alarming goes on)."""
        return self._machine.journal_errors

    def _note_error(self, text: str) -> None:
        self.last_error = text

    # ------------------------------------------------------------------ configuration

    def configure(self, plant: Plant) -> None:
        """Build the plant's alarms from its profiles; on the first call also restore the state
        saved by the previous run, and say so in the journal."""
        self.set_private_devices(vital_sign_devices(plant))
        self.configure_definitions(plant_alarms(plant))

    def set_private_devices(self, devices: Iterable[str]) -> None:
        """Devices whose measured values are patient data: their alarm transitions journal a
        reference to the historian sample (``value_ref``), never the value."""
        with self._lock:
            self._machine.private_devices = frozenset(devices)

    def configure_definitions(self, definitions: Iterable[AlarmDefinition]) -> None:
        """Like :meth:`configure` for a ready list of definitions (tests, plugins)."""
        defs = list(definitions)
        out: list[AlarmView] = []
        m = self._machine
        with self._lock:
            now = self._clock()
            old = m.alarms
            new: dict[str, AlarmRecord] = {}
            for d in defs:
                if d.id in new:
                    raise AlarmError(f"alarm '{d.id}' is defined twice")
                a = old.get(d.id)
                if a is None:
                    a = AlarmRecord(d)
                else:
                    a.d = d
                new[d.id] = a
            # anomaly and station alarms come from detectors and the station, not the plant
            for aid, a in old.items():
                if a.d.kind in (AlarmKind.ANOMALY, AlarmKind.SYSTEM) and aid not in new:
                    new[aid] = a
            removed = sorted(old.keys() - new.keys())
            for aid in removed:
                self._store.delete_state(aid)
            m.alarms = new
            m.suppresses = design.dependents(a.d for a in new.values())
            self._evaluator.build(new.values())
            if not self._restored:
                self._restored = True
                restore_states(m, now)
                self._evaluator.refresh_all()
                self._schedule()
            else:
                m.journal_append(
                    "alarm.configured",
                    "system",
                    {"alarms": len(new), "added": sorted(new.keys() - old.keys())[:100],
                     "removed": removed[:100],
                     "removed_while_annunciating": [a for a in removed if old[a].state.annunciating],
                     "t": now},
                    critical=any(old[a].state.annunciating for a in removed),
                )
            for a in m.alarms.values():  # the table lists every alarm, with its definition
                self._store.put_state(a.d.id, a.to_row())
            m.n_annunciating = sum(1 for a in m.alarms.values() if a.state.annunciating)
            for cause in m.suppresses:  # a restored cause still hides what it hid
                m.design_check(cause, now, out)
            self._run_timers(now, out)
        self._notify(out)

    # ------------------------------------------------------------------ inputs

    def on_samples(self, batch: Sequence[Sample]) -> None:
        """Sample sink (core thread). Never raises: a sample that breaks evaluation is counted
        in ``sink_errors`` and the rest of the batch still runs."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            if self._mono() >= self._next_due or self._machine.drops_unreported:
                self._run_timers(now, out)
            self._evaluator.on_batch(batch, now, out, self._sample_error)
        if out:
            self._notify(out)

    def _sample_error(self, text: str) -> None:
        self.sink_errors += 1
        self.last_error = text

    def on_device_state(self, device: str, ok: bool, reason: str = "") -> None:
        """Communication health of one device (from the runtime). Raises or clears ``<device>:COMM``."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            if self._mono() >= self._next_due:
                self._run_timers(now, out)
            self._comm.observe(device, ok, reason or ("ok" if ok else "no answer"), now, out)
            self._evaluator.refresh_device(device)
        self._notify(out)

    def set_anomaly(
        self,
        source_id: str,
        active: bool,
        *,
        tag_or_device: str,
        explanation: str = "",
        priority: str | Priority = "medium",
        actor: str | None = None,
    ) -> str:
        """Raise or clear the anomaly alarm ``anomaly:<source_id>`` (created on first use).
        Returns the alarm id. Detectors latch and debounce; the engine takes them at their word."""
        aid = alarm_id(source_id, AlarmKind.ANOMALY)
        prio = Priority.parse(priority)
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            alarms = self._machine.alarms
            a = alarms.get(aid)
            device = tag_or_device.split(".", 1)[0]
            d = AlarmDefinition(
                id=aid,
                kind=AlarmKind.ANOMALY,
                priority=prio,
                source=tag_or_device,
                device=device,
                description=f"{tag_or_device}: behaves unlike its normal operation",
            )
            if a is None:
                a = alarms[aid] = AlarmRecord(d)
            elif a.d != d:
                a.d = d
            if active:
                a.explanation = explanation or a.explanation
            self._machine.set_condition(a, bool(active), explanation or None, now,
                                        actor or f"detector:{source_id}", out)
        self._notify(out)
        return aid

    def set_system_condition(
        self,
        name: str,
        active: bool,
        *,
        message: str,
        priority: str | Priority = "high",
        actor: str = "system",
    ) -> str:
        """Raise or clear the technical alarm ``station.<name>:SYSTEM`` (created on first use).

        For conditions of the station itself that an operator must see in the alarm list, not
        only in a log: the disk filling up, a burst of failed log-ins. Returns the alarm id."""
        source = f"station.{name}"
        aid = alarm_id(source, AlarmKind.SYSTEM)
        prio = Priority.parse(priority)
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            alarms = self._machine.alarms
            a = alarms.get(aid)
            d = AlarmDefinition(
                id=aid, kind=AlarmKind.SYSTEM, priority=prio, source=source,
                device="station", description=message,
            )
            if a is None:
                a = alarms[aid] = AlarmRecord(d)
            elif a.d != d:
                a.d = d
            self._machine.set_condition(a, bool(active), message if active else None, now, actor, out)
        self._notify(out)
        return aid

    def tick(self) -> None:
        """Run time-driven work now: shelve expiry, flood end, COMM on-delays. ``on_samples`` does this too;
        call it from a timer when samples may stop (all devices down)."""
        out: list[AlarmView] = []
        with self._lock:
            self._run_timers(self._clock(), out)
        self._notify(out)

    # ------------------------------------------------------------------ operator actions

    def acknowledge(self, alarm_id: str, actor: str) -> AlarmView:
        """Acknowledge one alarm. Refused (AlarmError) unless it is waiting for acknowledgement."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            self._machine.acknowledge(a, actor, now, out)
            view = self._view(a)
        self._notify(out)
        return view

    def acknowledge_all(self, alarm_ids: Iterable[str] | None, actor: str) -> list[str]:
        """Acknowledge every listed alarm (all alarms if None) that is waiting for it; the rest
        are skipped, not refused, so "acknowledge page" never fails half-way. Returns the ids
        acknowledged. Unknown ids are refused before anything is acknowledged."""
        out: list[AlarmView] = []
        done: list[str] = []
        with self._lock:
            now = self._clock()
            targets = (list(self._machine.alarms.values()) if alarm_ids is None
                       else [self._get(i) for i in alarm_ids])
            for a in targets:
                if a.state.needs_ack:
                    self._machine.acknowledge(a, actor, now, out)
                    done.append(a.d.id)
        self._notify(out)
        return done

    def shelve(self, alarm_id: str, actor: str, reason: str, until_ts: float) -> AlarmView:
        """Shelve an alarm until ``until_ts`` (epoch seconds). A reason is required. Shelving a
        shelved alarm again changes its reason and expiry."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            self._machine.shelve(a, actor, reason, until_ts, now, out)
            view = self._view(a)
        self._notify(out)
        return view

    def unshelve(self, alarm_id: str, actor: str) -> AlarmView:
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            if a.shelved is None:
                raise AlarmError(f"alarm '{alarm_id}' is not shelved")
            self._machine.unshelve(a, actor, now, "by operator", out)
            view = self._view(a)
        self._notify(out)
        return view

    def set_out_of_service(self, alarm_id: str, actor: str, on: bool, reason: str) -> AlarmView:
        """Take an alarm out of service (maintenance) or return it to service."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            self._machine.set_out_of_service(a, actor, on, reason, now, out)
            view = self._view(a)
        self._notify(out)
        return view

    def set_suppressed_by_design(self, alarm_id: str, actor: str, on: bool, reason: str) -> AlarmView:
        """Suppress by design (e.g. low-flow while the pump is stopped on purpose), or lift it."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            self._machine.set_suppressed(a, actor, on, reason, now, out)
            view = self._view(a)
        self._notify(out)
        return view

    def set_off_delay(self, alarm_id: str, actor: str, seconds: float) -> AlarmView:
        """Give an alarm an off-delay (it clears only after its condition has been gone this
        long) from the window, e.g. for a chattering alarm. Journaled; kept across restarts
        in the state table."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            self._machine.set_off_delay(a, actor, seconds, now)
            view = self._view(a)
            out.append(view)
        self._notify(out)
        return view

    # ------------------------------------------------------------------ reading

    def alarms(self) -> list[AlarmView]:
        """Every alarm's current state (configured order; anomaly alarms after the plant's)."""
        with self._lock:
            return [self._view(a) for a in self._machine.alarms.values()]

    def alarm(self, alarm_id: str) -> AlarmView:
        with self._lock:
            return self._view(self._get(alarm_id))

    def subscribe(self, callback: Callable[[AlarmView], None]) -> Callable[[], None]:
        """Call ``callback(view)`` for each alarm that changes, on the thread that changed it
        (the core thread for samples), after the engine's lock is released. Exceptions from the
        callback are counted in ``callback_errors``, never propagated. Returns an unsubscriber."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    @property
    def in_flood(self) -> bool:
        """More than 10 new alarms in the last 10 minutes (until fewer than 5)."""
        self.tick()
        with self._lock:
            return self._machine.stats.in_flood

    def kpis(self, window_s: float = 24 * 3600.0) -> dict[str, Any]:
        """Alarm-system health over the last ``window_s``: rates, flood time, chattering,
        stale and the top-10 bad actors."""
        self.tick()
        with self._lock:
            now = self._clock()
            alarms = self._machine.alarms
            active = {
                a.d.id: a.active_since
                for a in alarms.values()
                if a.condition and a.active_since is not None and a.state.annunciating
            }
            k = self._machine.stats.kpis(now, active, window_s)
            k["configured"] = len(alarms)
            k["annunciating"] = sum(1 for a in alarms.values() if a.state.annunciating)
            k["unacknowledged"] = sum(1 for a in alarms.values() if a.state.needs_ack)
            k["shelved"] = sum(1 for a in alarms.values() if a.shelved)
            k["out_of_service"] = sum(1 for a in alarms.values() if a.oos)
            k["suppressed"] = sum(1 for a in alarms.values() if a.suppressed)
            return k

    def history(self, query: AlarmQuery | None = None) -> list[dict[str, Any]]:
        """Alarm events (transitions and operator actions) matching ``query``, oldest first.
        Waits briefly for queued writes so the answer includes what just happened; call it off
        the GUI thread."""
        self._store.flush(timeout=5.0)
        return query_events(self._store.path, query or AlarmQuery())

    @property
    def state_path(self) -> Path:
        return self._store.path

    @property
    def store_dropped(self) -> int:
        return self._store.dropped

    @property
    def store_held(self) -> int:
        """Alarm-history writes the disk refused, kept in memory until it takes them."""
        return self._store.stats().held

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the state table holds everything so far (the journal has its own flush)."""
        return self._store.flush(timeout)

    def close(self) -> None:
        """Stop the ticker and flush the state table (the journal is closed by its owner)."""
        self._stop_ticker.set()
        if self._ticker is not None:
            self._ticker.join(5.0)
        self._store.close()

    def _tick_forever(self, interval: float) -> None:
        while not self._stop_ticker.wait(interval):
            try:
                if self._mono() >= self._next_due:
                    self.tick()
            except Exception as e:  # never let the ticker die silently
                self.last_error = f"ticker: {type(e).__name__}: {e}"

    # ------------------------------------------------------------------ internals

    def _view(self, a: AlarmRecord) -> AlarmView:
        return self._machine.view(a)

    def _get(self, aid: str) -> AlarmRecord:
        return self._machine.get(aid)

    def _run_timers(self, now: float, out: list[AlarmView]) -> None:
        """Time-driven work, in this order: shelves expire, COMM on-delays end, the flood
        window moves (so an alarm raised now counts in it), drops are reported."""
        self._machine.expire_shelves(now, out)
        self._comm.expire(now, out)
        self._machine.advance(now)
        self._schedule()

    def _schedule(self) -> None:
        """``_next_due`` (monotonic): when time-driven work is next needed."""
        self._next_due = min(self._machine.next_due(), self._comm.next_due())

    def _notify(self, views: list[AlarmView]) -> None:
        if not views:
            return
        for cb in list(self._subscribers):
            for v in views:
                try:
                    cb(v)
                except Exception as e:
                    self.callback_errors += 1
                    self.last_error = f"subscriber: {type(e).__name__}: {e}"
