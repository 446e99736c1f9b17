"""Min/max downsampling: extremes survive, bad quality stays bad, rows are real stored rows."""

from __future__ import annotations

import math

import numpy as np

from app.core.historian import Historian
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0


def _store(h: Historian, samples: list[Sample]) -> None:
    for i in range(0, len(samples), 1000):
        h.on_samples(samples[i : i + 1000])
    assert h.flush(10.0)


def test_spikes_and_extremes_survive(historian: Historian) -> None:
    n = 20_000
    values = [math.sin(i / 500) for i in range(n)]
    values[12_345] = 50.0  # a one-sample spike
    values[777] = -40.0  # and a one-sample dip
    _store(historian, [Sample("p.vib", v, Quality.GOOD, T0 + i * 0.1) for i, v in enumerate(values)])

    s = historian.query(["p.vib"], max_points=300)["p.vib"]
    assert 100 < len(s) <= 300
    assert s.value.max() == 50.0 and s.value.min() == -40.0
    assert np.all(np.diff(s.t) > 0)
    # every returned row is a stored row, not an invented one
    idx = np.rint((s.t - T0) / 0.1).astype(int)
    assert np.allclose(s.t, T0 + idx * 0.1, rtol=0, atol=1e-6)
    assert s.value.tolist() == [values[i] for i in idx]


def test_each_bucket_gives_its_min_and_max(historian: Historian) -> None:
    """Buckets are epoch-aligned (so rollups nest in them): 1,179 s into at most 30 points is
    2-minute buckets, here one per group of samples; each gives its min and max, and the range
    its first and last sample."""
    rng = np.random.default_rng(3)
    samples = []
    for k in range(10):  # group k: 100 samples from T0 + 120 k s, values k*1000 + 0..99 shuffled
        for j, v in enumerate(rng.permutation(100)):
            samples.append(Sample("a.x", float(k * 1000 + v), Quality.GOOD, T0 + k * 120 + j))
    _store(historian, samples)
    s = historian.query(["a.x"], T0, T0 + 1179, max_points=30)["a.x"]
    extremes = {k * 1000.0 for k in range(10)} | {k * 1000.0 + 99 for k in range(10)}
    ends = {samples[0].value, samples[-1].value}
    assert set(s.value.tolist()) == extremes | ends
    assert len(s) == len(extremes | ends)


def test_bad_quality_stays_visible_and_never_becomes_good(historian: Historian) -> None:
    n = 10_000
    samples = [Sample("m.hr", 60.0 + (i % 7), Quality.GOOD, T0 + i) for i in range(n)]
    for i in range(4000, 4100):  # comm loss: no values
        samples[i] = Sample("m.hr", None, Quality.BAD_COMM, T0 + i)
    samples[7000] = Sample("m.hr", 999.0, Quality.BAD_DEVICE, T0 + 7000)  # a garbage value flagged bad
    samples[8500] = Sample("m.hr", 61.0, Quality.UNCERTAIN, T0 + 8500)
    _store(historian, samples)
    original = {s.t: s for s in samples}

    s = historian.query(["m.hr"], max_points=150)["m.hr"]
    assert len(s) <= 150
    for t, q in zip(s.t.tolist(), s.quality.tolist(), strict=True):
        assert original[t].quality == q  # quality is the stored row's, never upgraded
    good = s.quality == Quality.GOOD
    assert s.value[good].max() == 66.0  # the bad 999 was not taken as a good maximum
    bad_t = s.t[s.quality == Quality.BAD_COMM]
    assert len(bad_t) >= 1 and np.all((bad_t >= T0 + 4000) & (bad_t < T0 + 4100))
    assert T0 + 7000 in s.t[s.quality == Quality.BAD_DEVICE]
    assert T0 + 8500 in s.t[s.quality == Quality.UNCERTAIN]


def test_small_ranges_come_back_untouched(historian: Historian) -> None:
    _store(historian, [Sample("a.x", float(i), Quality.GOOD, T0 + i) for i in range(50)])
    assert historian.query(["a.x"], max_points=100)["a.x"].value.tolist() == [float(i) for i in range(50)]


def test_string_tags_downsample_to_first_and_last(historian: Historian) -> None:
    _store(historian, [Sample("d.state", f"s{i}", Quality.GOOD, T0 + i) for i in range(1000)])
    s = historian.query(["d.state"], max_points=10)["d.state"]
    assert 2 < len(s) <= 10
    assert s.value[0] == "s0" and s.value[-1] == "s999"


def test_range_ends_are_kept(historian: Historian) -> None:
    """On a ramp the first bucket's min is the first row and the last bucket's max the last row,
    so the closing edge t1 itself must be inside the last bucket."""
    _store(historian, [Sample("a.ramp", float(i), Quality.GOOD, T0 + i) for i in range(1000)])
    s = historian.query(["a.ramp"], T0, T0 + 999, max_points=10)["a.ramp"]
    assert 2 < len(s) <= 10
    assert s.t[0] == T0 and s.value[0] == 0.0
    assert s.t[-1] == T0 + 999 and s.value[-1] == 999.0
