"""Offline care of a historian file: rebuild the rollups, check them against the raw samples,
and say how big each level is and will grow (``vigil history rebuild / check / info``)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from app.core.historian import chunks
from app.core.historian.compactor import (
    Compactor,
    Row,
    coarser_rows,
    done_key,
    finest_rows,
    raw_edge,
    read_meta,
)
from app.core.historian.rollup import FINEST, LEVEL_NAMES, LEVELS, align_down, align_up
from app.core.historian.schema import HistorianError, connect_reader, connect_writer, create_schema


@dataclass
class RebuildResult:
    rows: int
    steps: int
    seconds: float


def rebuild(path: Path, progress: Callable[[float], None] | None = None) -> RebuildResult:
    """Delete the rollups that still have their raw samples and make them again from those.

    Run it while the workstation is stopped: a running writer keeps its own watermarks.
    ``progress`` gets the 10 s watermark after each step.
    """
    create_schema(path)  # an older file gains the rollup tables first
    start = time.perf_counter()
    compactor = Compactor(lag_s=0.0)
    with closing(connect_writer(path)) as conn:
        compactor.load(conn)
        conn.execute("BEGIN")
        compactor.reset(conn)
        conn.execute("COMMIT")
        steps = 0
        # the data decides the horizon, not the clock: a file may come from elsewhere
        while compactor.step(conn, math.inf):
            steps += 1
            if progress is not None and compactor.done[FINEST] is not None:
                progress(float(compactor.done[FINEST] or 0.0))
    return RebuildResult(compactor.rows_written, steps + 1, time.perf_counter() - start)


@dataclass
class CheckResult:
    compared: dict[str, int] = field(default_factory=dict)  # level name -> rows compared
    problems: list[str] = field(default_factory=list)


def check(path: Path, t0: float | None = None, t1: float | None = None, limit: int = 20) -> CheckResult:
    """Recompute the final rollups of ``[t0, t1]`` (default: the last day of data) and compare
    them with the stored ones: 10 s rows from the raw samples (where those are still kept),
    each coarser level from the stored finer one. Read-only."""
    result = CheckResult()
    with closing(connect_reader(path)) as conn:
        meta = read_meta(conn)
        if not meta:
            result.problems.append(f"{path}: no rollups in this file (run `vigil history rebuild`)")
            return result
        conn.execute("BEGIN")
        newest = raw_edge(conn, 0.0, newest=True)
        if newest is None:
            return result
        lo = newest - 86400.0 if t0 is None else t0
        hi = newest if t1 is None else t1
        names = {-tid: f"tag {name}" for tid, name in conn.execute("SELECT id, name FROM tags")}
        for level in LEVELS:
            done = meta.get(done_key(level))
            if done is None:
                continue
            finer = LEVELS[LEVELS.index(level) - 1] if level != FINEST else 0
            floor = meta.get("raw_kept_from", -math.inf) if level == FINEST else -math.inf
            a = align_up(max(lo, floor), level)
            b = min(align_down(hi, level), done)
            compared = 0
            chunk = level * 1000.0
            while a < b:
                e = min(b, a + chunk)
                fresh: list[Row] = (
                    finest_rows(conn, a, e)[0] if level == FINEST else coarser_rows(conn, finer, level, a, e)
                )
                stored = {
                    (src, bucket): data
                    for src, bucket, data in conn.execute(
                        "SELECT source, bucket, data FROM rollups "
                        "WHERE level = ? AND bucket >= ? AND bucket < ?",
                        (level, a, e),
                    )
                }
                for _lv, src, bucket, data in fresh:
                    compared += 1
                    if stored.pop((src, bucket), None) != data and len(result.problems) < limit:
                        who = names.get(src, f"layout {src}")
                        result.problems.append(
                            f"{LEVEL_NAMES[level]} rollup of {who} at {_iso(bucket)} does not match its data"
                        )
                for src, bucket in stored:
                    if len(result.problems) < limit:
                        who = names.get(src, f"layout {src}")
                        at = _iso(bucket)
                        result.problems.append(f"{LEVEL_NAMES[level]} rollup of {who} at {at} has no data")
                a = e
            result.compared[LEVEL_NAMES[level]] = compared
        conn.rollback()
    return result


def _iso(t: float) -> str:
    from app.core.historian.export import iso_utc

    return iso_utc(t)


@dataclass(frozen=True)
class LevelSize:
    name: str
    retention_days: float  # 0 = forever
    rows: int
    bytes: int  # estimated: rows x average row size (sampled) + index entries
    first: float | None
    last: float | None

    @property
    def per_day(self) -> float | None:
        """Bytes per day of data stored, from what is there now."""
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return self.bytes / ((self.last - self.first) / 86400.0)

    @property
    def at_retention(self) -> float | None:
        """Estimated bytes once the retention is reached (per year when kept forever)."""
        rate = self.per_day
        if rate is None:
            return None
        return rate * (self.retention_days or 365.0)


def sizes(path: Path, retention: dict[int, float]) -> tuple[list[LevelSize], int]:
    """Each level's rows and estimated bytes, and the file's size. ``retention``: level in
    seconds (0 = raw samples) -> days. Cheap on a big file: counts come from rowid spans and
    index counts, row sizes from the newest thousand rows."""
    if not path.exists():
        raise HistorianError(f"{path}: no historian database here")
    out = []
    with closing(connect_reader(path)) as conn:
        raw_rows = 0
        raw_bytes = 0
        for table, size_sql, overhead in (
            ("frames", "length(value) + length(quality)", 40),
            ("samples", "8 + coalesce(length(text), 0)", 45),
        ):
            lo, hi = conn.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {table}").fetchone()
            if lo is None:
                continue
            n = int(hi - lo + 1)
            avg = conn.execute(
                f"SELECT AVG({size_sql}) FROM (SELECT * FROM {table} ORDER BY rowid DESC LIMIT 1000)"
            ).fetchone()[0]
            raw_rows += n
            raw_bytes += int(n * (float(avg or 0) + overhead))
        if chunks.has_chunks(conn):  # a few hundred rows a month per device: summed exactly
            n_chunks, t_bytes = conn.execute("SELECT COUNT(*), SUM(length(t)) FROM chunks").fetchone()
            n_cols, c_bytes = conn.execute(
                "SELECT COUNT(*), SUM(length(value) + length(quality)) FROM chunk_columns"
            ).fetchone()
            raw_rows += int(n_chunks) + int(n_cols)
            raw_bytes += int(t_bytes or 0) + int(c_bytes or 0) + 60 * (int(n_chunks) + int(n_cols))
        first = raw_edge(conn, -math.inf)
        last = raw_edge(conn, 0.0, newest=True)
        out.append(LevelSize("raw", retention.get(0, 0.0), raw_rows, raw_bytes, first, last))
        has_rollups = bool(conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'rollups'").fetchone())
        for level in LEVELS:
            if not has_rollups:
                out.append(LevelSize(LEVEL_NAMES[level], retention.get(level, 0.0), 0, 0, None, None))
                continue
            n, b0, b1 = conn.execute(
                "SELECT COUNT(*), MIN(bucket), MAX(bucket) FROM rollups WHERE level = ?", (level,)
            ).fetchone()
            avg = conn.execute(
                "SELECT AVG(length(data)) FROM (SELECT data FROM rollups WHERE level = ? "
                "ORDER BY bucket DESC LIMIT 1000)",
                (level,),
            ).fetchone()[0]
            size = int(n * (float(avg or 0) + 60))  # row header, two index entries
            out.append(LevelSize(LEVEL_NAMES[level], retention.get(level, 0.0), int(n), size, b0, b1))
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    file_bytes = int(page_size * pages)
    wal = Path(str(path) + "-wal")
    if wal.exists():
        file_bytes += os.path.getsize(wal)
    return out, file_bytes


def human(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"
