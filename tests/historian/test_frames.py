"""Regular polls are stored as one packed frame row each; everything read back must be exact.

These batches look like what the runtime hands over (one device poll: every point once, one
time stamp), so they take the frame path; the other historian tests mostly use irregular
batches and cover the per-sample path. Both paths answer the same queries.
"""

from __future__ import annotations

import csv
import time
from contextlib import closing
from datetime import datetime
from pathlib import Path

import numpy as np

from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.historian import Historian, HistorianReader, export_csv
from app.core.historian.frames import FRAME_MIN_SAMPLES, pack_frame
from app.core.historian.schema import connect_writer
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0
DAY = 86400.0
POINTS = [f"p{i:02d}" for i in range(12)]


def poll(device: str, k: int, t: float, bad: bool = False) -> list[Sample]:
    """One poll of a 12-point device: floats, an int, a bool; all BAD_COMM/None when ``bad``."""
    out = []
    for i, p in enumerate(POINTS):
        if bad:
            out.append(Sample(f"{device}.{p}", None, Quality.BAD_COMM, t))
        elif i == 0:
            out.append(Sample(f"{device}.{p}", k % 2 == 0, Quality.GOOD, t))
        elif i == 1:
            out.append(Sample(f"{device}.{p}", k, Quality.GOOD, t))
        else:
            out.append(Sample(f"{device}.{p}", k * 0.1 + i, Quality.GOOD, t))
    return out


def counts(db: Path) -> tuple[int, int, int]:
    """(frames, per-sample rows, layouts) in the file."""
    with closing(sqlite3.connect(db)) as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("frames", "samples", "frame_layouts")
        )


def test_a_poll_is_one_frame_and_reads_back_exactly(historian: Historian, db_path: Path) -> None:
    batch = poll("d1", 3, T0 + 0.25)
    batch[5] = Sample("d1.p05", None, Quality.BAD_DEVICE, T0 + 0.25)
    batch[6] = Sample("d1.p06", float("inf"), Quality.UNCERTAIN, T0 + 0.25)
    batch[7] = Sample("d1.p07", 2**53, Quality.GOOD, T0 + 0.25)
    batch[8] = Sample("d1.p08", -3.25e-7, Quality.GOOD, T0 + 0.25)
    historian.on_samples(batch)
    assert historian.flush(5.0)
    assert counts(db_path) == (1, 0, 1)
    got = historian.query([s.tag for s in batch])
    for s in batch:
        series = got[s.tag]
        assert series.t.tolist() == [s.t]
        assert series.quality.tolist() == [int(s.quality)]
        if s.value is None:
            assert np.isnan(series.value[0])
        else:
            assert series.value.tolist() == [float(s.value)]
    assert historian.stats().written == len(batch)
    assert sorted(historian.tags()) == sorted(s.tag for s in batch)


def test_many_polls_share_one_layout_and_keep_time_order(historian: Historian, db_path: Path) -> None:
    for k in range(40):
        historian.on_samples(poll("d1", k, T0 + k * 0.1))
        historian.on_samples(poll("d2", k, T0 + k * 0.1 + 0.05))
    assert historian.flush(5.0)
    assert counts(db_path) == (80, 0, 2)
    s = historian.query(["d2.p03"], T0 + 1.0, T0 + 2.05)["d2.p03"]
    ks = range(10, 21)  # inclusive at both ends: 1.05 .. 2.05
    assert np.allclose(s.t, [T0 + k * 0.1 + 0.05 for k in ks], rtol=0, atol=1e-9)
    assert s.value.tolist() == [k * 0.1 + 3 for k in ks]


def test_frames_and_rows_of_one_tag_merge_in_time_order(historian: Historian, db_path: Path) -> None:
    historian.on_samples(poll("d1", 0, T0 + 2))  # frame
    historian.on_samples([Sample("d1.p04", 100.0, Quality.GOOD, T0 + 1)])  # a lone row, earlier
    historian.on_samples(poll("d1", 1, T0 + 3))  # frame
    historian.on_samples([Sample("d1.p04", "text", Quality.GOOD, T0 + 2.5)])  # a string: a row
    assert historian.flush(5.0)
    assert counts(db_path) == (2, 2, 1)
    s = historian.query(["d1.p04"])["d1.p04"]
    assert s.t.tolist() == [T0 + 1, T0 + 2, T0 + 2.5, T0 + 3]
    assert s.value[:2].tolist() == [100.0, 4.0] and np.isnan(s.value[2]) and s.value[3] == 4.1
    latest = historian.latest(["d1.p04", "d1.p00"])
    assert latest["d1.p04"] == Sample("d1.p04", 4.1, Quality.GOOD, T0 + 3)
    assert latest["d1.p00"] == Sample("d1.p00", 0.0, Quality.GOOD, T0 + 3)  # bool False stored as 0
    info = {i.name: i for i in historian.tag_info()}
    assert (info["d1.p04"].first, info["d1.p04"].last) == (T0 + 1, T0 + 3)
    assert historian.time_range() == (T0 + 1, T0 + 3)


