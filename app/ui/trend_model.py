"""What a trend knows, without Qt: its pens, their live ring buffers and fetched history, the
live window, which pens a frame must redraw, what history to fetch, the cursor readout, and
saved setups.

`app.ui.trend.TrendWidget` is the thin pyqtgraph view over it: it owns the plot, the timers and
the drawing. Keeping the model Qt-free makes its decisions testable without a display and
reusable by any other view of the same data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np

from app.core.model import Quality, Sample
from app.core.profiles import Point
from app.station.interface import Series
from app.ui.trend_buffer import RingSeries

#: the narrowest live window while a trend has only just started (seconds)
MIN_LIVE_WINDOW_S = 10.0

#: a frame's decimation grid: the window's start and end in bucket widths, and the bucket count
GridKey = tuple[int, int, int]


#: alarm limits in the order they are drawn, lowest first
LIMIT_NAMES = ("lolo", "lo", "hi", "hihi")


@dataclass(frozen=True)
class PenScale:
    """What a pen's axis is drawn against: its fixed engineering range (None: nothing to go
    on, the axis autoscales and says so) and its alarm limits by name (``LIMIT_NAMES``)."""

    range: tuple[float, float] | None = None
    limits: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, point: Point | None) -> PenScale:
        """The profile point's engineering range and alarm limits (nothing for an unknown tag)."""
        if point is None:
            return cls()
        limits = tuple((name, float(v)) for name in LIMIT_NAMES if (v := getattr(point, name)) is not None)
        return cls(point.engineering_range, limits)


def axis_span(scales: Iterable[PenScale]) -> tuple[float, float] | None:
    """The fixed range of an axis shared by pens: the union of their engineering ranges, so
    every pen's whole range is on the scale; None when no pen has one (the axis autoscales).
    A pen without a range does not widen it: its curve may leave the frame, which the axis
    label makes plain rather than squashing the others onto noise."""
    spans = [s.range for s in scales if s.range is not None]
    if not spans:
        return None
    return min(lo for lo, _ in spans), max(hi for _, hi in spans)


@dataclass
class PenData:
    """One pen: its live samples (GOOD values; NaN for anything else, drawn as a gap) and the
    history fetched for the part of the window older than them."""

    tag: str
    unit: str
    color: str
    live: RingSeries
    hist_t: np.ndarray = field(default_factory=lambda: np.empty(0))
    hist_v: np.ndarray = field(default_factory=lambda: np.empty(0))
    drawn_version: int = -1
    drawn_key: GridKey | None = None
    scale: PenScale = field(default_factory=PenScale)


P = TypeVar("P", bound=PenData)


def grid_key(window: tuple[float, float], buckets: int) -> GridKey:
    """The decimation grid only moves when the window moves by a bucket or more."""
    width = (window[1] - window[0]) / buckets
    return round(window[0] / width), round(window[1] / width), buckets


