"""The trend's data path without Qt: ring buffers and min/max decimation."""

from __future__ import annotations

from collections import deque

import numpy as np

from app.ui.decimate import minmax_decimate
from app.ui.trend_buffer import RingSeries


def test_ring_series_keeps_the_newest_samples_in_order_like_a_bounded_deque():
    rng = np.random.default_rng(0)
    for cap in (1, 3, 7, 50):
        ring, ref, k = RingSeries(cap), deque(maxlen=cap), 0
        for _ in range(300):
            if rng.random() < 0.5:
                ring.append(float(k), float(-k))
                ref.append(k)
                k += 1
            else:
                m = int(rng.integers(0, 2 * cap + 2))
                ts = np.arange(k, k + m, dtype=float)
                ring.extend(ts, -ts)
                ref.extend(range(k, k + m))
                k += m
            t, v = ring.arrays()
            assert list(t) == [float(x) for x in ref]
            assert list(v) == [-float(x) for x in ref]
            assert ring.oldest() == (float(ref[0]) if ref else None)
            assert len(ring) == len(ref)


def test_decimation_keeps_every_extreme_and_every_gap():
    t = np.arange(36_000) * 0.1
    v = np.sin(t / 50.0)
    v[12_345] = 9.0  # a one-sample spike
    v[20_000:20_003] = np.nan  # a short outage (bad quality)
    dt, dv = minmax_decimate(t, v, t[0], t[-1], 700)
    assert len(dt) <= 2 * 702 + 1
    assert np.nanmax(dv) == 9.0  # the spike survives
    assert np.isnan(dv).any()  # the outage stays visible
    gap = dt[np.isnan(dv)]
    assert gap.min() <= t[20_000] <= gap.max() + 3600 / 700
    assert dt[-1] == t[-1] and dv[-1] == v[-1]  # the newest sample itself is drawn
    assert np.all(np.diff(dt) >= 0)


def test_decimation_returns_small_windows_untouched():
    t = np.arange(100.0)
    v = t * 2
    dt, dv = minmax_decimate(t, v, 10.0, 20.0, 700)
    assert list(dt) == list(t[9:22]) and list(dv) == list(v[9:22])
