"""Min/max decimation for drawing: a curve never needs more than two points per pixel column.

An hour at 10 Hz is 36,000 points per pen; a plot 700 pixels wide can show 1,400 of them. Each
bucket keeps its minimum and maximum, so a spike is never averaged away, and a bucket holding a
NaN (bad quality) becomes a gap, so an outage stays visible at every zoom level. Bucket edges
sit on whole multiples of the bucket width, so a scrolling trend does not shimmer as new data
arrives.
"""

from __future__ import annotations

import math

import numpy as np


def minmax_decimate(
    t: np.ndarray, v: np.ndarray, t0: float, t1: float, buckets: int
) -> tuple[np.ndarray, np.ndarray]:
    """The points of (t, v) to draw for the window [t0, t1] at ``buckets`` columns.

    ``t`` must be sorted. One point either side of the window is kept so lines run to the edge.
    """
    n = len(t)
    if n == 0 or buckets <= 0 or not t1 > t0:
        return t, v
    i0 = max(0, int(np.searchsorted(t, t0, side="left")) - 1)
    i1 = min(n, int(np.searchsorted(t, t1, side="right")) + 1)
    t, v = t[i0:i1], v[i0:i1]
    if len(t) <= 2 * buckets:
        return t, v
    width = (t1 - t0) / buckets
    first = math.floor(t[0] / width) * width
    count = math.ceil((t[-1] - first) / width) + 1
    edges = first + width * np.arange(count)
    idx = np.unique(np.searchsorted(t, edges, side="left"))
    idx = idx[idx < len(t)]
    lo = np.minimum.reduceat(v, idx)
    hi = np.maximum.reduceat(v, idx)
    out_t = np.empty(2 * len(idx) + 1)
    out_v = np.empty(2 * len(idx) + 1)
    out_t[0:-1:2] = t[idx]
    out_t[1:-1:2] = t[idx]
    out_v[0:-1:2] = lo
    out_v[1:-1:2] = hi
    out_t[-1] = t[-1]  # the newest sample itself, so a live line reaches "now"
    out_v[-1] = v[-1]
    return out_t, out_v