def test_irregular_batches_are_stored_row_by_row() -> None:
    t = T0
    regular = poll("d", 0, t)
    assert pack_frame(regular) is not None
    assert pack_frame(poll("d", 0, t, bad=True)) is not None  # a failed read (None values) too
    assert pack_frame(regular[: FRAME_MIN_SAMPLES - 1]) is None  # too small to be worth a frame
    mixed_time = [*regular[:-1], regular[-1]._replace(t=t + 1)]
    with_text = [*regular[:-1], regular[-1]._replace(value="AB-12")]
    numeric_text = [*regular[:-1], regular[-1]._replace(value="1.5")]  # a string stays a string
    odd_quality = [*regular[:-1], regular[-1]._replace(quality=300)]
    huge = [*regular[:-1], regular[-1]._replace(value=10**400)]
    garbage = [*regular[:-1], 42]
    for batch in (mixed_time, with_text, numeric_text, odd_quality, huge, garbage):
        assert pack_frame(batch) is None


def test_irregular_batches_still_round_trip(historian: Historian, db_path: Path) -> None:
    twice = [Sample("d.x", float(i), Quality.GOOD, T0) for i in range(10)]  # one tag ten times
    with_text = [*poll("e", 0, T0)[:-1], Sample("e.p11", "AB-12", Quality.GOOD, T0)]
    historian.on_samples(twice)
    historian.on_samples(with_text)
    assert historian.flush(5.0)
    assert counts(db_path) == (0, 22, 0)
    assert historian.query(["d.x"])["d.x"].value.tolist() == [float(i) for i in range(10)]
    assert historian.query(["e.p11"])["e.p11"].value.tolist() == ["AB-12"]


def test_downsampling_frames_keeps_extremes_and_bad_quality(historian: Historian) -> None:
    n = 3000
    for k in range(n):
        batch = poll("m", k, T0 + k * 0.1, bad=1000 <= k < 1010)
        if k == 2222:
            batch[4] = batch[4]._replace(value=1e6)  # a one-poll spike
        historian.on_samples(batch)
    assert historian.flush(10.0)
    s = historian.query(["m.p04"], max_points=90)["m.p04"]
    assert len(s) <= 90
    assert np.all(np.diff(s.t) > 0)
    good = s.quality == Quality.GOOD
    assert s.value[good].max() == 1e6 and s.value[good].min() == 4.0
    bad_t = s.t[s.quality == Quality.BAD_COMM]
    assert len(bad_t) >= 1 and np.all((bad_t >= T0 + 100) & (bad_t < T0 + 101))
    idx = np.rint((s.t - T0) / 0.1).astype(int)  # every point is a stored poll
    assert np.allclose(s.t, T0 + idx * 0.1, rtol=0, atol=1e-6)


def test_export_includes_frames_in_time_then_tag_order(db_path: Path, tmp_path: Path) -> None:
    with Historian(db_path) as h:
        h.on_samples(poll("b", 1, T0 + 1, bad=True))
        h.on_samples(poll("a", 1, T0 + 1))
        h.on_samples([Sample("a.p03", 7.5, Quality.STALE, T0 + 0.5)])  # a per-sample row
    out = tmp_path / "x.csv"
    rows_written = export_csv(db_path, out, ["a.p00", "a.p03", "b.p02"])
    assert rows_written == 4
    with open(out, newline="", encoding="utf-8") as f:
        got = [
            (datetime.fromisoformat(r["time"]).timestamp(), r["tag"], r["value"], r["quality"])
            for r in csv.DictReader(f)
        ]
    assert got == [
        (T0 + 0.5, "a.p03", "7.5", "STALE"),
        (T0 + 1, "a.p00", "0", "GOOD"),
        (T0 + 1, "a.p03", "3.1", "GOOD"),
        (T0 + 1, "b.p02", "", "BAD_COMM"),
    ]


