"""Flood detection and the alarm-system KPIs of ISA-18.2 / EEMUA 191.

Kept separate from the state machine: it only hears "alarm X activated at t" and answers
questions about rates, so it can be tested (and replaced) on its own.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import NamedTuple

FLOOD_WINDOW_S = 600.0
FLOOD_ENTER = 10  # more than this many new alarms in the window starts a flood
FLOOD_EXIT = 5  # fewer than this many ends it (hysteresis, so the banner does not flicker)
CHATTER_COUNT = 3  # this many activations ...
CHATTER_WINDOW_S = 60.0  # ... within this span make an alarm "chattering"
STALE_AFTER_S = 24 * 3600.0
KPI_WINDOW_S = 24 * 3600.0
_MAX_REMEMBERED = 200_000  # activations kept for KPIs (bounded memory in a storm)
_MAX_FLOODS_REMEMBERED = 10_000  # ended flood episodes kept for KPIs


class FloodSpan(NamedTuple):
    """One ended flood episode (wall clock)."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class FloodChange:
    active: bool
    count: int
    t: float


class AlarmStatistics:
    """Remembers recent activations; tells when a flood starts or ends."""

    def __init__(self, start: float):
        self.started_at = start
        self._activations: deque[tuple[float, str]] = deque(maxlen=_MAX_REMEMBERED)
        self._window: deque[float] = deque()
        self.in_flood = False
        self.flood_since: float | None = None
        self._flood_total_s = 0.0
        self.floods = 0
        #: ended flood episodes (start, end), so KPIs can count only what lies inside a window
        self._flood_spans: deque[FloodSpan] = deque(maxlen=_MAX_FLOODS_REMEMBERED)

    def seed(self, activations: list[tuple[float, str]]) -> None:
        """Load activations from before a restart so KPIs span it (flood state is not seeded:
        a restart re-detects a flood from the first new alarms)."""
        for t, alarm_id in activations:
            self._activations.append((t, alarm_id))
        if activations:  # alarms were being recorded at least since the first of them
            self.started_at = min(self.started_at, min(t for t, _ in activations))

    def activation(self, alarm_id: str, t: float) -> list[FloodChange]:
        """Count a new alarm at ``t``; returns flood changes (an end that was due first, then
        possibly a start)."""
        changes = self.advance_until(t)
        self._activations.append((t, alarm_id))
        self._window.append(t)
        c = self.advance(t)
        if c is not None:
            changes.append(c)
        return changes

    def advance(self, now: float) -> FloodChange | None:
        """Slide the window to ``now``; return a change if the flood state flipped."""
        w = self._window
        while w and w[0] <= now - FLOOD_WINDOW_S:
            w.popleft()
        n = len(w)
        if not self.in_flood and n > FLOOD_ENTER:
            self.in_flood = True
            self.flood_since = now
            self.floods += 1
            return FloodChange(True, n, now)
        if self.in_flood and n < FLOOD_EXIT:
            assert self.flood_since is not None
            self._flood_total_s += now - self.flood_since
            self._flood_spans.append(FloodSpan(self.flood_since, now))
            self.in_flood = False
            self.flood_since = None
            return FloodChange(False, n, now)
        return None

    def end_flood(self, now: float) -> FloodChange | None:
        """End the flood now because nothing is left on the operator's list (every alarm cleared
        and acknowledged). The window starts afresh, so one new alarm does not re-enter a flood
        on the strength of alarms already dealt with."""
        if not self.in_flood or self.flood_since is None:
            return None
        n = len(self._window)
        self._flood_total_s += now - self.flood_since
        self._flood_spans.append(FloodSpan(self.flood_since, now))
        self.in_flood = False
        self.flood_since = None
        self._window.clear()
        return FloodChange(False, n, now)

    def advance_until(self, now: float) -> list[FloodChange]:
        """Slide the window edge by edge up to ``now``, so a flood ends when it really ended
        even if nobody looked at the time in between (no samples while all devices are down)."""
        changes = []
        while self.in_flood:
            edge = self.next_window_edge()
            if edge is None or edge > now:
                break
            c = self.advance(edge)
            if c is not None:
                changes.append(c)
        c = self.advance(now)
        if c is not None:
            changes.append(c)
        return changes

    def next_window_edge(self) -> float | None:
        """When the oldest activation leaves the window (the flood may end then)."""
        return self._window[0] + FLOOD_WINDOW_S if self._window else None

    def time_in_flood(self, now: float) -> float:
        """Total time in flood since this object started (all of it, not one window)."""
        extra = now - self.flood_since if self.in_flood and self.flood_since is not None else 0.0
        return self._flood_total_s + extra

    def floods_within(self, since: float, now: float) -> tuple[int, float]:
        """(flood episodes overlapping [since, now], seconds of flood inside it)."""
        spans = list(self._flood_spans)
        if self.in_flood and self.flood_since is not None:
            spans.append(FloodSpan(self.flood_since, now))
        count, seconds = 0, 0.0
        for start, end in spans:
            overlap = min(end, now) - max(start, since)
            if end > since and start <= now:
                count += 1
                seconds += max(overlap, 0.0)
        return count, seconds

    def kpis(
        self, now: float, active_since: dict[str, float], window_s: float = KPI_WINDOW_S
    ) -> dict[str, object]:
        """Every figure over the same stated window, ``[now - window_s, now]``: the number of
        new alarms, their average per 10 minutes (over the whole window, so it can never exceed
        the total), the floods and the time in flood inside it, and its percentage of the
        window. ``observed_s`` says how much of the window alarms were actually being recorded
        (less after a fresh install or a first start): a reader should know a quiet average
        may only mean "not watching yet".

        ``active_since``: alarm id -> when its current activation began (active alarms only).
        """
        window_s = max(float(window_s), 1.0)
        since = now - window_s
        recent = [(t, a) for t, a in self._activations if since <= t <= now]
        per_alarm: dict[str, list[float]] = {}
        for t, a in recent:
            per_alarm.setdefault(a, []).append(t)
        chattering = []
        for a, ts in per_alarm.items():
            worst = _most_within(ts, CHATTER_WINDOW_S)
            if worst >= CHATTER_COUNT:
                chattering.append({"id": a, "max_per_min": worst, "activations": len(ts)})
        chattering.sort(key=lambda d: (-int(d["max_per_min"]), d["id"]))  # type: ignore[call-overload]
        last10 = sum(1 for t, _ in recent if t > now - FLOOD_WINDOW_S)
        counts = Counter(a for _, a in recent)
        floods, flood_s = self.floods_within(since, now)
        observed_from = max(since, min(self.started_at, now))
        return {
            "window_s": window_s,
            "observed_s": round(now - observed_from, 3),
            "observed_from": observed_from,
            "activations": len(recent),
            "alarms_last_10min": last10,
            "alarms_per_10min_avg": round(len(recent) / (window_s / FLOOD_WINDOW_S), 3),
            "in_flood": self.in_flood,
            "floods": floods,
            "time_in_flood_s": round(flood_s, 3),
            "time_in_flood_pct": round(100.0 * flood_s / window_s, 3),
            "chattering": chattering,
            "stale": sorted(
                (
                    {"id": a, "active_for_s": round(now - t0, 1)}
                    for a, t0 in active_since.items()
                    if now - t0 > STALE_AFTER_S
                ),
                key=lambda d: -float(d["active_for_s"]),  # type: ignore[arg-type]
            ),
            "top_bad_actors": [{"id": a, "activations": n} for a, n in _top(counts, 10)],
        }


