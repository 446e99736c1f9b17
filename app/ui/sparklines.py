"""The tag table's "last hour" sparklines: what to draw (Qt-free) and how they are fetched.

One sparkline is a tag's last hour, min/max downsampled by the historian to a few points per
pixel column of a small cell. The historian answers that from its 1-minute rollups (a few dozen
rows per tag whatever the poll rate), so the whole visible table is one batched `Station.history`
call on a worker thread, repeated at a calm rate (``REFRESH_S``): a sparkline of an hour moves a
pixel a minute, and refreshing faster would only cost the station work.

Nothing is fetched while the table cannot be seen (hidden dock, minimised window) and only the
rows on screen are asked for; scrolling asks for the rows that come into view.

Quality: only GOOD samples make the line. A stretch of BAD, STALE or UNCERTAIN samples is a gap
marked underneath in the bad-quality colour, and a time without any sample (the station was off)
is a gap too, so a sparkline never draws a line through data it does not have.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.core.model import Quality
from app.station.interface import Series

#: the span a sparkline shows, and how often the visible ones are fetched again (seconds)
SPAN_S = 3600.0
REFRESH_S = 30.0
#: points asked per sparkline: two per pixel column of a ~100 px cell is all it can show
POINTS = 200
_GOOD = int(Quality.GOOD)


@dataclass(frozen=True)
class Spark:
    """One sparkline, in cell coordinates 0..1 (x: time from ``t0`` to ``t1``; y: the point's
    engineering range, or the data's own when it has none; 1 is the top).

    ``runs``: the polylines to draw (each an (n, 2) array; a gap between runs is missing or
    non-GOOD data). ``bad``: (x0, x1) stretches of non-GOOD samples, marked under the line.
    ``lo``/``hi``: the good values' range over the hour, for the tooltip (None: no good value).
    """

    t0: float
    t1: float
    runs: tuple[np.ndarray, ...]
    bad: tuple[tuple[float, float], ...]
    lo: float | None
    hi: float | None
    fixed: bool  # drawn on the engineering range (else autoscaled to the data)

    @property
    def empty(self) -> bool:
        return not self.runs and not self.bad


def build_spark(
    series: Series, t0: float, t1: float, scale: tuple[float, float] | None, max_gap_s: float | None = None
) -> Spark:
    """The sparkline of ``series`` over ``[t0, t1]``. ``max_gap_s``: a longer time between two
    samples breaks the line (default: 3 % of the span, a few minutes of an hour)."""
    t = np.asarray(series.t, dtype=np.float64)
    v = np.asarray(series.value, dtype=np.float64) if len(t) else np.empty(0)
    q = np.asarray(series.quality).astype(np.int16) & 0xFF if len(t) else np.empty(0, np.int16)
    keep = (t >= t0) & (t <= t1)
    t, v, q = t[keep], v[keep], q[keep]
    span = t1 - t0
    gap = max_gap_s if max_gap_s is not None else 0.03 * span
    good = (q == _GOOD) & np.isfinite(v)
    lo = float(v[good].min()) if good.any() else None
    hi = float(v[good].max()) if good.any() else None
    if scale is not None:
        y_lo, y_hi = scale
    elif lo is not None and hi is not None:
        pad = (hi - lo) * 0.1 or max(abs(hi) * 0.05, 1e-9)
        y_lo, y_hi = lo - pad, hi + pad
    else:
        y_lo, y_hi = 0.0, 1.0
    x = (t - t0) / span if span > 0 else np.zeros(len(t))
    y = np.clip((v - y_lo) / (y_hi - y_lo), 0.0, 1.0)  # a value off the range is pinned to its edge
    runs: list[np.ndarray] = []
    start: int | None = None
    for i in range(len(t)):
        if start is not None and (not good[i] or t[i] - t[i - 1] > gap):
            runs.append(np.column_stack((x[start:i], y[start:i])))
            start = None
        if start is None and good[i]:
            start = i
    if start is not None:
        runs.append(np.column_stack((x[start:], y[start:])))
    bad: list[tuple[float, float]] = []
    for i in np.flatnonzero(~good).tolist():
        # a non-GOOD sample's stretch runs to the next sample (a min/max point stands for a bucket)
        a = float(x[i])
        b = float(x[i + 1]) if i + 1 < len(t) else a  # the painter gives it 2 px at least
        if bad and a <= bad[-1][1]:
            bad[-1] = (bad[-1][0], max(bad[-1][1], b))
        else:
            bad.append((a, b))
    return Spark(t0, t1, tuple(runs), tuple(bad), lo, hi, scale is not None)


class SparkFetcher:
    """Decides which tags to fetch and when; the Qt side (``TagTable``) calls ``due`` from a
    timer and from scrolling, runs ``fetch`` on a worker and hands the result to ``take``."""

    def __init__(
        self,
        history: Callable[[list[str], float, float, int], Mapping[str, Series]],
        scale: Callable[[str], tuple[float, float] | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._history = history
        self._scale = scale
        self._clock = clock
        self.fetched_at: dict[str, float] = {}  # tag -> clock time of its last fetch
        self.busy = False
        self.queries = 0  # history calls made (tests look at it)

    def due(self, visible: Sequence[str], *, refresh_s: float = REFRESH_S) -> list[str]:
        """The visible tags whose sparkline is missing or older than ``refresh_s``; when any is
        due, every visible tag fetched more than half that long ago rides along, so refreshes
        line up into one query instead of one per scroll step."""
        if self.busy or not visible:
            return []
        now = self._clock()
        stale = [t for t in visible if now - self.fetched_at.get(t, -np.inf) >= refresh_s]
        if not stale:
            return []
        ride = [t for t in visible if t not in stale and now - self.fetched_at[t] >= refresh_s / 2]
        return stale + ride

    def fetch(self, tags: list[str]) -> dict[str, Spark]:
        """Worker thread: one history call for every tag, then the drawing data."""
        t1 = self._clock()
        t0 = t1 - SPAN_S
        self.queries += 1
        result = self._history(tags, t0, t1, POINTS)
        return {tag: build_spark(result.get(tag) or Series.empty(), t0, t1, self._scale(tag)) for tag in tags}

    def mark(self, tags: Sequence[str]) -> None:
        now = self._clock()
        for tag in tags:
            self.fetched_at[tag] = now

    def forget(self) -> None:
        self.fetched_at.clear()


def describe(spark: Spark | None, unit: str) -> str:
    """The tooltip of a sparkline cell."""
    if spark is None:
        return "last hour: not loaded yet"
    parts = []
    if spark.lo is not None and spark.hi is not None:
        u = f" {unit}" if unit else ""
        parts.append(f"last hour: {spark.lo:.4g} to {spark.hi:.4g}{u}")
    else:
        parts.append("last hour: no good value")
    if spark.bad:
        parts.append("violet marks: bad or stale quality, not drawn")
    if not spark.fixed:
        parts.append("autoscaled (no engineering range in the profile)")
    return "\n".join(parts)