def test_retention_expires_whole_frames_and_counts_their_samples(db_path: Path) -> None:
    now = T0 + 100 * DAY
    h = Historian(db_path, retention_days=30.0, retention_chunk=30, retention_check_s=3600, clock=lambda: now)
    h.start()
    for k in range(10):
        h.on_samples(poll("d", k, now - 31 * DAY + k))  # expired
    for k in range(4):
        h.on_samples(poll("d", k, now - 29 * DAY + k))  # kept
    assert h.flush(5.0)
    assert h.prune(10.0)
    h.close()
    assert h.stats().retention_deleted == 10 * len(POINTS)
    assert h.query(["d.p02"])["d.p02"].t.tolist() == [now - 29 * DAY + k for k in range(4)]
    assert counts(db_path)[0] == 4


def test_a_retention_step_is_bounded_for_frames_too(db_path: Path) -> None:
    now = T0 + 100 * DAY
    with Historian(db_path, retention_days=0) as h:
        for k in range(10):
            h.on_samples(poll("d", k, now - 40 * DAY + k))
        h.on_samples([Sample("e.fresh", 1.0, Quality.GOOD, now)])  # the clock agrees with the data
    h = Historian(db_path, retention_days=30.0, retention_chunk=30, clock=lambda: now)  # not started
    conn = connect_writer(db_path)
    try:
        steps = []
        while h._retention_step(conn):
            steps.append(h.stats().retention_deleted)
            assert len(steps) < 100
        steps.append(h.stats().retention_deleted)
    finally:
        conn.close()
    # 12-sample frames, 30-sample budget: two frames (24 samples) per step
    assert all(b - a <= 30 for a, b in zip([0, *steps], steps, strict=False))
    assert steps[-1] == 120


def test_a_restart_appends_to_the_same_layout(db_path: Path) -> None:
    for run in range(2):
        with Historian(db_path) as h:
            h.on_samples(poll("d", run, T0 + run))
    assert counts(db_path) == (2, 0, 1)
    assert Historian(db_path).query(["d.p05"])["d.p05"].value.tolist() == [5.0, 5.1]


def test_a_version_1_file_is_read_and_upgraded(db_path: Path) -> None:
    with Historian(db_path) as h:
        h.on_samples([Sample("old.x", 1.0, Quality.GOOD, T0)])
    with closing(sqlite3.connect(db_path)) as conn:  # make it look like the first schema
        for table in ("frames", "layout_tags", "frame_layouts"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("PRAGMA user_version=1")
        conn.commit()
    assert HistorianReader(db_path).query(["old.x"])["old.x"].value.tolist() == [1.0]
    with Historian(db_path) as h:  # opening for writing adds the frame tables
        h.on_samples(poll("old", 0, T0 + 1))
    s = HistorianReader(db_path).query(["old.x", "old.p03"])
    assert s["old.x"].value.tolist() == [1.0] and s["old.p03"].value.tolist() == [3.0]


def test_an_idle_writer_wakes_for_the_first_queued_poll(db_path: Path) -> None:
    """flush_interval_s is the longest a sample waits; the writer, asleep until its next
    retention check (an hour here), must be woken when the queue stops being empty."""
    h = Historian(db_path, flush_interval_s=0.05, batch_max=10**6, retention_check_s=3600)
    h.start()
    try:
        h.on_samples(poll("d", 0, T0))
        assert h.flush(5.0)  # now the queue is empty and the writer asleep
        time.sleep(0.1)
        h.on_samples(poll("d", 1, T0 + 1))
        for _ in range(500):  # bounded wait for the writer, not a timing assertion
            if h.stats().written > len(POINTS):
                break
            time.sleep(0.01)
        assert h.stats().written == 2 * len(POINTS)  # committed without anyone calling flush()
    finally:
        h.close()


def test_two_polls_with_the_same_time_stamp_are_both_kept(historian: Historian, db_path: Path) -> None:
    """A repeated time stamp for one device (a clock stepped back) must not lose data."""
    historian.on_samples(poll("d", 1, T0))
    historian.on_samples(poll("d", 2, T0))  # same commit, same time
    assert historian.flush(5.0)
    historian.on_samples(poll("d", 3, T0))  # a later commit, same time again
    assert historian.flush(5.0)
    assert counts(db_path) == (3, 0, 1)
    assert historian.stats().written == 3 * len(POINTS)
    assert sorted(historian.query(["d.p01"])["d.p01"].value.tolist()) == [1.0, 2.0, 3.0]