def _most_within(ts: list[float], span: float) -> int:
    """Largest number of activations inside any ``span``-second stretch (ts sorted; two pointers)."""
    best = 0
    j = 0
    for i, t in enumerate(ts):
        while t - ts[j] > span:
            j += 1
        best = max(best, i - j + 1)
    return best


def _top(counts: Counter[str], n: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def kpis_from_records(
    activations: list[tuple[float, str]],
    active_since: dict[str, float],
    now: float,
    window_s: float = KPI_WINDOW_S,
    first_t: float | None = None,
) -> dict[str, object]:
    """KPIs computed offline (``vigil alarms kpis``) from stored activations, oldest first:
    they are replayed through the same flood detector the engine runs, so flood counts and
    time in flood come out as they were live. Give activations from ``FLOOD_WINDOW_S`` before
    the window too: they only warm up the flood detector (a flood already under way when the
    window opens is then counted, clipped to the window); they are not counted themselves.
    ``first_t``: when alarm records begin (the start of what was observed)."""
    since = now - window_s
    warm_from = since - FLOOD_WINDOW_S
    st = AlarmStatistics(max(since, first_t) if first_t is not None else since)
    for t, alarm_id in activations:
        if t < warm_from or t > now:
            continue
        st.activation(alarm_id, t)
    st.advance_until(now)
    return st.kpis(now, active_since, window_s)
