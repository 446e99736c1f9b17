"""Checking a "learn normal" window before the model goes into service.

A model learned from too short a stretch, from one operating state only, or from a tag that never
moved looks fine on the day and then alarms for ever (or never). So before enabling, the
candidate is fitted (not saved) and judged:

* **coverage**: too short (rows and minutes), tags that never moved in the window (left out),
  and operating states the window missed: a tag that spent much of the recent history outside
  the range the window saw;
* **backtest**: the candidate, drift guard and latch included, streamed over recent history
  (outside the window), counting how often it would have alarmed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.core.detection.monitor import Monitor, NormalRange
from app.core.detection.rows import rows_from_series
from app.core.ports.detector import AlarmLatch, Detector

#: below this many rows or seconds a window gets a "too short" warning
MIN_ROWS = 600
MIN_SECONDS = 600.0
#: a tag spending more than this share of recent history outside the window's range: warning
MAX_OUTSIDE_SHARE = 0.2
BACKTEST_BATCH = 10


@dataclass(frozen=True)
class Backtest:
    t0: float
    t1: float
    rows: int
    alarm_rows: int
    episodes: int
    peak_severity: float | None

    @property
    def alarm_share(self) -> float:
        return self.alarm_rows / self.rows if self.rows else 0.0

    def summary(self) -> str:
        if self.rows == 0:
            return "no recent history outside the window to backtest on"
        hours = (self.t1 - self.t0) / 3600.0
        span = f"{hours:.1f} h" if hours >= 1 else f"{(self.t1 - self.t0) / 60.0:.0f} min"
        if self.episodes == 0:
            return (f"on the last {span} of history ({self.rows:,} rows outside the window) "
                    "it would have raised no alarm")
        return (f"on the last {span} of history ({self.rows:,} rows outside the window) it would have raised "
                f"{self.episodes} alarm(s), active on {100.0 * self.alarm_share:.1f} % of rows")


@dataclass(frozen=True)
class CandidateReport:
    group: str
    detector: str
    t0: float
    t1: float
    tags: list[str]
    rows: int
    warnings: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)
    backtest: Backtest | None = None


def coverage_warnings(tags: Sequence[str], t: np.ndarray, rows: np.ndarray,
                      recent: np.ndarray | None, normal: NormalRange) -> list[str]:
    """Plain-language warnings about a training window (see the module docstring)."""
    out = []
    seconds = float(t[-1] - t[0]) if len(t) > 1 else 0.0
    if len(rows) < MIN_ROWS or seconds < MIN_SECONDS:
        out.append(f"too short: {len(rows):,} rows over {seconds / 60.0:.1f} min; learn from at "
                   f"least {MIN_SECONDS / 60.0:.0f} minutes ({MIN_ROWS} rows) of normal running")
    if recent is not None and len(recent) >= MIN_ROWS // 2:
        span = normal.hi - normal.lo
        lo, hi = normal.lo - 0.1 * span, normal.hi + 0.1 * span
        outside = ((recent < lo) | (recent > hi)).mean(axis=0)
        worst = [i for i in np.argsort(-outside) if outside[i] > MAX_OUTSIDE_SHARE][:3]
        if worst:
            what = ", ".join(f"{tags[i].rsplit('.', 1)[-1]} {100 * outside[i]:.0f} %" for i in worst)
            out.append("too few operating states: recent history often lies outside the range "
                       f"this window saw ({what} of rows); include those states in the window")
    return out


def never_moved(historian: Any, device: str, t0: float, t1: float, used: Sequence[str]) -> list[str]:
    """The device's numeric tags with GOOD data in the window that hold one value throughout."""
    prefix = f"{device}."
    names = [n for n in historian.tags() if n.startswith(prefix) and n not in used]
    out = []
    for tag, s in historian.query(names, t0, t1).items():
        v = np.asarray(s.value)
        if v.dtype.kind != "f":
            continue
        good = v[(np.asarray(s.quality) == 0) & np.isfinite(v)]
        if len(good) > 2 and np.ptp(good) == 0:
            out.append(tag)
    return sorted(out)


def backtest(det: Detector, normal: NormalRange, rows: np.ndarray, t: np.ndarray,
             drift: dict[str, float] | None = None) -> Backtest:
    """Stream ``rows`` through a fresh monitor of the candidate, as live; count alarms."""
    if len(rows) == 0:
        return Backtest(0.0, 0.0, 0, 0, 0, None)
    det.reset()
    mon = Monitor(det, AlarmLatch.for_state(det.get_state()), normal, drift=drift)
    alarm_rows = episodes = 0
    peak = 0.0
    for i in range(0, len(rows), BACKTEST_BATCH):
        r = mon.process(rows[i:i + BACKTEST_BATCH], t[i:i + BACKTEST_BATCH])
        alarm_rows += int(r.alarm.sum())
        episodes += sum(c.kind == "raise" for c in r.changes)
        peak = max(peak, float(r.severity.max()) if len(r.severity) else 0.0)
    det.reset()
    return Backtest(float(t[0]), float(t[-1]), len(rows), alarm_rows, episodes, peak)


def evaluate(group: str, detector: str, tags: Sequence[str], historian: Any, t0: float, t1: float,
             *, fit: Callable[[np.ndarray], tuple[Detector, NormalRange]],
             history_s: float, now: float, drift: dict[str, float] | None = None,
             left_out: Sequence[str] = ()) -> CandidateReport:
    """Fit the candidate on the window and judge it (coverage, backtest on recent history)."""
    t, rows = rows_from_series(tags, historian.query(list(tags), t0, t1))
    det, normal = fit(rows)
    h0 = max(now - history_s, 0.0)
    ht, hist = rows_from_series(tags, historian.query(list(tags), h0, now))
    outside = (ht < t0) | (ht > t1)
    ht, hist = ht[outside], hist[outside]
    warnings = coverage_warnings(tags, t, rows, hist, normal)
    if left_out:
        names = ", ".join(x.rsplit(".", 1)[-1] for x in left_out)
        warnings.append(f"never moved in the window (left out, they teach nothing): {names}")
    return CandidateReport(group, detector, t0, t1, list(tags), len(rows), warnings,
                           list(left_out), backtest(det, normal, hist, ht, drift))
