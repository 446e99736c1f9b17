"""Writing through the real writer thread and reading back exactly, on real SQLite files."""

from __future__ import annotations

import threading
from contextlib import closing
from pathlib import Path

import numpy as np

from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.historian import Historian
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0


def test_values_come_back_exactly(historian: Historian) -> None:
    values = [0.1, -3.25e-7, 1e300, 42, True, False, 2**53]
    batch = [Sample("pump.flow", v, Quality.GOOD, T0 + i * 0.1) for i, v in enumerate(values)]
    batch.append(Sample("pump.flow", None, Quality.BAD_COMM, T0 + 10.000123))
    historian.on_samples(batch)
    assert historian.flush(5.0)

    s = historian.query(["pump.flow"])["pump.flow"]
    assert s.t.tolist() == [x.t for x in batch]
    assert s.value[:-1].tolist() == [float(v) for v in values]
    assert np.isnan(s.value[-1])
    assert s.quality.tolist() == [0] * len(values) + [int(Quality.BAD_COMM)]


def test_strings_live_in_their_own_column(historian: Historian, db_path: Path) -> None:
    historian.on_samples(
        [Sample("meter.serial", "AB-12", Quality.GOOD, T0), Sample("meter.kw", 3.5, Quality.GOOD, T0)]
    )
    assert historian.flush(5.0)
    assert historian.query(["meter.serial"])["meter.serial"].value.tolist() == ["AB-12"]
    with closing(sqlite3.connect(db_path)) as conn:
        rows = conn.execute(
            "SELECT g.name, s.value, s.text, s.quality FROM samples s "
            "JOIN tags g ON g.id = s.tag_id ORDER BY g.name"
        ).fetchall()
    assert rows == [("meter.kw", 3.5, None, 0), ("meter.serial", None, "AB-12", 0)]


def test_each_tag_name_is_stored_once(historian: Historian, db_path: Path) -> None:
    for i in range(50):
        historian.on_samples([Sample("tank.level", float(i), Quality.GOOD, T0 + i)])
    assert historian.flush(5.0)
    with closing(sqlite3.connect(db_path)) as conn:
        assert conn.execute("SELECT COUNT(*) FROM tags").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 50
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_time_range_filters_are_inclusive(historian: Historian) -> None:
    historian.on_samples([Sample("a.x", float(i), Quality.GOOD, T0 + i) for i in range(10)])
    assert historian.flush(5.0)
    s = historian.query(["a.x", "never.seen"], T0 + 2, T0 + 5)
    assert s["a.x"].t.tolist() == [T0 + 2, T0 + 3, T0 + 4, T0 + 5]
    assert len(s["never.seen"]) == 0


def test_latest_tags_and_time_range(historian: Historian) -> None:
    assert historian.time_range() is None
    historian.on_samples([Sample("a.x", 1.0, Quality.GOOD, T0), Sample("b.y", 7.0, Quality.GOOD, T0 + 5)])
    historian.on_samples([Sample("a.x", None, Quality.STALE, T0 + 9)])
    assert historian.flush(5.0)
    latest = historian.latest(["a.x", "b.y", "c.z"])
    assert latest["a.x"] == Sample("a.x", None, Quality.STALE, T0 + 9)
    assert latest["b.y"].value == 7.0
    assert "c.z" not in latest
    assert historian.tags() == ["a.x", "b.y"]
    assert historian.time_range() == (T0, T0 + 9)


def test_data_survives_reopen(db_path: Path) -> None:
    with Historian(db_path) as h:
        h.on_samples([Sample("a.x", 1.0, Quality.GOOD, T0)])
    with Historian(db_path) as h:
        h.on_samples([Sample("a.x", 2.0, Quality.GOOD, T0 + 1), Sample("b.y", 3.0, Quality.GOOD, T0 + 1)])
    with Historian(db_path) as h:
        assert h.query(["a.x"])["a.x"].value.tolist() == [1.0, 2.0]
        assert h.tags() == ["a.x", "b.y"]


def test_close_drains_the_queue(db_path: Path) -> None:
    h = Historian(db_path, flush_interval_s=60.0, batch_max=1_000_000)
    h.start()
    for i in range(100):
        h.on_samples([Sample("a.x", float(i), Quality.GOOD, T0 + i)])
    h.close()  # neither interval nor batch size reached: close alone must write them
    assert h.stats().written == 100
    assert len(Historian(db_path).query(["a.x"])["a.x"]) == 100


def test_samples_given_before_start_are_written_at_close(db_path: Path) -> None:
    h = Historian(db_path)
    h.on_samples([Sample("a.x", 1.0, Quality.GOOD, T0)])
    h.close()
    assert len(Historian(db_path).query(["a.x"])["a.x"]) == 1


def test_samples_after_close_are_counted_as_dropped(db_path: Path) -> None:
    h = Historian(db_path)
    h.start()
    h.close()
    h.on_samples([Sample("a.x", 1.0, Quality.GOOD, T0)])
    assert h.dropped == 1


def test_concurrent_reads_while_writing(db_path: Path) -> None:
    """Readers in other threads see consistent, growing, time-ordered data while the writer commits."""
    h = Historian(db_path, flush_interval_s=0.01, batch_max=200)
    h.start()
    n_batches, per_batch = 200, 50
    errors: list[BaseException] = []
    seen: list[list[int]] = [[], []]
    done = threading.Event()

    def reader(seen_lengths: list[int]) -> None:
        try:
            for _ in range(2000):  # bounded even if the writer were stuck
                s = h.query(["plant.t"])["plant.t"]
                assert np.all(np.diff(s.t) > 0)
                # a batch is one transaction: a reader never sees half of one
                assert len(s) % per_batch == 0
                seen_lengths.append(len(s))
                if done.is_set():
                    return
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(lengths,)) for lengths in seen]
    for t in threads:
        t.start()
    for b in range(n_batches):
        h.on_samples(
            [
                Sample("plant.t", float(b), Quality.GOOD, T0 + (b * per_batch + i) * 0.001)
                for i in range(per_batch)
            ]
        )
        if b % 20 == 0:
            h.flush(5.0)
    assert h.flush(10.0)
    done.set()
    for t in threads:
        t.join(30)
    h.close()
    assert not errors, errors[0]
    assert len(h.query(["plant.t"])["plant.t"]) == n_batches * per_batch
    for lengths in seen:  # each reader's snapshots only ever grow
        assert lengths == sorted(lengths)
    assert len(set(seen[0] + seen[1])) > 2  # the readers really overlapped the writing
