"""Read side of the historian: range queries, latest values, the tag list, CSV export.

Every call opens its own read-only connection, so any thread (the UI's worker, a detector's
executor, the CLI) can read while the writer thread commits: WAL gives each reader a consistent
snapshot without blocking the writer.

A tag's samples live in two places (see schema): per-sample rows in ``samples`` and one column of
every frame whose layout holds the tag. Each is read in time order with its own index and the
two are merged; SQL ``substr`` cuts the tag's 8 value bytes and 1 quality byte out of each
frame, so only those cross into Python. Frames older than a couple of hours live on as chunks
(see ``chunks``), where the tag's column is a row of its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.historian import chunks
from app.core.historian.compactor import done_key, read_meta
from app.core.historian.downsample import downsample_indices, rows_to_arrays
from app.core.historian.frames import COLUMN_SQL, VALUE_DTYPE, VALUE_SIZE, column_arrays, column_params
from app.core.historian.rollup import (
    FINEST,
    LEVELS,
    REC,
    REC_SIZE,
    align_down,
    align_up,
    bucket_of,
    bucket_width,
    cover,
    merge_all,
    points_from_buckets,
    raw_records,
    reduce_segments,
    runs,
)
from app.core.historian.schema import KIND_TEXT, HistorianError, connect_reader
from app.core.model import Quality, Sample


@dataclass(frozen=True)
class Series:
    """One tag's samples in time order.

    ``t`` is float64 epoch seconds; ``quality`` the int8 ``Quality`` codes; ``value`` is float64
    for numeric tags (bools as 0.0/1.0, NaN where no value was decoded) and an object array of
    ``str``/``None`` for string tags.
    """

    t: np.ndarray
    value: np.ndarray
    quality: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def empty(cls) -> Series:
        return cls(np.empty(0, np.float64), np.empty(0, np.float64), np.empty(0, np.int8))


@dataclass(frozen=True)
class TagInfo:
    """What the historian knows about a tag without scanning its rows."""

    name: str
    kind: str
    first: float | None
    last: float | None


class HistorianReader:
    """Queries over a historian file; usable on its own (CLI) or through ``Historian``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        #: rows the downsampled queries read (rollup rows / raw samples): what a benchmark or a
        #: test looks at to see that a month of trend is answered from summaries
        self.rollup_rows_read = 0
        self.raw_rows_read = 0

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect_reader(self.path)
        try:
            yield conn
        except sqlite3.DatabaseError as e:
            raise HistorianError(f"{self.path}: historian database cannot be read ({e})") from e
        finally:
            conn.close()

    def check(self) -> None:
        """Raise HistorianError if the file is missing, not SQLite, or not a historian."""
        with self._connect() as conn:
            conn.execute("SELECT id, name, kind FROM tags LIMIT 1").fetchall()
            conn.execute("SELECT tag_id, t, value, text, quality FROM samples LIMIT 1").fetchall()

    @staticmethod
    def _tag_ids(conn: sqlite3.Connection) -> dict[str, tuple[int, str]]:
        return {name: (tid, kind) for tid, name, kind in conn.execute("SELECT id, name, kind FROM tags")}

    def tags(self) -> list[str]:
        """Every tag ever stored, sorted by name."""
        with self._connect() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM tags ORDER BY name")]

    def tag_info(self) -> list[TagInfo]:
        """Each tag with its first and last sample time (two index seeks per tag, no scan)."""
        out = []
        with self._connect() as conn:
            for name, (tid, kind) in sorted(self._tag_ids(conn).items()):
                firsts = [conn.execute("SELECT MIN(t) FROM samples WHERE tag_id=?", (tid,)).fetchone()[0]]
                lasts = [conn.execute("SELECT MAX(t) FROM samples WHERE tag_id=?", (tid,)).fetchone()[0]]
                for layout, _col in _columns(conn, tid):
                    # one aggregate per statement: only then does SQLite seek the index end
                    for agg, into in (("MIN", firsts), ("MAX", lasts)):
                        sql = f"SELECT {agg}(t) FROM frames WHERE layout_id=?"
                        into.append(conn.execute(sql, (layout,)).fetchone()[0])
                    if chunks.has_chunks(conn):
                        for sql, into in (
                            ("SELECT MIN(t0) FROM chunks WHERE layout_id=?", firsts),
                            ("SELECT MAX(t1) FROM chunks WHERE layout_id=?", lasts),
                        ):
                            into.append(conn.execute(sql, (layout,)).fetchone()[0])
                first = min((x for x in firsts if x is not None), default=None)
                last = max((x for x in lasts if x is not None), default=None)
                out.append(TagInfo(name, kind, first, last))
        return out

    def time_range(self) -> tuple[float, float] | None:
        """(earliest, latest) sample time over all tags, or None when the historian is empty."""
        infos = self.tag_info()
        firsts = [i.first for i in infos if i.first is not None]
        lasts = [i.last for i in infos if i.last is not None]
        if not firsts:
            return None
        return min(firsts), max(lasts)

    def latest(self, tags: Iterable[str]) -> dict[str, Sample]:
        """The newest stored sample of each tag; tags with no rows are left out."""
        out: dict[str, Sample] = {}
        with self._connect() as conn:
            ids = self._tag_ids(conn)
            for tag in tags:
                if tag not in ids:
                    continue
                row = conn.execute(
                    "SELECT t, value, text, quality FROM samples WHERE tag_id=? ORDER BY t DESC LIMIT 1",
                    (ids[tag][0],),
                ).fetchone()
                best = None if row is None else (row[0], row[2] if row[2] is not None else row[1], row[3])
                for layout, col in _columns(conn, ids[tag][0]):
                    frame = conn.execute(
                        "SELECT t, substr(value, ?, ?), substr(quality, ?, 1) FROM frames "
                        "WHERE layout_id=? ORDER BY t DESC LIMIT 1",
                        (col * VALUE_SIZE + 1, VALUE_SIZE, col + 1, layout),
                    ).fetchone()
                    if frame is not None and (best is None or frame[0] > best[0]):
                        value = float(np.frombuffer(frame[1], dtype=VALUE_DTYPE)[0])
                        best = (frame[0], None if np.isnan(value) else value, frame[2][0])
                    if frame is None:  # every frame of the layout chunked: its newest chunk
                        last = chunks.edge(conn, layout, -np.inf, np.inf, newest=True)
                        parts = [] if last is None else chunks.column_parts(conn, layout, col, last, last)
                        if parts and len(parts[-1].t) and (best is None or last > best[0]):
                            part = parts[-1]
                            value = float(part.value[-1])
                            number = None if np.isnan(value) else value
                            best = (float(part.t[-1]), number, int(part.quality[-1]))
                if best is not None:
                    t, value, quality = best
                    out[tag] = Sample(tag, value, _quality(quality), t)  # type: ignore[arg-type]
        return out

    def query(
        self,
        tags: Sequence[str],
        t0: float | None = None,
        t1: float | None = None,
        max_points: int | None = None,
    ) -> dict[str, Series]:
        """Samples of each tag with ``t0 <= t <= t1`` (None = open end), in time order.

        With ``max_points`` a range holding more rows than that is min/max downsampled (see
        ``downsample``); fewer rows come back untouched. Unknown tags get an empty Series, so
        callers can index the result by every tag they asked for.
        """
        if max_points is not None and max_points < 2:
            raise ValueError("max_points must be at least 2 (one min and one max)")
        lo = -np.inf if t0 is None else float(t0)
        hi = np.inf if t1 is None else float(t1)
        out: dict[str, Series] = {}
        with self._connect() as conn:
            ids = self._tag_ids(conn)
            for tag in tags:
                if tag not in ids:
                    out[tag] = Series.empty()
                    continue
                tid, kind = ids[tag]
                numeric = kind != KIND_TEXT
                rolled = None
                if numeric and max_points is not None:
                    conn.execute("BEGIN")  # one snapshot: watermarks, rollups and raw agree
                    try:
                        rolled = self._rolled(conn, tid, lo, hi, max_points)
                        if rolled is None:
                            rolled = self._range_rows(conn, tid, lo, hi, max_points, numeric)
                    finally:
                        conn.rollback()
                out[tag] = Series(*(rolled or self._range_rows(conn, tid, lo, hi, max_points, numeric)))
        return out

    def _rolled(
        self, conn: sqlite3.Connection, tid: int, lo: float, hi: float, max_points: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The downsampled answer from rollups where they are final, finer rollups and raw
        samples at the edges; None when no rollup level fits the span (the caller reads raw)."""
        meta = read_meta(conn)
        if not meta:
            return None  # a version-2 file opened read-only: no rollups
        done = {level: meta.get(done_key(level)) for level in LEVELS}
        raw_from = meta.get("raw_kept_from", -math.inf)
        sources = _sources(conn, tid)
        edges = self._extent(conn, tid, sources, lo, hi, done, raw_from)
        if edges is None:
            return rows_to_arrays([], True)
        first, last = edges
        span = last - first
        _width, level = bucket_width(span, max_points, False)
        if level is None:
            if first >= raw_from:
                return None
            level = FINEST  # the raw samples are gone here: the finest rollups are the best there is
        if first < raw_from:  # and finer levels may have expired too: the finest that reaches back
            for coarser in LEVELS[LEVELS.index(level) :]:
                level = coarser
                row = conn.execute("SELECT MIN(bucket) FROM rollups WHERE level = ?", (coarser,)).fetchone()
                if row[0] is not None and row[0] <= first:
                    break
        allowed = [lv for lv in LEVELS if lv <= level]
        start, stop = first, float(np.nextafter(last, np.inf))
        if first < raw_from:  # whole buckets inside [lo, hi]: their samples are only in rollups
            start = align_down(first, level) if align_down(first, level) >= lo else first
            stop = align_up(stop, level) if align_up(stop, level) <= np.nextafter(hi, np.inf) else stop
        key, rec = self._partials(conn, tid, sources, start, stop, allowed, done)
        if len(rec) == 0:
            return rows_to_arrays([], True)
        total = int(rec["n"].sum())
        if total <= max_points:
            raw = self._range_rows(conn, tid, first, last, None, True)
            if len(raw[0]) == total:
                return raw
        any_bad = bool((rec["n"] != rec["n_good"]).any())
        width, _ = bucket_width(span, max_points, any_bad)
        if math.isfinite(width) and width % level:  # a coarser level had to answer (see above)
            width = float(level * math.ceil(width / level))
        bucket = bucket_of(key, width) if math.isfinite(width) else np.zeros(len(key))
        order = np.argsort(bucket, kind="stable")
        merged = reduce_segments(rec[order], runs(bucket[order]))
        pts = points_from_buckets(merged, merge_all(rec))
        return pts.t, pts.value, pts.quality

    def _partials(
        self,
        conn: sqlite3.Connection,
        tid: int,
        sources: list[tuple[int, int]],
        start: float,
        stop: float,
        allowed: list[int],
        done: dict[int, float | None],
    ) -> tuple[np.ndarray, np.ndarray]:
        """(bucket start or sample time, summary) covering ``[start, stop)`` exactly once: the
        allowed levels' final rows, raw samples for the rest (``rollup.cover``)."""
        keys: list[np.ndarray] = [np.empty(0)]
        recs: list[np.ndarray] = [np.empty(0, REC)]
        for lv, a, b in cover(start, stop, allowed, done):
            if lv == 0:
                below_b = float(np.nextafter(b, -np.inf))
                t, value, quality = self._range_rows(conn, tid, a, below_b, None, True)
                keys.append(t)
                recs.append(raw_records(t, value, quality))
                continue
            for source, col in sources:
                rows = conn.execute(
                    "SELECT bucket, substr(data, ?, ?) FROM rollups WHERE level = ? AND source = ? "
                    "AND bucket >= ? AND bucket < ? ORDER BY bucket",
                    (col * REC_SIZE + 1, REC_SIZE, lv, source, a, b),
                ).fetchall()
                rows = [r for r in rows if len(r[1]) == REC_SIZE]
                self.rollup_rows_read += len(rows)
                if rows:
                    keys.append(np.fromiter((r[0] for r in rows), np.float64, len(rows)))
                    recs.append(np.frombuffer(b"".join(r[1] for r in rows), REC))
        return np.concatenate(keys), np.concatenate(recs)

    def summaries(
        self, tag: str, t0: float | None, t1: float | None, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(bucket start times, ``rollup.REC`` summaries) of one numeric tag's samples in
        ``[t0, t1]``, in epoch-aligned buckets of ``width`` seconds: from rollups where they are
        final, from raw samples elsewhere (1 s buckets are always made from raw samples). Edge
        buckets summarise only the samples inside the range."""
        with self._connect() as conn:
            ids = self._tag_ids(conn)
            if tag not in ids:
                return np.empty(0), np.empty(0, REC)
            tid = ids[tag][0]
            conn.execute("BEGIN")
            try:
                meta = read_meta(conn)
                done = {level: meta.get(done_key(level)) for level in LEVELS}
                raw_from = meta.get("raw_kept_from", -math.inf)
                sources = _sources(conn, tid)
                lo = -math.inf if t0 is None else float(t0)
                hi = math.inf if t1 is None else float(t1)
                edges = self._extent(conn, tid, sources, lo, hi, done, raw_from)
                if edges is None:
                    return np.empty(0), np.empty(0, REC)
                first, last = edges
                allowed = [lv for lv in LEVELS if lv <= width and width % lv == 0] if meta else []
                start = first
                if first < raw_from and align_down(first, width) >= lo:
                    start = align_down(first, width)
                stop = float(np.nextafter(last, np.inf))
                if first < raw_from and align_up(stop, width) <= np.nextafter(hi, np.inf):
                    stop = align_up(stop, width)
                key, rec = self._partials(conn, tid, sources, start, stop, allowed, done)
            finally:
                conn.rollback()
        if len(rec) == 0:
            return np.empty(0), rec
        bucket = bucket_of(key, width)
        order = np.argsort(bucket, kind="stable")
        starts = runs(bucket[order])
        return bucket[order][starts] * width, reduce_segments(rec[order], starts)

    def _extent(
        self,
        conn: sqlite3.Connection,
        tid: int,
        sources: list[tuple[int, int]],
        lo: float,
        hi: float,
        done: dict[int, float | None],
        raw_from: float,
    ) -> tuple[float, float] | None:
        """(first, last) sample time of the tag within ``[lo, hi]``: index seeks on the raw
        samples, and, where retention has deleted those, on each level's final rows."""
        firsts: list[float] = []
        lasts: list[float] = []
        bounds = (tid, lo, hi)
        for sql, into in (
            ("SELECT t FROM samples WHERE tag_id = ? AND t >= ? AND t <= ? ORDER BY t LIMIT 1", firsts),
            ("SELECT t FROM samples WHERE tag_id = ? AND t >= ? AND t <= ? ORDER BY t DESC LIMIT 1", lasts),
        ):
            row = conn.execute(sql, bounds).fetchone()
            if row is not None:
                into.append(float(row[0]))
        for layout, _col in _columns(conn, tid):
            for order, into in (("", firsts), ("DESC", lasts)):
                row = conn.execute(
                    "SELECT t FROM frames WHERE layout_id = ? AND t >= ? AND t <= ? "
                    f"ORDER BY t {order} LIMIT 1",
                    (layout, lo, hi),
                ).fetchone()
                if row is not None:
                    into.append(float(row[0]))
            for newest, into in ((False, firsts), (True, lasts)):
                found = chunks.edge(conn, layout, lo, hi, newest)
                if found is not None:
                    into.append(found)
        if lo < raw_from:  # older samples may live on only in rollups
            for level in LEVELS:
                top = done.get(level)
                if top is None:
                    continue
                a = align_up(lo, level) if math.isfinite(lo) else -math.inf
                b = min(top, align_down(hi, level) if math.isfinite(hi) else math.inf)
                for source, col in sources:
                    for order, field, into in (("", "first_t", firsts), ("DESC", "last_t", lasts)):
                        row = conn.execute(
                            "SELECT substr(data, ?, ?) FROM rollups WHERE level = ? AND source = ? "
                            f"AND bucket >= ? AND bucket + ? <= ? ORDER BY bucket {order} LIMIT 1",
                            (col * REC_SIZE + 1, REC_SIZE, level, source, a, level, b),
                        ).fetchone()
                        if row is not None and len(row[0]) == REC_SIZE:
                            into.append(float(np.frombuffer(row[0], REC)[field][0]))
        if not firsts:
            return None
        return min(firsts), max(lasts)

    def _range_rows(
        self, conn: sqlite3.Connection, tid: int, lo: float, hi: float, max_points: int | None, numeric: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(t, value, quality) of one tag in [lo, hi], in time order, downsampled if asked."""
        cols = "t, value, NULL, quality" if numeric else "t, value, text, quality"
        rows = conn.execute(
            f"SELECT {cols} FROM samples WHERE tag_id = ? AND t >= ? AND t <= ? ORDER BY t", (tid, lo, hi)
        ).fetchall()
        parts = [rows_to_arrays(rows, numeric)] if rows else []
        for layout, col in _columns(conn, tid):
            frame_rows = conn.execute(
                f"SELECT t, {COLUMN_SQL} FROM frames WHERE layout_id = ? AND t >= ? AND t <= ? ORDER BY t",
                (*column_params(col), layout, lo, hi),
            ).fetchall()
            found = [column_arrays(frame_rows)] if frame_rows else []
            for c in chunks.column_parts(conn, layout, col, lo, hi):
                found.append((c.t, c.value, c.quality.astype(np.int8)))
            for t, value, quality in found:
                if not len(t):
                    continue
                if not numeric:  # a string tag's frames hold only numbers/None (polls without text)
                    value = np.array([None if np.isnan(v) else v for v in value.tolist()], dtype=object)
                parts.append((t, value, quality))
        if not parts:
            return rows_to_arrays([], numeric)
        self.raw_rows_read += sum(len(p[0]) for p in parts)
        if len(parts) == 1:
            t, value, quality = parts[0]
        else:
            t = np.concatenate([p[0] for p in parts])
            order = np.argsort(t, kind="stable")
            t = t[order]
            value = np.concatenate([p[1] for p in parts])[order]
            quality = np.concatenate([p[2] for p in parts])[order]
        if max_points is not None and len(t) > max_points:
            keep = downsample_indices(t, value, quality, max_points, numeric)
            t, value, quality = t[keep], value[keep], quality[keep]
        return t, value, quality


def _sources(conn: sqlite3.Connection, tid: int) -> list[tuple[int, int]]:
    """(rollup source, column) of the tag: each frame layout holding it, and its own rows."""
    return [*_columns(conn, tid), (-tid, 0)]


def _columns(conn: sqlite3.Connection, tid: int) -> list[tuple[int, int]]:
    """(layout id, column) of every frame layout holding the tag; none in a version-1 file."""
    try:
        return conn.execute("SELECT layout_id, col FROM layout_tags WHERE tag_id = ?", (tid,)).fetchall()
    except sqlite3.OperationalError as e:  # a version-1 historian opened read-only: no frames
        if "no such table" in str(e):
            return []
        raise


def _quality(code: int) -> Quality | int:
    try:
        return Quality(code)
    except ValueError:
        return code
