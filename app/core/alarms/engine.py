"""The alarm engine: turns samples and device health into ISA-18.2 alarms, journals every step.

Design choices worth knowing before changing anything here:

- Two clocks. Time stamps (journal bodies, history, KPIs, flood windows) use the wall ``clock``,
  read once per batch, so the journal, the history and the KPIs agree about when things
  happened. Durations (on- and off-delays, communication-loss delays, shelve expiry) use the
  ``monotonic`` clock, so a wall-clock step (NTP, a person) neither delays nor hastens an
  alarm. Tests that inject one clock drive both with it, without sleeping.
- Fast path first. ``on_samples`` sees every sample of the plant (100,000/s for 10,000 tags at
  10 Hz), so a tag whose value sits inside its limits with nothing pending costs one dict lookup
  and two comparisons; everything else goes to the slow path.
- The condition is tracked apart from the state. A shelved, suppressed or out-of-service alarm
  never annunciates, but the engine keeps evaluating its condition, so leaving suppression lands
  in the true state (UNACK_ACTIVE if the condition is present, else NORMAL) - the ISA-18.2 path
  back through normal, so an active alarm re-annunciates instead of hiding behind an old ack.
- Nothing waits for a disk on the core thread: the journal and the state table both have their
  own writer threads. Subscriber callbacks run after the engine's lock is released.
- Refused operator actions raise :class:`AlarmError` with a message for the operator. Role
  checks are not made here (the Core facade does them); the ``actor`` is recorded as given.
"""

from __future__ import annotations

import heapq
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from app.core.alarms import design
from app.core.alarms.definitions import DEFAULT_PRIORITY, HIGH_KINDS, alarm_id, plant_alarms
from app.core.alarms.kpis import AlarmStatistics, FloodChange
from app.core.alarms.record import SYSTEM, AlarmRecord, Shelf, Suppression, jsonable
from app.core.alarms.replay import rebuild_rows
from app.core.alarms.store import AlarmStore, EventRow, query_events
from app.core.alarms.types import (
    LEGAL_TRANSITIONS,
    AlarmDefinition,
    AlarmError,
    AlarmKind,
    AlarmQuery,
    AlarmState,
    AlarmView,
    Priority,
)
from app.core.model import Quality, Sample
from app.core.plant import Plant

S = AlarmState
_GOOD = Quality.GOOD
_BAD_COMM = Quality.BAD_COMM
_BAD_DEVICE = Quality.BAD_DEVICE
_UNCERTAIN = Quality.UNCERTAIN
_INF = math.inf
#: default on-delay of communication-loss alarms, seconds (see AlarmEngine)
COMM_ON_DELAY_S = 2.0
#: an alarm that activates more than this many times ...
CHATTER_COUNT = 3
#: ... within this many seconds is flagged as chattering in the window
CHATTER_WINDOW_S = 600.0


class JournalLike(Protocol):
    """What the engine needs from the journal (``app.core.journal.Journal`` fits)."""

    def append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None: ...


