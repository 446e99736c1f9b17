"""Older raw samples in per-tag chunks (issue 19): exact, read per tag, migrated from a version-3
file, checked and rebuilt, exported, expired by retention."""

from __future__ import annotations

import csv
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.historian import Historian, HistorianReader, export_csv
from app.core.historian.chunks import CHUNK_S, decode_floats, encode_floats
from app.core.historian.maintenance import check, rebuild
from app.core.model import Quality

T0 = 1_800_000_000.0  # an hour boundary
TAGS = tuple(f"d.p{i:02d}" for i in range(10))


def test_times_and_values_come_back_bit_for_bit():
    x = np.array([T0, T0 + 0.1, T0 + 0.2, np.nan, -0.0, np.inf, -np.inf, 1e-300, 5e-324, -7.25])
    back = decode_floats(encode_floats(x), len(x))
    assert back.view(np.uint64).tolist() == x.view(np.uint64).tolist()
    regular = T0 + np.arange(36_000) * 0.1
    assert len(encode_floats(regular)) < 0.5 * regular.nbytes  # regular times compress


def _fill(h: Historian, hours: float, hz: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``hours`` of a 10-point device through ``on_poll``; p03 goes BAD_COMM for a while."""
    t = T0 + np.arange(0.0, hours * 3600, 1 / hz)
    value = np.round(np.sin(np.arange(len(t)) / 100.0) * 50, 3)
    quality = np.full(len(t), int(Quality.GOOD), np.uint8)
    quality[4000:4300] = Quality.BAD_COMM
    for i in range(len(t)):
        values: list[float | None] = [float(value[i]) + k for k in range(len(TAGS))]
        q = bytearray([Quality.GOOD] * len(TAGS))
        q[3] = int(quality[i])
        if quality[i] != Quality.GOOD:
            values[3] = None
        h.on_poll("d", float(t[i]), TAGS, values, bytes(q))
        if i % 20_000 == 0:
            assert h.flush(30.0)
    assert h.flush(30.0) and h.catch_up(60.0)
    return t, value, quality


@pytest.fixture
def chunked(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray, np.ndarray]:
    path = tmp_path / "historian.sqlite"
    h = Historian(path, flush_interval_s=0.05, rollup_interval_s=3600, clock=lambda: T0 + 6 * 3600 + 60)
    h.start()
    try:
        t, value, quality = _fill(h, 6.0)
    finally:
        h.close()
    return path, t, value, quality


def test_old_frames_become_chunks_and_every_sample_reads_back_the_same(chunked):
    path, t, value, quality = chunked
    with closing(sqlite3.connect(path)) as conn:
        hours = [r[0] for r in conn.execute("SELECT t0 FROM chunks ORDER BY t0")]
        assert hours == [T0 + k * CHUNK_S for k in range(3)]  # whole hours 2 h before the newest
        assert conn.execute("SELECT COUNT(*) FROM chunk_columns").fetchone()[0] == 3 * len(TAGS)
        assert conn.execute("SELECT MIN(t) FROM frames").fetchone()[0] == T0 + 3 * CHUNK_S  # moved
    reader = HistorianReader(path)
    got = reader.query(["d.p03", "d.p07"])
    assert got["d.p07"].t.tolist() == t.tolist()
    np.testing.assert_array_equal(got["d.p07"].value, value + 7)
    p3 = got["d.p03"]
    assert p3.quality.tolist() == quality.astype(np.int8).tolist()
    assert np.isnan(p3.value[4000:4300]).all() and not np.isnan(p3.value[:4000]).any()
    # a range inside one chunk, its edges exact
    part = reader.query(["d.p07"], T0 + 100.5, T0 + 200)["d.p07"]
    assert part.t[0] == T0 + 101 and part.t[-1] == T0 + 200 and len(part) == 100
    info = {i.name: i for i in reader.tag_info()}
    assert (info["d.p00"].first, info["d.p00"].last) == (t[0], t[-1])
    assert reader.latest(["d.p00"])["d.p00"].t == t[-1]
    assert check(path).problems == []


def test_a_late_poll_into_a_chunked_hour_is_merged_in_time_order_and_rolled_up(chunked, tmp_path):
    path = chunked[0]
    h = Historian(path, flush_interval_s=0.05, rollup_interval_s=3600, clock=lambda: T0 + 6 * 3600 + 60)
    h.start()
    try:
        late_t = T0 + 1800.5  # between two polls of the first, chunked hour
        h.on_poll("d", late_t, TAGS, [1e6] * len(TAGS))
        assert h.flush(10.0) and h.catch_up(30.0)
        got = h.query(["d.p05"], T0 + 1799, T0 + 1802)["d.p05"]
        assert got.t.tolist() == [T0 + 1799, T0 + 1800, late_t, T0 + 1801, T0 + 1802]
        trend = h.query(["d.p05"], None, None, max_points=500)["d.p05"]
        assert 1e6 in trend.value.tolist()  # the spike reached the rollups
    finally:
        h.close()
    assert check(path, T0, T0 + 6 * 3600).problems == []


def test_a_version_3_file_is_upgraded_and_its_old_frames_chunked(tmp_path):
    path = tmp_path / "historian.sqlite"
    h = Historian(path, flush_interval_s=0.05, rollup_interval_s=3600, chunk_after_s=None,
                  clock=lambda: T0 + 4 * 3600)
    h.start()
    t, value, _q = _fill(h, 3.5)
    h.close()
    with closing(sqlite3.connect(path)) as conn:  # what Vigil before chunks left behind
        conn.execute("DROP TABLE chunk_columns")
        conn.execute("DROP TABLE chunks")
        conn.execute("PRAGMA user_version=3")
        conn.commit()
    old = HistorianReader(path).query(["d.p01"])["d.p01"]  # a reader copes before the upgrade
    assert old.t.tolist() == t.tolist()
    h = Historian(path, flush_interval_s=0.05, rollup_interval_s=3600, clock=lambda: T0 + 4 * 3600)
    h.start()
    assert h.catch_up(60.0)
    h.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
        assert conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0] == 1  # the first hour
    new = HistorianReader(path).query(["d.p01"])["d.p01"]
    assert new.t.tolist() == t.tolist()
    np.testing.assert_array_equal(new.value, value + 1)


def test_rebuild_check_and_export_read_the_chunks(chunked, tmp_path, capsys):
    path, _t, value, _q = chunked
    assert rebuild(path).rows > 0
    assert check(path, T0, T0 + 6 * 3600).problems == []
    out = tmp_path / "out.csv"
    n = export_csv(path, out, ["d.p02"], T0 + 3590, T0 + 3609)  # across a chunk boundary
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert n == len(rows) == 20
    assert [float(r["value"]) for r in rows] == (value[3590:3610] + 2).tolist()
    assert rows[0]["time"].endswith(":59:50.000Z") and {r["quality"] for r in rows} == {"GOOD"}
    data_dir = path.parent
    args = ["history", "check", "--data-dir", str(data_dir), "--from", str(T0), "--to", str(T0 + 7200)]
    assert main(args) == 0


def test_retention_deletes_whole_expired_chunks(tmp_path):
    path = tmp_path / "historian.sqlite"
    now = [T0 + 6 * 3600 + 60]
    h = Historian(path, flush_interval_s=0.05, rollup_interval_s=3600, clock=lambda: now[0],
                  retention_days=4 / 24, retention_max_share=1.0)  # 4 h of raw samples
    h.start()
    try:
        _fill(h, 6.0)
        assert h.prune(30.0)
        assert h.prune(30.0)
    finally:
        h.close()
    with closing(sqlite3.connect(path)) as conn:
        t0s = [r[0] for r in conn.execute("SELECT t0 FROM chunks ORDER BY t0")]
        orphans = conn.execute(
            "SELECT COUNT(*) FROM chunk_columns WHERE chunk_id NOT IN (SELECT id FROM chunks)"
        ).fetchone()[0]
    assert t0s == [T0 + 2 * CHUNK_S]  # hours 0 and 1 wholly before the cut (2 h + 60 s): gone
    assert orphans == 0
    first = HistorianReader(path).query(["d.p00"], None, None)["d.p00"].t[0]
    assert first == T0 + 2 * CHUNK_S  # the hour across the cut stays whole