class TrendModel(Generic[P]):
    """The pens of one trend and every decision about their data."""

    def __init__(self, span_s: float = 120.0):
        self.pens: dict[str, P] = {}
        self.span_s = span_s
        #: the time range the last history fetch covered
        self.hist_covered: tuple[float, float] | None = None

    # -- pens -------------------------------------------------------------------------------
    def add(self, pen: P) -> P:
        self.pens[pen.tag] = pen
        self.hist_covered = None
        return pen

    def remove(self, tag: str) -> P | None:
        return self.pens.pop(tag, None)

    def units(self) -> list[str]:
        """The units with pens, in the order their first pen was added: one axis each."""
        return list(dict.fromkeys(p.unit for p in self.pens.values()))

    def pens_of(self, unit: str) -> list[P]:
        return [p for p in self.pens.values() if p.unit == unit]

    # -- live data --------------------------------------------------------------------------
    def add_samples(self, batch: Iterable[Sample]) -> None:
        pens = self.pens
        if not pens:
            return
        for s in batch:
            pen = pens.get(s.tag)
            if pen is None:
                continue
            v = s.value
            if s.quality is not Quality.GOOD or v is None or isinstance(v, str):
                pen.live.append(s.t, math.nan)
            else:
                pen.live.append(s.t, float(v))

    def live_window(self, now: float) -> tuple[float, float]:
        """The live x range: the span up to now, or, while the pens hold less than the span,
        from their first sample (at least ``MIN_LIVE_WINDOW_S``) up to now. At start a 2-minute
        span squeezed the few seconds there are into the right edge; the right edge stays at
        now either way. O(pens): each pen's oldest time is a view, not a copy."""
        t0 = now - self.span_s
        starts = [p.live.oldest() for p in self.pens.values()]
        starts += [float(p.hist_t[0]) for p in self.pens.values() if len(p.hist_t)]
        first = min((s for s in starts if s is not None), default=None)
        if first is not None and first > t0:
            t0 = min(first, now - MIN_LIVE_WINDOW_S)
        return t0, now

    def due(self, key: GridKey, *, force: bool, paused: bool) -> list[P]:
        """Pens a frame on grid ``key`` must redraw: all when forced, else those whose grid
        moved or (live only) whose data changed since they were last drawn."""
        return [
            pen
            for pen in self.pens.values()
            if force or key != pen.drawn_key or (pen.live.version != pen.drawn_version and not paused)
        ]

    def compose(self, pen: PenData) -> tuple[np.ndarray, np.ndarray]:
        """History older than the pen's live data, then the live data."""
        t, v = pen.live.arrays()
        if len(pen.hist_t):
            cut = t[0] if len(t) else math.inf
            keep = pen.hist_t < cut
            if keep.any():
                t = np.concatenate([pen.hist_t[keep], t])
                v = np.concatenate([pen.hist_v[keep], v])
        return t, v

    # -- history ----------------------------------------------------------------------------
    def needed_range(self, t0: float, t1: float) -> tuple[float, float] | None:
        """The part of the visible window ``[t0, t1]`` that needs history, if any.

        History is needed up to where the *last* pen's live data begins: a pen added to a
        running trend has only seconds of live data while the others have an hour, and stopping
        at the oldest pen's start left it without its past (seen as a flaky test once the new
        pen's first live sample came before the fetch); `compose` cuts each pen's history at its
        own live start, so the overlap is never drawn twice."""
        oldest = [p.live.oldest() for p in self.pens.values()]
        live_from = max((o for o in oldest if o is not None), default=t1)
        if any(o is None for o in oldest):
            live_from = t1
        if t0 >= live_from:
            return None
        end = min(t1, live_from)
        cov = self.hist_covered
        # a pen with no live data at all (a tag nobody polls) keeps ``end`` at now: follow it at
        # a fiftieth of the span (a few pixels), not with a fetch every second
        slack = max(1.0, (t1 - t0) / 50)
        # history fetched for a much wider view is too coarse for this one: zooming from a day
        # into an hour must fetch the hour at the hour's resolution, not stretch the day's points
        fine_enough = cov is not None and cov[1] - cov[0] <= 2 * (t1 - t0) + slack
        if cov is not None and cov[0] <= t0 and cov[1] >= end - slack and fine_enough:
            return None
        return t0, end

    def apply_history(self, result: Mapping[str, Series], t0: float, t1: float) -> int:
        """Take a history fetch for ``[t0, t1]`` (non-GOOD values become gaps); returns the
        number of points received."""
        points = 0
        for tag, series in result.items():
            pen = self.pens.get(tag)
            if pen is None:
                continue
            t = np.asarray(series.t, dtype=np.float64)
            v = np.asarray(series.value, dtype=np.float64)
            v = np.where(np.asarray(series.quality) == int(Quality.GOOD), v, np.nan)
            pen.hist_t, pen.hist_v = t, v
            pen.drawn_key = None
            points += len(t)
        self.hist_covered = (t0, t1)
        return points

    def needs_backfill(self, now: float) -> bool:
        """A live window reaching back past some pen's live data: history should fill it."""
        return bool(self.pens) and any(
            len(p.live) == 0 or (p.live.oldest() or now) > now - self.span_s for p in self.pens.values()
        )

    # -- cursor -----------------------------------------------------------------------------
    def readout_at(self, t: float) -> dict[str, float | None]:
        """Each pen's value at time ``t`` (the last sample at or before it; None: no good value)."""
        out: dict[str, float | None] = {}
        for tag, pen in self.pens.items():
            ts, vs = self.compose(pen)
            i = int(np.searchsorted(ts, t, side="right")) - 1
            out[tag] = float(vs[i]) if 0 <= i < len(ts) and not math.isnan(vs[i]) else None
        return out

    # -- setups -----------------------------------------------------------------------------
    def setup(self) -> dict[str, Any]:
        pens = [{"tag": p.tag, "unit": p.unit} for p in self.pens.values()]
        return {"version": 1, "span_s": self.span_s, "pens": pens}


def read_setup(path: str | Path) -> tuple[list[str], float]:
    """A saved trend setup's tags and span; ValueError naming the file when it is not one."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        pens = [str(p["tag"]) for p in raw["pens"]]
        span = float(raw.get("span_s", 600.0))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a trend setup ({type(e).__name__}: {e})") from None
    return pens, span