class _Watch:
    """Evaluates the alarms of one tag from its samples."""

    __slots__ = ("bad", "busy", "device", "discrete", "engine", "follow", "high_edge", "limits", "low_edge",
                 "tag")

    def __init__(self, engine: AlarmEngine, tag: str, device: str):
        self.engine = engine
        self.tag = tag
        self.device = device
        self.limits: list[tuple[AlarmRecord, bool]] = []  # (alarm, is_high)
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
        self.engine._evaluate(self, s, now, out)


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
        self.comm_on_delay_s = float(comm_on_delay_s)
        #: devices not answering whose COMM alarm waits for its on-delay:
        #: device -> [since, reason, due] (monotonic clock)
        self._comm_pending: dict[str, list[Any]] = {}
        #: devices answering with exceptions only (their DEVICE alarm is raised)
        self._faulty: set[str] = set()
        #: one batch's BAD_DEVICE samples, decided after the batch (device fault or point fault)
        self._deferred: list[tuple[_Watch, Quality]] = []
        self._recovered: set[str] = set()
        #: suppression by design: cause alarm id -> alarm ids it suppresses
        self._suppresses: dict[str, list[str]] = {}
        #: last good numeric value of tags that take part in FEEDBACK alarms
        self._follow_values: dict[str, float] = {}
        self._n_annunciating = 0
        self.chatter = (CHATTER_COUNT, CHATTER_WINDOW_S)
        self._journal = journal
        self._clock = clock
        if monotonic is None:
            monotonic = time.monotonic if clock is time.time else clock
        self._mono = monotonic
        self._lock = threading.RLock()
        self._store = AlarmStore(Path(state_path), queue_max=store_queue_max)
        self._alarms: dict[str, AlarmRecord] = {}
        self._watches: dict[str, _Watch] = {}
        self._device_watches: dict[str, list[_Watch]] = {}
        self._comm_by_samples: set[str] = set()
        #: (monotonic expiry, the shelve's wall-clock ``until``, alarm id)
        self._shelf_heap: list[tuple[float, float, str]] = []
        self._next_due = _INF
        self._subscribers: list[Callable[[AlarmView], None]] = []
        self._stats = AlarmStatistics(clock())
        self._restored = False
        self._drops_reported = 0
        self.sink_errors = 0  # samples that raised inside the engine (counted, never re-raised)
        self.callback_errors = 0
        self.journal_errors = 0
        self.last_error: str | None = None
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
            self._journal_append("alarm.state_quarantined", "system",
                                 {"message": self._store.quarantine_note}, critical=True)

    # ------------------------------------------------------------------ configuration

    def configure(self, plant: Plant) -> None:
        """Build the plant's alarms from its profiles; on the first call also restore the state
        saved by the previous run, and say so in the journal."""
        self.configure_definitions(plant_alarms(plant))

    def configure_definitions(self, definitions: Iterable[AlarmDefinition]) -> None:
        """Like :meth:`configure` for a ready list of definitions (tests, plugins)."""
        defs = list(definitions)
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            old = self._alarms
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
            for aid, a in old.items():  # anomaly alarms come from detectors, not the plant
                if a.d.kind is AlarmKind.ANOMALY and aid not in new:
                    new[aid] = a
            removed = sorted(old.keys() - new.keys())
            for aid in removed:
                self._store.delete_state(aid)
            self._alarms = new
            self._suppresses = design.dependents(a.d for a in new.values())
            self._build_watches()
            if not self._restored:
                self._restored = True
                self._restore(now)
            else:
                self._journal_append(
                    "alarm.configured",
                    "system",
                    {"alarms": len(new), "added": sorted(new.keys() - old.keys())[:100],
                     "removed": removed[:100],
                     "removed_while_annunciating": [a for a in removed if old[a].state.annunciating],
                     "t": now},
                    critical=any(old[a].state.annunciating for a in removed),
                )
            for a in self._alarms.values():  # the table lists every alarm, with its definition
                self._store.put_state(a.d.id, a.to_row())
            self._n_annunciating = sum(1 for a in self._alarms.values() if a.state.annunciating)
            for cause in self._suppresses:  # a restored cause still hides what it hid
                self._design_check(cause, now, out)
            self._run_timers(now, out)
        self._notify(out)

    def _build_watches(self) -> None:
        watches: dict[str, _Watch] = {}
        for a in self._alarms.values():
            k = a.d.kind
            if k in (AlarmKind.COMM, AlarmKind.DEVICE, AlarmKind.ANOMALY):
                continue
            if k is AlarmKind.FEEDBACK:
                for tag in (a.d.source, a.d.feedback or ""):
                    fw = watches.get(tag)
                    if fw is None:
                        fw = watches[tag] = _Watch(self, tag, a.d.device)
                    fw.follow.append(a)
                continue
            w = watches.get(a.d.source)
            if w is None:
                w = watches[a.d.source] = _Watch(self, a.d.source, a.d.device)
            if k is AlarmKind.STATE:
                w.discrete = a
            elif k is AlarmKind.BAD:
                w.bad = a
            else:
                high = k in HIGH_KINDS
                w.limits.append((a, high))
                limit = float(a.d.limit)  # type: ignore[arg-type]
                if high:
                    w.high_edge = min(w.high_edge, limit)
                else:
                    w.low_edge = max(w.low_edge, limit)
        for w in watches.values():
            # the outer limit first, so that a jump past both suppresses HI before it can sound
            w.limits.sort(key=lambda ah: ah[0].d.kind not in (AlarmKind.HIHI, AlarmKind.LOLO))
            if w.discrete is not None:  # a bool point has no analog fast path
                w.low_edge, w.high_edge = _INF, -_INF
            self._refresh_busy(w)
        self._watches = watches
        self._device_watches = {}
        for w in watches.values():
            self._device_watches.setdefault(w.device, []).append(w)

    def _restore(self, now: float) -> None:
        """Restore the previous run's state: the state table, checked alarm by alarm against
        what the journal says. Where they disagree the journal wins (it is signed; the table is
        a cache) and the disagreement is journaled as critical."""
        table = self._store.load_states()
        from_journal, journal_note = self._journal_rows()
        rows: dict[str, dict[str, Any]] = {}
        disagree: list[str] = []
        journal_won: set[str] = set()
        for aid in sorted(set(table) | set(from_journal or {})):
            t = table.get(aid)
            if from_journal is None:
                rows[aid] = t  # type: ignore[assignment]
                continue
            j = from_journal.get(aid)
            t_key = _restore_key(t)
            j_key = _restore_key(j)
            if t is not None and t_key == j_key:
                rows[aid] = t
            else:
                disagree.append(f"{aid}: table {t_key}, journal {j_key}")
                journal_won.add(aid)
                rows[aid] = {**(t or {}), **(j or {"state": str(S.NORMAL), "condition": False})}
        restored: Counter[str] = Counter()
        problems: list[str] = []
        unknown: list[str] = []
        for aid, row in rows.items():
            a = self._alarms.get(aid)
            if a is None and row.get("kind") == AlarmKind.ANOMALY:
                a = self._alarms[aid] = AlarmRecord(self._anomaly_definition(aid, row))
            if a is None:
                if row.get("state", str(S.NORMAL)) != S.NORMAL or aid in table:
                    unknown.append(aid)
                if aid in table:
                    self._store.delete_state(aid)
                continue
            try:
                a.restore(row)
            except (ValueError, TypeError, KeyError, IndexError) as e:
                problems.append(f"{aid}: {e}")
                a.__init__(a.d)  # type: ignore[misc]
                continue
            restored[str(a.state)] += 1
            if aid in journal_won:
                self._store.put_state(aid, a.to_row())
            if a.shelved:
                self._push_shelf(a.shelved.until, aid, now)
        for w in self._watches.values():
            self._refresh_busy(w)
        self._stats.seed(self._store.recent_activations(now - 24 * 3600.0))
        self._journal_append(
            "alarm.restored",
            "system",
            {
                "from": str(self._store.path),
                "alarms": len(self._alarms),
                "restored": sum(restored.values()),
                "states": dict(sorted(restored.items())),
                "vouched_by_journal": from_journal is not None and not disagree,
                "journal_wins": disagree[:100],
                "journal_unavailable": journal_note,
                "no_longer_configured": sorted(unknown)[:100],
                "unreadable": problems[:100],
                "t": now,
            },
            critical=bool(problems or disagree or journal_note),
        )
        self._schedule()

    def _journal_rows(self) -> tuple[dict[str, dict[str, Any]] | None, str | None]:
        """Alarm states rebuilt from the journal, or (None, why) if it cannot be read."""
        folder = getattr(self._journal, "dir", None)
        if folder is None:
            return None, "the journal does not say where it lives; state table trusted as is"
        try:
            from app.core.journal import read_events

            events = read_events(folder, kind="alarm.*")
        except Exception as e:
            return None, f"cannot read the journal to check the state table: {e}"
        return rebuild_rows((e.seq, e.kind, e.actor, e.body) for e in events), None

    def _anomaly_definition(self, aid: str, row: dict[str, Any]) -> AlarmDefinition:
        try:
            priority = Priority.parse(row.get("priority", "medium"))
        except AlarmError:
            priority = DEFAULT_PRIORITY[AlarmKind.ANOMALY]
        return AlarmDefinition(
            id=aid,
            kind=AlarmKind.ANOMALY,
            priority=priority,
            source=str(row.get("source", "")),
            device=str(row.get("device", "")),
            description=str(row.get("description", "")),
        )

    # ------------------------------------------------------------------ inputs

    def on_samples(self, batch: Sequence[Sample]) -> None:
        """Sample sink (core thread). Never raises: a sample that breaks evaluation is counted
        in ``sink_errors`` and the rest of the batch still runs."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            if self._mono() >= self._next_due or self._store.dropped != self._drops_reported:
                self._run_timers(now, out)
            get = self._watches.get
            for s in batch:
                w = get(s.tag)
                if w is None:
                    continue
                try:
                    w.update(s, now, out)
                except Exception as e:  # one bad sample must not stop the batch or the runtime
                    self.sink_errors += 1
                    self.last_error = f"{s.tag}: {type(e).__name__}: {e}"
            if self._deferred or self._recovered:
                try:
                    self._settle_device_faults(batch, now, out)
                except Exception as e:
                    self.sink_errors += 1
                    self.last_error = f"device faults: {type(e).__name__}: {e}"
                finally:
                    self._deferred.clear()
                    self._recovered.clear()
        if out:
            self._notify(out)

    def on_device_state(self, device: str, ok: bool, reason: str = "") -> None:
        """Communication health of one device (from the runtime). Raises or clears ``<device>:COMM``."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            if self._mono() >= self._next_due:
                self._run_timers(now, out)
            self._comm_by_samples.discard(device)
            if ok:
                self._comm_up(device, reason or "ok", now, out)
            else:
                self._comm_down(device, reason or "no answer", now, out)
            for w in self._device_watches.get(device, ()):
                self._refresh_busy(w)
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
            a = self._alarms.get(aid)
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
                a = self._alarms[aid] = AlarmRecord(d)
            elif a.d != d:
                a.d = d
            if active:
                a.explanation = explanation or a.explanation
            self._set_condition(a, bool(active), explanation or None, now,
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
            a = self._alarms.get(aid)
            d = AlarmDefinition(
                id=aid, kind=AlarmKind.SYSTEM, priority=prio, source=source,
                device="station", description=message,
            )
            if a is None:
                a = self._alarms[aid] = AlarmRecord(d)
            elif a.d != d:
                a.d = d
            self._set_condition(a, bool(active), message if active else None, now, actor, out)
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
            self._ack(a, actor, now, out)
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
            targets = list(self._alarms.values()) if alarm_ids is None else [self._get(i) for i in alarm_ids]
            for a in targets:
                if a.state.needs_ack:
                    self._ack(a, actor, now, out)
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
            reason = _need_reason(reason, "shelve", alarm_id)
            if not (isinstance(until_ts, (int, float)) and math.isfinite(until_ts)) or until_ts <= now:
                raise AlarmError(f"cannot shelve '{alarm_id}': the expiry must be in the future")
            self._action(a, "alarm.shelve", actor, now, {"reason": reason, "until": float(until_ts)},
                         critical=True)
            a.shelved = Shelf(actor, reason, float(until_ts), now)
            self._push_shelf(float(until_ts), a.d.id, now)
            self._apply_suppression(a, actor, now, "shelve", out)
            self._schedule()
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
            self._unshelve(a, actor, now, "by operator", out)
            view = self._view(a)
        self._notify(out)
        return view

    def set_out_of_service(self, alarm_id: str, actor: str, on: bool, reason: str) -> AlarmView:
        """Take an alarm out of service (maintenance) or return it to service."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            reason = _need_reason(reason, "take out of service" if on else "return to service", alarm_id)
            if on == (a.oos is not None):
                raise AlarmError(
                    f"alarm '{alarm_id}' is already {'out of' if on else 'in'} service"
                )
            kind = "alarm.out_of_service" if on else "alarm.return_to_service"
            self._action(a, kind, actor, now, {"reason": reason}, critical=True)
            a.oos = Suppression(actor, reason) if on else None
            self._apply_suppression(a, actor, now, kind.removeprefix("alarm."), out)
            view = self._view(a)
        self._notify(out)
        return view

    def set_suppressed_by_design(self, alarm_id: str, actor: str, on: bool, reason: str) -> AlarmView:
        """Suppress by design (e.g. low-flow while the pump is stopped on purpose), or lift it."""
        out: list[AlarmView] = []
        with self._lock:
            now = self._clock()
            a = self._get(alarm_id)
            reason = _need_reason(reason, "suppress" if on else "unsuppress", alarm_id)
            if on == (a.suppressed is not None):
                raise AlarmError(f"alarm '{alarm_id}' is already {'suppressed' if on else 'not suppressed'}")
            kind = "alarm.suppress" if on else "alarm.unsuppress"
            self._action(a, kind, actor, now, {"reason": reason}, critical=True)
            a.suppressed = Suppression(actor, reason) if on else None
            self._apply_suppression(a, actor, now, kind.removeprefix("alarm."), out)
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
            if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 <= seconds <= 3600):
                raise AlarmError(f"cannot set the off-delay of '{alarm_id}': give 0 to 3600 seconds")
            self._action(a, "alarm.off_delay", actor, now,
                         {"seconds": float(seconds), "was": a.off_delay_s}, critical=True)
            a.off_delay_override = float(seconds)
            self._store.put_state(a.d.id, a.to_row())
            view = self._view(a)
            out.append(view)
        self._notify(out)
        return view

    # ------------------------------------------------------------------ reading

    def alarms(self) -> list[AlarmView]:
        """Every alarm's current state (configured order; anomaly alarms after the plant's)."""
        with self._lock:
            return [self._view(a) for a in self._alarms.values()]

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
            return self._stats.in_flood

    def kpis(self, window_s: float = 24 * 3600.0) -> dict[str, Any]:
        """Alarm-system health over the last ``window_s``: rates, flood time, chattering,
        stale and the top-10 bad actors."""
        self.tick()
        with self._lock:
            now = self._clock()
            active = {
                a.d.id: a.active_since
                for a in self._alarms.values()
                if a.condition and a.active_since is not None and a.state.annunciating
            }
            k = self._stats.kpis(now, active, window_s)
            k["configured"] = len(self._alarms)
            k["annunciating"] = sum(1 for a in self._alarms.values() if a.state.annunciating)
            k["unacknowledged"] = sum(1 for a in self._alarms.values() if a.state.needs_ack)
            k["shelved"] = sum(1 for a in self._alarms.values() if a.shelved)
            k["out_of_service"] = sum(1 for a in self._alarms.values() if a.oos)
            k["suppressed"] = sum(1 for a in self._alarms.values() if a.suppressed)
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
        return a.view(self.chatter)

    def _get(self, aid: str) -> AlarmRecord:
        a = self._alarms.get(aid)
        if a is None:
            raise AlarmError(f"unknown alarm '{aid}'")
        return a

    def _refresh_busy(self, w: _Watch) -> None:
        w.busy = (
            w.device in self._comm_by_samples
            or w.device in self._comm_pending
            or w.device in self._faulty
            or bool(w.follow)
            or any(a.condition or a.pending_since is not None for a, _ in w.limits)
            or (w.discrete is not None)
            or (w.bad is not None and w.bad.condition)
        )

    def _evaluate(self, w: _Watch, s: Sample, now: float, out: list[AlarmView]) -> None:
        """The slow path for one sample of one watched tag."""
        q = s.quality
        if q is _BAD_COMM:
            # A dead link is the device's alarm (after its on-delay); the tag's own alarms hold
            # their last state.
            pending = self._comm_pending.get(w.device)
            if pending is not None and self._mono() < pending[2]:
                return  # its on-delay is running: nothing to decide before it ends
            if w.device in self._comm_by_samples and pending is None:
                return  # already raised by earlier bad samples: the common case, kept cheap
            comm = self._alarms.get(alarm_id(w.device, AlarmKind.COMM))
            if comm is not None and not comm.condition:
                if w.device not in self._comm_by_samples:
                    self._comm_by_samples.add(w.device)
                    for other in self._device_watches.get(w.device, ()):
                        other.busy = True  # so the first GOOD sample is seen and ends it
                self._comm_down(w.device, "no answer (bad samples)", now, out)
            return
        if q is _UNCERTAIN:
            return  # a held value: neither proof of trouble nor of recovery
        if w.device in self._comm_by_samples and q is _GOOD:
            self._comm_by_samples.discard(w.device)
            self._comm_up(w.device, "answering again", now, out)
            for other in self._device_watches.get(w.device, ()):
                self._refresh_busy(other)
        if q is _GOOD and w.device in self._faulty:
            self._recovered.add(w.device)  # decided after the batch, once its points are settled
        v = s.value
        if q is _BAD_DEVICE:
            # a device fault (every read refused) or this point's fault: the batch decides
            if w.bad is not None and not w.bad.condition:
                self._deferred.append((w, q))
            w.busy = True
            return
        if q is not _GOOD:
            if w.bad is not None and not w.bad.condition:
                self._set_condition(w.bad, True, q.name, now, "system", out)
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
        self._refresh_busy(w)

    def _follow(self, w: _Watch, v: float, now: float, out: list[AlarmView]) -> None:
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
        refused = {w.device for w, _ in self._deferred}
        if refused:
            get = self._watches.get
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
        for w, q in self._deferred:
            if w.bad is not None and not w.bad.condition:
                self._set_condition(w.bad, True, q.name, now, SYSTEM, out)

    def _device_fault(self, device: str, on: bool, now: float, out: list[AlarmView]) -> None:
        a = self._alarms.get(alarm_id(device, AlarmKind.DEVICE))
        if on:
            self._faulty.add(device)
        else:
            self._faulty.discard(device)
        if a is not None:
            self._set_condition(a, on, "refuses reads (exception responses)" if on else "answering again",
                                now, SYSTEM, out)
        for w in self._device_watches.get(device, ()):
            self._refresh_busy(w)
            if on:
                w.busy = True

    def _design_check(self, cause_id: str, now: float, out: list[AlarmView]) -> None:
        """Apply or lift suppression by design for the alarms ``cause_id`` suppresses."""
        for dep_id in self._suppresses.get(cause_id, ()):
            dep = self._alarms.get(dep_id)
            if dep is None:
                continue
            active = [c for c in design.suppressors(dep.d)
                      if (ca := self._alarms.get(c)) is not None and ca.condition]
            if active and dep.suppressed is None:
                why = design.reason(self._alarms[active[0]].d)
                self._action(dep, "alarm.suppress", SYSTEM, now, {"reason": why, "by_design": active[0]})
                dep.suppressed = Suppression(SYSTEM, why, active[0])
                self._apply_suppression(dep, SYSTEM, now, "suppressed by design", out)
            elif not active and dep.suppressed is not None and dep.suppressed.by_design:
                self._action(dep, "alarm.unsuppress", SYSTEM, now,
                             {"reason": "by design: its cause cleared", "by_design": cause_id})
                dep.suppressed = None
                self._apply_suppression(dep, SYSTEM, now, "cause cleared", out)

    def _delayed(self, a: AlarmRecord, raw: bool, v: Any, now: float, out: list[AlarmView]) -> None:
        """Apply the on-delay: a rising condition must hold for ``on_delay_s`` to count."""
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
        self._set_condition(a, raw, v, now, "system", out)

    def _comm_delay(self, a: AlarmRecord) -> float:
        return self.comm_on_delay_s if a.d.on_delay_s is None else float(a.d.on_delay_s)

    def _comm_down(self, device: str, reason: str, now: float, out: list[AlarmView]) -> None:
        """The device is not answering now: start (or continue) its on-delay; activate its COMM
        alarm once it has been down continuously for the delay."""
        a = self._alarms.get(alarm_id(device, AlarmKind.COMM))
        if a is None or a.condition:
            self._comm_pending.pop(device, None)
            return
        pending = self._comm_pending.get(device)
        if pending is None:
            t = self._mono()
            self._comm_pending[device] = [t, reason, t + self._comm_delay(a)]
            self._comm_due(device, a, now, out)
            self._schedule()
        else:
            pending[1] = reason
            self._comm_due(device, a, now, out)

    def _comm_due(self, device: str, a: AlarmRecord, now: float, out: list[AlarmView]) -> None:
        _since, reason, due = self._comm_pending[device]
        if self._mono() >= due:
            del self._comm_pending[device]
            self._set_condition(a, True, reason, now, "system", out)

    def _comm_up(self, device: str, reason: str, now: float, out: list[AlarmView]) -> None:
        """The device answers: a pending on-delay ends without an alarm; an active one clears."""
        self._comm_pending.pop(device, None)
        a = self._alarms.get(alarm_id(device, AlarmKind.COMM))
        if a is not None and a.condition:
            # the cleared alarm reads what is true now, not the last error ("cannot connect")
            self._set_condition(a, False, "answering again", now, "system", out)

    def _bad_value(self, w: _Watch, v: Any, now: float, out: list[AlarmView]) -> None:
        if w.bad is not None and not w.bad.condition:
            self._set_condition(w.bad, True, f"unusable value {v!r}"[:80], now, "system", out)
        w.busy = True

    def _clear_bad(self, w: _Watch, now: float, out: list[AlarmView]) -> None:
        if w.bad is not None and w.bad.condition:
            self._set_condition(w.bad, False, "good", now, "system", out)

    def _set_condition(
        self, a: AlarmRecord, active: bool, value: Any, now: float, actor: str, out: list[AlarmView]
    ) -> None:
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
            self._store.put_state(a.d.id, a.to_row())
            self._store.put_event(
                EventRow(now, a.d.id, a.d.source, a.d.device, a.d.priority.label,
                         "condition", str(st), str(st), jsonable(value), jsonable(a.d.limit), actor,
                         {"active": active, "while": str(st)})
            )
        elif active:
            if st in (S.NORMAL, S.UNACK_RTN):
                self._transition(a, S.UNACK_ACTIVE, actor, now, "condition", out)
        elif st is S.UNACK_ACTIVE:
            self._transition(a, S.UNACK_RTN, actor, now, "condition", out)
        elif st is S.ACK_ACTIVE:
            self._transition(a, S.NORMAL, actor, now, "condition", out)
        if a.d.id in self._suppresses:
            self._design_check(a.d.id, now, out)

    def _ack(self, a: AlarmRecord, actor: str, now: float, out: list[AlarmView]) -> None:
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
        _need_actor(actor)
        self._action(a, "alarm.ack", actor, now, {"to": str(to)})
        a.acked_by, a.acked_at = actor, now
        self._transition(a, to, actor, now, "ack", out)

    def _unshelve(self, a: AlarmRecord, actor: str, now: float, why: str, out: list[AlarmView]) -> None:
        self._action(a, "alarm.unshelve", actor, now, {"reason": why})
        a.shelved = None
        self._apply_suppression(a, actor, now, "unshelve", out)

    def _apply_suppression(
        self, a: AlarmRecord, actor: str, now: float, cause: str, out: list[AlarmView]
    ) -> None:
        """Move to the state the suppression flags and the tracked condition call for."""
        target = a.suppression()
        if target is None:
            if not a.state.is_suppressed:
                self._store.put_state(a.d.id, a.to_row())
                out.append(self._view(a))
                return
            target = S.UNACK_ACTIVE if a.condition else S.NORMAL
        if target != a.state:
            self._transition(a, target, actor, now, cause, out)
        else:
            self._store.put_state(a.d.id, a.to_row())
            out.append(self._view(a))

    def _transition(
        self, a: AlarmRecord, to: AlarmState, actor: str, now: float, cause: str, out: list[AlarmView]
    ) -> None:
        frm = a.state
        if (frm, to) not in LEGAL_TRANSITIONS:  # a bug in this file, never an operator error
            raise RuntimeError(f"alarm engine bug: illegal transition {frm} -> {to} for {a.d.id}")
        a.state = to
        a.last_change = now
        self._n_annunciating += int(to.annunciating) - int(frm.annunciating)
        if to is S.UNACK_ACTIVE:
            a.acked_by = a.acked_at = None
            a.activations.append(now)
            if not frm.annunciating:
                a.episode_start = now
        elif not to.annunciating:
            a.episode_start = None
        value = jsonable(a.value)
        limit = jsonable(a.d.limit)
        self._journal_append(
            "alarm.transition",
            actor,
            {
                "alarm": a.d.id,
                "from": str(frm),
                "to": str(to),
                "value": value,
                "limit": limit,
                "priority": a.d.priority.label,
                "source": a.d.source,
                "cause": cause,
                "t": now,
            },
        )
        self._store.put_event(
            EventRow(now, a.d.id, a.d.source, a.d.device, a.d.priority.label, "transition",
                     str(frm), str(to), value, limit, actor, {"cause": cause})
        )
        self._store.put_state(a.d.id, a.to_row())
        out.append(self._view(a))
        if to is S.UNACK_ACTIVE:
            for change in self._stats.activation(a.d.id, now):
                self._flood(change)
            self._schedule()
        elif self._n_annunciating == 0 and self._stats.in_flood:
            # nothing left on the list: the flood is over, whatever the 10-minute count says
            ended = self._stats.end_flood(now)
            if ended is not None:
                self._flood(ended)
            self._schedule()

    def _action(self, a: AlarmRecord, kind: str, actor: str, now: float, body: dict[str, Any],
                *, critical: bool = False) -> None:
        """Journal an operator action on an alarm (before the transition it causes)."""
        _need_actor(actor)
        full = {"alarm": a.d.id, "state": str(a.state), "priority": a.d.priority.label,
                "source": a.d.source, "t": now, **body}
        self._journal_append(kind, actor, full, critical=critical)
        self._store.put_event(
            EventRow(now, a.d.id, a.d.source, a.d.device, a.d.priority.label,
                     kind.removeprefix("alarm."), str(a.state), None, None, None, actor, body)
        )

    def _flood(self, change: FloodChange) -> None:
        self._journal_append(
            "alarm.flood",
            "system",
            {"active": change.active, "new_alarms_10min": change.count, "t": change.t},
            critical=change.active,
        )

    def _run_timers(self, now: float, out: list[AlarmView]) -> None:
        heap = self._shelf_heap
        mono = self._mono()
        while heap and heap[0][0] <= mono:
            _due, until, aid = heapq.heappop(heap)
            a = self._alarms.get(aid)
            if a is not None and a.shelved is not None and a.shelved.until == until:
                self._unshelve(a, "system", now, "shelve expired", out)
        for device in list(self._comm_pending):
            a = self._alarms.get(alarm_id(device, AlarmKind.COMM))
            if a is None or a.condition:  # reconfigured away, or already raised
                del self._comm_pending[device]
            else:
                self._comm_due(device, a, now, out)
        for change in self._stats.advance_until(now):
            self._flood(change)
        self._report_drops(now)
        self._schedule()

    def _report_drops(self, now: float) -> None:
        """Say in the journal when the state-table writer could not keep up. Nothing is lost
        for good: the journal holds every transition and the next start rebuilds from it."""
        dropped = self._store.dropped
        if dropped != self._drops_reported:
            self._journal_append(
                "system.dropped",
                "system",
                {"what": "alarm state-table writes", "count": dropped - self._drops_reported,
                 "total": dropped, "file": str(self._store.path), "t": now},
                critical=True,
            )
            self._drops_reported = dropped

    def _push_shelf(self, until_ts: float, alarm: str, now: float) -> None:
        """Expire a shelve after the time left now, counted on the monotonic clock."""
        heapq.heappush(self._shelf_heap, (self._mono() + (until_ts - now), until_ts, alarm))

    def _schedule(self) -> None:
        """``_next_due`` (monotonic): when time-driven work is next needed."""
        due = self._shelf_heap[0][0] if self._shelf_heap else _INF
        for _since, _reason, comm_due in self._comm_pending.values():
            due = min(due, comm_due)
        if self._stats.in_flood:
            edge = self._stats.next_window_edge()  # a wall-clock window edge
            if edge is not None:
                due = min(due, self._mono() + (edge - self._clock()))
        self._next_due = due

    def _journal_append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None:
        try:
            self._journal.append(kind, actor, body, critical=critical)
        except Exception as e:  # a closed or broken journal must not stop alarming
            self.journal_errors += 1
            self.last_error = f"journal: {e}"

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


def _restore_key(row: dict[str, Any] | None) -> str:
    """What must agree between the state table and the journal: the state and which
    suppressions are on."""
    if row is None:
        return "normal"
    flags = [n for n in ("shelved", "oos", "suppressed") if row.get(n)]
    return "+".join([str(row.get("state", "?")), *flags])


def _need_reason(reason: str, what: str, aid: str) -> str:
    r = (reason or "").strip()
    if not r:
        raise AlarmError(f"cannot {what} '{aid}' without a reason")
    return r


def _need_actor(actor: str) -> None:
    if not isinstance(actor, str) or not actor.strip():
        raise AlarmError("an alarm action needs the name of who takes it")


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))
