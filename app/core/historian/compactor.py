"""Keeping the rollups up to date: run in the historian's writer thread, in bounded steps.

Each level has a watermark (``done``): its rows are final for every bucket that ends at or below
it. A step rolls the raw samples of ``[done_10s, horizon)`` into 10 s rows (at most ``chunk_s``
of data time per step, skipping stretches without data), then each coarser level from the next
finer one up to where that finer level is final. The horizon trails the newest written sample
(and the clock) by ``lag_s``, so the polls still on their way are rarely late.

A sample that arrives below the 10 s watermark anyway (a clock stepped back, a slow device)
lowers every watermark to its bucket *in the same transaction that stores it*, and the next steps
rebuild from there: rebuilding a range deletes its rows first, so a rebuild is exact and can be
repeated. Below ``raw_kept_from`` (where retention has deleted raw samples) nothing is rebuilt:
that would replace summaries by summaries of less data; a sample arriving that late is already
expired and goes with the next retention pass.

Queries read each level only below its watermark and fill the rest from finer levels and raw
samples (``rollup.cover``), so a lagging or rebuilding compactor makes a query slower, never wrong.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable

import numpy as np

from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.historian import chunks
from app.core.historian.frames import VALUE_DTYPE
from app.core.historian.rollup import (
    FINEST,
    LEVELS,
    REC,
    REC_SIZE,
    align_down,
    bucket_of,
    raw_records,
    reduce_by_bucket,
    reduce_raw,
    runs,
)

log = logging.getLogger(__name__)

_INSERT = "INSERT INTO rollups (level, source, bucket, data) VALUES (?, ?, ?, ?)"
_DELETE = "DELETE FROM rollups WHERE level = ? AND bucket >= ? AND bucket < ?"


def done_key(level: int) -> str:
    return f"done_{level}"


def read_meta(conn: sqlite3.Connection) -> dict[str, float]:
    """The watermarks and ``raw_kept_from``; empty for a file without rollups (version 2)."""
    try:
        rows = conn.execute("SELECT key, value FROM historian_meta").fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return {}
        raise
    return {str(k): float(v) for k, v in rows if v is not None}


def write_meta(conn: sqlite3.Connection, values: dict[str, float | None]) -> None:
    conn.executemany(
        "INSERT INTO historian_meta (key, value) VALUES (?, ?) "
        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        list(values.items()),
    )


def layouts(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(layout id, number of columns) of every frame layout."""
    return [
        (int(layout), int(n))
        for layout, n in conn.execute("SELECT layout_id, COUNT(*) FROM layout_tags GROUP BY layout_id")
    ]


def raw_edge(conn: sqlite3.Connection, at_or_after: float, newest: bool = False) -> float | None:
    """The first raw sample time at or after ``at_or_after`` (or, ``newest``, the last of all),
    over every frame layout (its frames and chunks) and the per-sample rows: index seeks."""
    found: list[float] = []
    order = "DESC" if newest else ""
    cond = "" if newest else "AND t >= ?"
    params: tuple[float, ...] = () if newest else (at_or_after,)
    for layout, _n in layouts(conn):
        row = conn.execute(
            f"SELECT t FROM frames WHERE layout_id = ? {cond} ORDER BY t {order} LIMIT 1", (layout, *params)
        ).fetchone()
        if row is not None:
            found.append(float(row[0]))
        hi = math.inf
        lo = -math.inf if newest else at_or_after
        chunked = chunks.edge(conn, layout, lo, hi, newest)
        if chunked is not None:
            found.append(chunked)
    where = "" if newest else "WHERE t >= ?"
    row = conn.execute(f"SELECT t FROM samples {where} ORDER BY t {order} LIMIT 1", params).fetchone()
    if row is not None:
        found.append(float(row[0]))
    if not found:
        return None
    return max(found) if newest else min(found)


