"""The sink never blocks: full queue drops whole batches and counts them; retention deletes only old rows."""

from __future__ import annotations

import time
from pathlib import Path

from app.core.historian import Historian
from app.core.historian.schema import connect_writer
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0
DAY = 86400.0


def test_full_queue_drops_and_counts_instead_of_blocking(db_path: Path) -> None:
    h = Historian(db_path, queue_max=100)  # not started: nothing drains the queue
    batch = [Sample("a.x", 1.0, Quality.GOOD, T0 + i) for i in range(40)]
    h.on_samples(batch)
    h.on_samples(batch)
    h.on_samples(batch)  # 120 > 100: refused whole
    h.on_samples(batch[:20])  # exactly fills the queue: accepted
    stats = h.stats()
    assert (stats.accepted, stats.dropped, stats.dropped_batches, stats.queued) == (100, 40, 1, 100)
    assert h.dropped == 40
    h.start()
    assert h.flush(5.0)
    h.close()
    assert h.stats().written == 100
    assert len(h.query(["a.x"])["a.x"]) == 100


def test_malformed_sample_is_refused_alone(historian: Historian) -> None:
    historian.on_samples(
        [
            Sample("a.x", 1.0, Quality.GOOD, T0),
            Sample("a.x", 2.0, "not-a-quality", T0 + 1),  # type: ignore[arg-type]
            Sample("a.x", 3.0, Quality.GOOD, T0 + 2),
        ]
    )
    assert historian.flush(5.0)
    stats = historian.stats()
    assert (stats.written, stats.failed) == (2, 1)
    assert "malformed" in (stats.last_error or "") and "historian.sqlite" in (stats.last_error or "")
    assert historian.query(["a.x"])["a.x"].value.tolist() == [1.0, 3.0]


def test_retention_deletes_old_rows_only(db_path: Path) -> None:
    now = T0 + 100 * DAY
    h = Historian(db_path, retention_days=30.0, retention_chunk=7, retention_check_s=3600, clock=lambda: now)
    h.start()
    old = [
        Sample(tag, float(i), Quality.GOOD, now - 31 * DAY + i) for tag in ("a.x", "b.y") for i in range(50)
    ]
    new = [
        Sample(tag, float(i), Quality.GOOD, now - 29 * DAY + i) for tag in ("a.x", "b.y") for i in range(30)
    ]
    h.on_samples(old + new)
    assert h.flush(5.0)
    assert h.prune(10.0)
    h.close()
    assert h.stats().retention_deleted == 100  # in chunks of 7, all of them
    for tag in ("a.x", "b.y"):
        s = h.query([tag])[tag]
        assert s.t.tolist() == [x.t for x in new if x.tag == tag]


def test_retention_runs_by_itself_in_the_writer(db_path: Path) -> None:
    now = T0 + 100 * DAY
    h = Historian(
        db_path,
        retention_days=1.0,
        retention_chunk=5,
        retention_check_s=0.02,
        flush_interval_s=0.01,
        clock=lambda: now,
    )
    h.start()
    h.on_samples([Sample("a.x", 1.0, Quality.GOOD, now - 2 * DAY + i) for i in range(23)])
    h.on_samples([Sample("a.x", 2.0, Quality.GOOD, now)])
    for _ in range(500):  # bounded wait for the periodic pass, not a timing assertion
        if h.stats().retention_deleted == 23:
            break
        time.sleep(0.01)
    h.close()
    assert h.stats().retention_deleted == 23
    assert h.query(["a.x"])["a.x"].t.tolist() == [now]


def test_zero_retention_keeps_everything(db_path: Path) -> None:
    h = Historian(db_path, retention_days=0, clock=lambda: T0 + 1000 * DAY)
    h.start()
    h.on_samples([Sample("a.x", 1.0, Quality.GOOD, T0)])
    assert h.flush(5.0) and h.prune(5.0)
    h.close()
    assert len(h.query(["a.x"])["a.x"]) == 1


def test_a_retention_step_deletes_at_most_one_chunk(db_path: Path) -> None:
    """Retention works in bounded steps so a big backlog cannot hold the write lock for long."""
    now = T0 + 100 * DAY
    with Historian(db_path, retention_days=0) as h:  # keeps everything: build a backlog
        h.on_samples(
            [Sample(f"d.p{k}", 1.0, Quality.GOOD, now - 40 * DAY + i) for k in range(3) for i in range(25)]
        )
        h.on_samples([Sample("e.fresh", 1.0, Quality.GOOD, now)])  # the clock agrees with the data
    h = Historian(db_path, retention_days=30.0, retention_chunk=10, clock=lambda: now)  # writer not started
    conn = connect_writer(db_path)
    try:
        steps = []
        while h._retention_step(conn):
            steps.append(h.stats().retention_deleted)
            assert len(steps) < 100
        steps.append(h.stats().retention_deleted)
    finally:
        conn.close()
    assert all(b - a <= 10 for a, b in zip([0, *steps], steps, strict=False))
    assert steps[-1] == 75
    assert h.tags() == ["d.p0", "d.p1", "d.p2", "e.fresh"]  # names stay known; only rows expire
    assert all(len(s) == 0 for tag, s in h.query(h.tags()).items() if tag != "e.fresh")


def test_inserts_keep_landing_while_a_backlog_is_pruned(db_path: Path) -> None:
    now = T0 + 100 * DAY
    with Historian(db_path, retention_days=0) as h:
        h.on_samples([Sample("a.x", 1.0, Quality.GOOD, now - 40 * DAY + i * 0.01) for i in range(5000)])
    h = Historian(db_path, retention_days=30.0, retention_chunk=50, retention_check_s=3600, clock=lambda: now)
    h.start()
    for i in range(20):
        h.on_samples([Sample("b.y", float(i), Quality.GOOD, now + i)])
        assert h.flush(10.0)
    assert h.prune(30.0)
    h.close()
    assert h.stats().retention_deleted == 5000
    assert len(h.query(["a.x"])["a.x"]) == 0
    assert h.query(["b.y"])["b.y"].value.tolist() == [float(i) for i in range(20)]


def test_a_dead_writer_is_reported_and_further_samples_are_counted(db_path: Path, monkeypatch) -> None:
    """A bug inside the writer cannot be produced with real data, so this one fault is injected."""
    h = Historian(db_path, flush_interval_s=0.01)

    def broken_step(conn: object) -> bool:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(h, "_retention_step", broken_step)
    h.start()
    assert h._thread is not None
    h._thread.join(10)  # the start-up retention pass raises at once
    assert not h._thread.is_alive()
    assert "historian writer stopped (RuntimeError: simulated bug)" in (h.stats().last_error or "")
    h.on_samples([Sample("a.x", 1.0, Quality.GOOD, T0)])
    assert h.dropped == 1
    assert h.flush(1.0)  # nothing accepted is left waiting
    h.close()
