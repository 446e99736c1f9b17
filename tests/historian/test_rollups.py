"""Rollups answer a trend exactly as min/max downsampling of the raw samples would.

The property test writes random series through the real Historian (frames for regular polls,
per-sample rows for irregular batches, late samples after the rollups were built), lets the
writer build its rollups, and compares every downsampled query with ``downsample_indices`` run
on the very samples written (kept in memory here): same samples, same values, same qualities.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.historian import Historian, HistorianReader
from app.core.historian.downsample import downsample_indices
from app.core.historian.rollup import REC, bucket_width
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0
TAGS = tuple(f"d.p{i:02d}" for i in range(9))  # a regular poll: a frame of 9 columns
TAG = TAGS[4]
QUALITIES = [Quality.GOOD] * 12 + [Quality.UNCERTAIN, Quality.BAD_COMM, Quality.BAD_DEVICE, Quality.STALE]


def _series(seed: int, n: int, step_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    steps = rng.choice([0.1, 0.5, 1.0, 7.0, 61.0], size=n, p=[0.4, 0.2, 0.2, 0.15, 0.05]) * step_scale
    t = np.round(T0 + rng.uniform(0, 3600) + np.cumsum(steps), 3)
    value = np.round(rng.normal(0, 10, n), 2)
    spikes = rng.random(n) < 0.01
    value[spikes] = rng.choice([1e6, -1e6], size=int(spikes.sum()))
    value[rng.random(n) < 0.01] = np.nan
    quality = np.array([int(q) for q in rng.choice(QUALITIES, size=n)], dtype=np.int8)
    if rng.random() < 0.3:
        quality[:] = Quality.GOOD
    return t, value, quality


def _write(
    h: Historian, t: np.ndarray, value: np.ndarray, quality: np.ndarray, rng: np.random.Generator
) -> None:
    for i in range(len(t)):
        v = None if np.isnan(value[i]) else float(value[i])
        q = int(quality[i])
        if rng.random() < 0.1:  # an irregular batch: per-sample rows
            h.on_samples([Sample(TAG, v, Quality(q), float(t[i]))])
        else:
            values = [float(k) for k in range(len(TAGS))]
            values[TAGS.index(TAG)] = v  # type: ignore[call-overload]
            qual = bytearray([Quality.GOOD] * len(TAGS))
            qual[TAGS.index(TAG)] = q
            h.on_poll("d", float(t[i]), TAGS, values, bytes(qual))


def _expected(t: np.ndarray, value: np.ndarray, quality: np.ndarray, a: float, b: float, max_points: int):
    m = (t >= a) & (t <= b)
    tt, vv, qq = t[m], value[m], quality[m]
    idx = downsample_indices(tt, vv, qq, max_points, True)
    return tt[idx], vv[idx], qq[idx]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(200, 2500),
    step_scale=st.sampled_from([0.2, 1.0, 5.0]),
    late_share=st.sampled_from([0.0, 0.05]),
    ranges=st.lists(
        st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(10, 600)), min_size=4, max_size=4
    ),
    chunk_after_s=st.sampled_from([None, 600.0]),  # older frames rewritten into per-tag chunks
)
def test_rollup_answer_equals_downsampling_the_raw_samples(
    tmp_path_factory, seed: int, n: int, step_scale: float, late_share: float, ranges: list,
    chunk_after_s: float | None,
) -> None:
    t, value, quality = _series(seed, n, step_scale)
    rng = np.random.default_rng(seed + 1)
    late = rng.random(n) < late_share
    clock_now = [float(t[-1]) + 60.0]
    path = tmp_path_factory.mktemp("prop") / "historian.sqlite"
    h = Historian(
        path, flush_interval_s=0.01, rollup_interval_s=3600, clock=lambda: clock_now[0],
        chunk_after_s=chunk_after_s,
    )
    h.start()
    try:
        on_time = ~late
        _write(h, t[on_time], value[on_time], quality[on_time], rng)
        assert h.flush(20.0) and h.catch_up(60.0)
        if late.any():  # samples that turn up after their buckets were rolled up
            _write(h, t[late], value[late], quality[late], rng)
            assert h.flush(20.0) and h.catch_up(60.0)
        assert h.stats().failed == 0 and h.stats().dropped == 0
        rollup_rows_before = h.reader.rollup_rows_read
        used_rollups = False
        for fa, fb, max_points in ranges:
            a, b = sorted((t[0] + fa * (t[-1] - t[0]), t[0] + fb * (t[-1] - t[0])))
            got = h.query([TAG], a, b, max_points=max_points)[TAG]
            et, ev, eq = _expected(t, value, quality, a, b, max_points)
            assert got.t.tolist() == et.tolist()
            np.testing.assert_array_equal(got.value, ev)
            assert got.quality.tolist() == eq.tolist()
            span_n = int(((t >= a) & (t <= b)).sum())
            if span_n > max_points and bucket_width(float(b - a), max_points, False)[1] is not None:
                used_rollups = True
        if used_rollups:
            assert h.reader.rollup_rows_read > rollup_rows_before  # the answer did come from rollups
        raw = h.query([TAG])[TAG]  # every sample back, bit for bit, from chunks, frames and rows
        order = np.argsort(t, kind="stable")
        assert raw.t.tolist() == t[order].tolist() and raw.quality.tolist() == quality[order].tolist()
        np.testing.assert_array_equal(raw.value, value[order])
    finally:
        h.close()


def test_a_month_is_answered_from_a_few_thousand_rollup_rows(tmp_path: Path) -> None:
    """30 days of one tag at one sample per 30 s: the 2,000-point trend reads rollup rows, not
    the 86,400 samples, and still equals downsampling them."""
    n = 30 * 2880
    t = T0 + np.arange(n) * 30.0
    value = np.sin(np.arange(n) / 500.0)
    value[12_345] = 7.0  # one spike in a month
    quality = np.zeros(n, np.int8)
    quality[70_000:70_050] = Quality.BAD_COMM
    h = Historian(tmp_path / "h.sqlite", clock=lambda: float(t[-1]) + 60, rollup_interval_s=3600)
    h.start()
    for k in range(0, n, 2000):
        rows = range(k, min(n, k + 2000))
        h.on_samples([Sample("m.x", float(value[i]), Quality(int(quality[i])), float(t[i])) for i in rows])
        if k % 40_000 == 0:
            assert h.flush(60.0)  # stay below the queue bound
    assert h.flush(60.0) and h.catch_up(120.0)
    assert h.stats().dropped == 0
    h.close()
    reader = HistorianReader(tmp_path / "h.sqlite")
    got = reader.query(["m.x"], max_points=2000)["m.x"]
    et, ev, eq = _expected(t, value, quality, -np.inf, np.inf, 2000)
    assert got.t.tolist() == et.tolist() and got.quality.tolist() == eq.tolist()
    np.testing.assert_array_equal(got.value, ev)
    assert 7.0 in got.value.tolist()
    assert Quality.BAD_COMM in got.quality.tolist()
    assert reader.rollup_rows_read < 5000 and reader.raw_rows_read < 500


def test_bad_samples_never_make_a_rollup_look_good(tmp_path: Path) -> None:
    """A bucket of only bad samples has no good min/max/mean, counts its mix, and keeps its first
    bad sample with its own quality; a bad 999 beside good values is never the maximum."""
    path = tmp_path / "h.sqlite"
    h = Historian(path, clock=lambda: T0 + 3600, rollup_interval_s=3600)
    h.start()
    batch = []
    for i in range(600):  # 10 minutes at 1 Hz
        if i < 60:  # the first minute: comm loss with garbage values
            batch.append(Sample("x.v", 999.0, Quality.BAD_COMM, T0 + i))
        elif i < 70:
            batch.append(Sample("x.v", 50.0, Quality.UNCERTAIN, T0 + i))
        elif i == 300:
            batch.append(Sample("x.v", 999.0, Quality.BAD_DEVICE, T0 + i))
        else:
            batch.append(Sample("x.v", float(i % 10), Quality.GOOD, T0 + i))
    batch.append(Sample("y.other", 0.0, Quality.GOOD, T0 + 700))  # time moves on: 10 min are final
    h.on_samples(batch)
    assert h.flush(10.0) and h.catch_up(30.0)
    h.close()
    with closing(sqlite3.connect(path)) as conn:
        minute = {
            bucket: np.frombuffer(data, REC)[0]
            for bucket, data in conn.execute("SELECT bucket, data FROM rollups WHERE level = 60")
        }
        tens = conn.execute("SELECT data FROM rollups WHERE level = 600").fetchall()
        (ten,) = [np.frombuffer(d, REC)[0] for (d,) in tens]
    first = minute[T0]
    assert (first["n"], first["n_good"], first["n_bad"], first["n_val"]) == (60, 0, 60, 0)
    assert np.isnan(first["min_t"]) and np.isnan(first["max_t"]) and first["sum"] == 0.0
    assert first["ng_t"] == T0 and first["ng_q"] == Quality.BAD_COMM and first["ng_v"] == 999.0
    second = minute[T0 + 60]
    assert (second["n"], second["n_good"], second["n_bad"]) == (60, 50, 0)  # 10 uncertain
    assert second["max_v"] == 9.0 and second["ng_q"] == Quality.UNCERTAIN
    assert (ten["n"], ten["n_good"], ten["n_bad"]) == (600, 529, 61)
    assert ten["max_v"] == 9.0 and ten["min_v"] == 0.0  # neither 999 nor 50 counted as good
    assert ten["ng_t"] == T0 and ten["ng_q"] == Quality.BAD_COMM
    s = HistorianReader(path).query(["x.v"], max_points=40)["x.v"]
    good = s.quality == Quality.GOOD
    assert s.value[good].max() == 9.0
    assert T0 + 300 in s.t[s.quality == Quality.BAD_DEVICE].tolist()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), cols=st.integers(1, 6))
def test_the_writers_fast_reduction_equals_the_general_merge(seed: int, n: int, cols: int) -> None:
    """The compactor summarises frames with ``reduce_raw``; the queries merge with
    ``reduce_segments``: both must give the same bytes for the same samples."""
    from app.core.historian.rollup import bucket_of, raw_records, reduce_raw, reduce_segments, runs

    rng = np.random.default_rng(seed)
    t = np.sort(T0 + np.round(rng.uniform(0, 120, n), 1))
    value = rng.choice([0.0, 1.0, -1.0, 2.5, np.nan, np.inf, -0.0], size=(n, cols))
    quality = rng.choice(np.array([0, 0, 0, 1, 2, 4, 5, 9], np.uint8), size=(n, cols))
    bucket = bucket_of(t, 10.0)
    starts = runs(bucket)
    fast = reduce_raw(t, value, quality, starts)
    general = reduce_segments(raw_records(t, value, quality), starts)
    assert fast.tobytes() == general.tobytes()


def test_a_version_2_file_gets_its_rollups_built_from_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    t, value, quality = _series(7, 1500, 1.0)
    with Historian(path, rollup_interval_s=3600) as h:
        _write(h, t, value, quality, np.random.default_rng(8))
    with closing(sqlite3.connect(path)) as conn:  # make it look like the version before rollups
        for table in ("rollups", "historian_meta"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DROP INDEX idx_samples_t")
        conn.execute("PRAGMA user_version=2")
        conn.commit()
    before = HistorianReader(path).query([TAG], max_points=100)[TAG]  # read-only: no rollups, raw
    et, ev, eq = _expected(t, value, quality, -np.inf, np.inf, 100)
    assert before.t.tolist() == et.tolist()
    h = Historian(path, clock=lambda: float(t[-1]) + 60, rollup_interval_s=3600)
    h.start()  # opening for writing adds the tables; the writer rolls up the backlog by itself
    assert h.catch_up(60.0)
    h.close()
    reader = HistorianReader(path)
    after = reader.query([TAG], max_points=100)[TAG]
    assert after.t.tolist() == et.tolist() and after.quality.tolist() == eq.tolist()
    np.testing.assert_array_equal(after.value, ev)
    assert reader.rollup_rows_read > 0