class Compactor:
    """The writer's rollup state; every method runs on the writer thread."""

    def __init__(
        self, lag_s: float = 5.0, chunk_s: float = 60.0, max_buckets: int = 1000, step_samples: int = 200_000
    ) -> None:
        self.lag_s = lag_s
        self.chunk_s = max(float(FINEST), chunk_s)
        self.step_samples = step_samples  # a step's chunk adapts to about this many raw samples
        self.max_buckets = max_buckets
        self.done: dict[int, float | None] = {level: None for level in LEVELS}
        self.raw_kept_from = -math.inf
        self.newest: float | None = None
        self.rows_written = 0
        self.loaded = False

    def load(self, conn: sqlite3.Connection) -> None:
        self.loaded = True
        meta = read_meta(conn)
        self.done = {level: meta.get(done_key(level)) for level in LEVELS}
        self.raw_kept_from = meta.get("raw_kept_from", -math.inf)
        self.newest = raw_edge(conn, 0.0, newest=True)

    # ------------------------------------------------------------------ inside the writer's commit

    def note_written(self, conn: sqlite3.Connection, t_min: float, t_max: float) -> None:
        """Called inside the transaction that stored samples spanning ``[t_min, t_max]``."""
        if self.newest is None or t_max > self.newest:
            self.newest = t_max
        d0 = self.done[FINEST]
        if d0 is None or t_min >= d0 or t_min < self.raw_kept_from:
            return
        lowered: dict[str, float | None] = {}
        for level in LEVELS:
            d = self.done[level]
            if d is not None and d > t_min:
                self.done[level] = align_down(t_min, level)
                lowered[done_key(level)] = self.done[level]
        write_meta(conn, lowered)

    # ------------------------------------------------------------------ a step of its own

    def step(self, conn: sqlite3.Connection, now: float) -> bool:
        """One bounded step in its own transaction; True when more work is waiting."""
        if not self.loaded:
            self.load(conn)
        if self.newest is None:
            return False
        horizon = align_down(min(self.newest, now) - self.lag_s, FINEST)
        before = dict(self.done)
        conn.execute("BEGIN")
        try:
            more = self._step(conn, horizon)
            write_meta(conn, {done_key(level): d for level, d in self.done.items() if d is not None})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            self.done = before
            raise
        return more

    def _step(self, conn: sqlite3.Connection, horizon: float) -> bool:
        more = False
        d0 = self.done[FINEST]
        if d0 is None:
            first = raw_edge(conn, -math.inf)
            if first is None:
                return False
            d0 = align_down(max(first, self.raw_kept_from), FINEST)
        if d0 < horizon:
            nxt = raw_edge(conn, d0)
            if nxt is None or nxt >= horizon:
                end = horizon
                conn.execute(_DELETE, (FINEST, d0, end))
            else:
                end = min(horizon, align_down(nxt, FINEST) + self.chunk_s)
                samples = self._build_finest(conn, d0, end)
                if samples < self.step_samples // 2:
                    self.chunk_s = min(self.chunk_s * 2, 86400.0)
                elif samples > self.step_samples * 2:
                    self.chunk_s = max(float(FINEST), align_down(self.chunk_s / 2, FINEST))
                more = end < horizon
            d0 = end
        self.done[FINEST] = d0
        for finer, level in itertools.pairwise(LEVELS):
            df = self.done[finer]
            if df is None:
                break
            target = align_down(df, level)
            dl = self.done[level]
            if dl is None:
                row = conn.execute("SELECT MIN(bucket) FROM rollups WHERE level = ?", (finer,)).fetchone()
                dl = align_down(row[0], level) if row[0] is not None else target
            if dl < target:
                end = min(target, dl + self.max_buckets * level)
                self._build_from(conn, finer, level, dl, end)
                more = more or end < target
                dl = end
            self.done[level] = dl
        return more

    def _insert(self, rows: Iterable[tuple[int, int, float, bytes]]) -> list[tuple[int, int, float, bytes]]:
        out = list(rows)
        self.rows_written += len(out)
        return out

    def _build_finest(self, conn: sqlite3.Connection, a: float, b: float) -> int:
        """10 s rows of ``[a, b)`` from the raw samples, replacing any there; returns how many
        samples that took."""
        conn.execute(_DELETE, (FINEST, a, b))
        out, samples = finest_rows(conn, a, b)
        conn.executemany(_INSERT, self._insert(out))
        return samples

    def _build_from(self, conn: sqlite3.Connection, finer: int, level: int, a: float, b: float) -> None:
        """``level`` rows of ``[a, b)`` merged from the ``finer`` rows, replacing any there."""
        conn.execute(_DELETE, (level, a, b))
        conn.executemany(_INSERT, self._insert(coarser_rows(conn, finer, level, a, b)))

    def reset(self, conn: sqlite3.Connection) -> None:
        """Forget every rollup above ``raw_kept_from`` so the next steps rebuild them from raw
        samples (``vigil history rebuild``); rows below it stay, their raw samples are gone."""
        start = self.raw_kept_from
        for level in LEVELS:
            cut = align_down(start, level) if math.isfinite(start) else -math.inf
            if math.isfinite(cut):
                conn.execute("DELETE FROM rollups WHERE level = ? AND bucket >= ?", (level, cut))
            else:
                conn.execute("DELETE FROM rollups WHERE level = ?", (level,))
            self.done[level] = cut if math.isfinite(cut) else None
        conn.execute("DELETE FROM historian_meta WHERE key LIKE 'done_%'")
        write_meta(conn, {done_key(level): d for level, d in self.done.items() if d is not None})


