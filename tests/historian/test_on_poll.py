"""The column-wise sink hook: ``Historian.on_poll`` must store exactly what ``on_samples`` of the
same poll's Samples stores (same frame bytes, same rows, same answers), keep the queue bound and
count what it drops, and never raise on columns that do not fit together.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.historian import Historian, HistorianReader
from app.core.historian.frames import FRAME_MIN_SAMPLES, column_samples, pack_columns, pack_frame
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0


def tags_of(device: str, n: int = 12) -> tuple[str, ...]:
    return tuple(f"{device}.p{i:02d}" for i in range(n))


def polls(device: str) -> list[tuple[tuple[str, ...], float, list, bytes | None]]:
    """Columns of a few polls like the runtime makes: all GOOD (qualities None), one with a
    failed block (None values, BAD_DEVICE), one with every point BAD_COMM."""
    tags = tags_of(device)
    good = [True, 7, *[k * 0.5 - 1.25 for k in range(10)]]
    part = list(good)
    part[4:8] = [None] * 4
    part_q = bytes([Quality.GOOD] * 4 + [Quality.BAD_DEVICE] * 4 + [Quality.GOOD] * 4)
    return [
        (tags, T0, good, None),
        (tags, T0 + 0.1, part, part_q),
        (tags, T0 + 0.2, [None] * 12, bytes([Quality.BAD_COMM]) * 12),
        (tags, T0 + 0.3, [False, 2**53, *[1e300] * 10], None),
    ]


def table(db: Path, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def test_on_poll_stores_the_same_bytes_as_on_samples(tmp_path: Path) -> None:
    by_columns, by_samples = tmp_path / "columns.sqlite", tmp_path / "samples.sqlite"
    with Historian(by_columns, flush_interval_s=0.05) as h:
        for tags, t, values, qualities in polls("d1"):
            h.on_poll("d1", t, tags, values, qualities)
        assert h.flush(5.0)
        assert h.stats().written == 4 * 12
    with Historian(by_samples, flush_interval_s=0.05) as h:
        for tags, t, values, qualities in polls("d1"):
            h.on_samples(column_samples(tags, t, values, qualities))
        assert h.flush(5.0)
    frames = "SELECT layout_id, t, value, quality FROM frames ORDER BY rowid"
    assert len(table(by_columns, frames)) == 4
    assert table(by_columns, frames) == table(by_samples, frames)
    assert table(by_columns, "SELECT COUNT(*) FROM samples") == [(0,)]
    got = HistorianReader(by_columns).query(list(tags_of("d1")))
    p00 = got["d1.p00"].value  # bools as 0/1; the BAD_COMM poll keeps no value
    assert p00[[0, 1, 3]].tolist() == [1.0, 1.0, 0.0] and np.isnan(p00[2])
    p05 = got["d1.p05"]
    assert p05.quality.tolist() == [Quality.GOOD, Quality.BAD_DEVICE, Quality.BAD_COMM, Quality.GOOD]
    assert p05.value[0] == 0.25 and np.isnan(p05.value[1]) and p05.value[3] == 1e300
    assert got["d1.p01"].value[3] == 2.0**53


def test_columns_that_are_no_frame_are_stored_row_by_row(historian: Historian, db_path: Path) -> None:
    small = tags_of("s", FRAME_MIN_SAMPLES - 1)
    historian.on_poll("s", T0, small, [float(i) for i in range(len(small))], None)
    texty = tags_of("x")
    values = [*range(11), "AB-12"]
    historian.on_poll("x", T0, texty, values, None)
    assert pack_columns(texty, T0, values) is None
    assert historian.flush(5.0)
    assert table(db_path, "SELECT COUNT(*) FROM frames") == [(0,)]
    assert table(db_path, "SELECT COUNT(*) FROM samples") == [(len(small) + 12,)]
    got = historian.query(["s.p03", "x.p11", "x.p10"])
    assert got["s.p03"].value.tolist() == [3.0]
    assert got["x.p11"].value.tolist() == ["AB-12"]
    assert got["x.p10"].value.tolist() == [10.0]
    assert historian.stats().written == len(small) + 12 and historian.stats().dropped == 0


def test_columns_that_do_not_fit_together_are_counted_not_raised(historian: Historian, caplog) -> None:
    tags = tags_of("bad")
    historian.on_poll("bad", T0, tags, [1.0] * 11, None)  # one value short
    historian.on_poll("bad", T0, tags, [1.0] * 12, b"\x00" * 5)  # qualities of another poll
    historian.on_poll("bad", T0, tags, [1.0] * 12, None)  # fine
    assert historian.flush(5.0)
    stats = historian.stats()
    assert (stats.written, stats.dropped, stats.dropped_batches) == (12, 24, 2)
    assert "device 'bad'" in caplog.text
    assert historian.query(["bad.p00"])["bad.p00"].value.tolist() == [1.0]


def test_on_poll_keeps_the_queue_bound_and_counts_drops(tmp_path: Path) -> None:
    h = Historian(tmp_path / "h.sqlite", queue_max=30)  # not started: nothing leaves the queue
    tags = tags_of("q")
    for k in range(4):
        h.on_poll("q", T0 + k, tags, [float(k)] * 12, None)
    stats = h.stats()
    assert (stats.accepted, stats.queued, stats.dropped, stats.dropped_batches) == (24, 24, 24, 2)
    h.close()  # never started: writes what was queued
    h.on_poll("q", T0 + 9, tags, [9.0] * 12, None)  # closed: refused and counted
    assert h.stats().dropped == 36
    assert HistorianReader(tmp_path / "h.sqlite").query(["q.p00"])["q.p00"].value.tolist() == [0.0, 1.0]


def test_pack_frame_and_pack_columns_agree() -> None:
    for tags, t, values, qualities in polls("e"):
        samples = column_samples(tags, t, values, qualities)
        assert pack_frame(samples) == pack_columns(tags, t, values, qualities)
        assert all(type(s.quality) is Quality for s in samples)
    assert column_samples(("a",), T0, [1.0], b"\x07") == [Sample("a", 1.0, 7, T0)]  # type: ignore[list-item]