Row = tuple[int, int, float, bytes]


def finest_rows(conn: sqlite3.Connection, a: float, b: float) -> tuple[list[Row], int]:
    """The 10 s rollup rows of ``[a, b)`` computed from the raw samples, and how many samples."""
    out: list[Row] = []
    samples = 0
    for layout, ncols in layouts(conn):
        rows = conn.execute(
            "SELECT t, value, quality FROM frames WHERE layout_id = ? AND t >= ? AND t < ? ORDER BY t",
            (layout, a, b),
        ).fetchall()
        rows = [r for r in rows if len(r[1]) == ncols * 8 and len(r[2]) == ncols]  # never half a frame
        parts = chunks.layout_parts(conn, layout, ncols, a, b)
        if rows:
            n = len(rows)
            parts.append(
                chunks.Part(
                    np.fromiter((r[0] for r in rows), np.float64, n),
                    np.frombuffer(b"".join(r[1] for r in rows), VALUE_DTYPE).reshape(n, ncols),
                    np.frombuffer(b"".join(r[2] for r in rows), np.uint8).reshape(n, ncols),
                )
            )
        parts = [part for part in parts if len(part.t)]
        if not parts:
            continue
        t = np.concatenate([part.t for part in parts])
        order = np.argsort(t, kind="stable")  # chunks and late frames of the same hour interleave
        t = t[order]
        value = np.concatenate([part.value for part in parts])[order]
        quality = np.concatenate([part.quality for part in parts])[order]
        samples += len(t) * ncols
        bucket = bucket_of(t, FINEST)
        starts = runs(bucket)
        rec = reduce_raw(t, value, quality, starts)
        keys = bucket[starts] * FINEST
        out += [(FINEST, layout, float(k), rec[i].tobytes()) for i, k in enumerate(keys.tolist())]
    rows = conn.execute(
        "SELECT tag_id, t, value, quality FROM samples WHERE t >= ? AND t < ? ORDER BY tag_id, t", (a, b)
    ).fetchall()
    if rows:
        samples += len(rows)
        tag = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        t = np.fromiter((r[1] for r in rows), np.float64, len(rows))
        value = np.array([r[2] for r in rows], dtype=np.float64)  # NULL (and text) -> NaN
        quality = np.fromiter((r[3] for r in rows), np.int64, len(rows))
        bounds = [*runs(tag).tolist(), len(rows)]
        for s, e in itertools.pairwise(bounds):
            keys, rec = reduce_by_bucket(t[s:e], raw_records(t[s:e], value[s:e], quality[s:e]), FINEST)
            source = -int(tag[s])
            out += [(FINEST, source, float(k), rec[i : i + 1].tobytes()) for i, k in enumerate(keys.tolist())]
    return out, samples


def coarser_rows(conn: sqlite3.Connection, finer: int, level: int, a: float, b: float) -> list[Row]:
    """The ``level`` rollup rows of ``[a, b)`` merged from the stored ``finer`` rows."""
    rows = conn.execute(
        "SELECT source, bucket, data FROM rollups WHERE level = ? AND bucket >= ? AND bucket < ? "
        "ORDER BY source, bucket",
        (finer, a, b),
    ).fetchall()
    out: list[tuple[int, int, float, bytes]] = []
    i = 0
    while i < len(rows):
        source = rows[i][0]
        j = i
        while j < len(rows) and rows[j][0] == source:
            j += 1
        group = rows[i:j]
        i = j
        size = len(group[0][2])
        if size % REC_SIZE or any(len(r[2]) != size for r in group):
            log.warning("rollups: level %s rows of source %s have mixed sizes; skipped", finer, source)
            continue
        ncols = size // REC_SIZE
        rec = np.frombuffer(b"".join(r[2] for r in group), REC).reshape(len(group), ncols)
        buckets = np.fromiter((r[1] for r in group), np.float64, len(group))
        keys, merged = reduce_by_bucket(buckets, rec, level)
        out += [(level, source, float(k), merged[n].tobytes()) for n, k in enumerate(keys.tolist())]
    return out
