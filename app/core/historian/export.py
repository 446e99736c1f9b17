"""Streaming CSV export in long format: ``time,tag,value,quality``.

Rows go from an SQLite cursor straight to the file, so memory stays flat however big the export
is (SQLite's own sorter spills to temporary files). The file is written beside the target and
renamed into place only when complete: a failed export never leaves a half file that looks whole.

Frames (one row per poll, values packed; see schema) are unpacked inside the same SQL statement by
two small functions registered on the read connection, so per-sample rows and frame columns are
merged by one ``ORDER BY`` and still stream.
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.historian import chunks
from app.core.historian.schema import HistorianError, connect_reader
from app.core.model import Quality
from app.core.textsafe import csv_writer

HEADER = ("time", "tag", "value", "quality")
_QUALITY_NAMES = {int(q): q.name for q in Quality}


def iso_utc(t: float) -> str:
    """Epoch seconds -> ``2026-11-25T12:00:00.123Z`` (UTC, milliseconds)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _StampCache:
    """Rows come in time order and a poll stamps all of a device's tags alike, so most rows
    repeat the previous row's time: format each distinct time once."""

    def __init__(self) -> None:
        self.t: float | None = None
        self.text = ""

    def __call__(self, t: float) -> str:
        if t != self.t:
            self.t, self.text = t, iso_utc(t)
        return self.text


def format_value(value: float | None, text: str | None) -> str:
    """Integers print without a trailing ``.0`` (a counter reads 42, not 42.0); None is empty."""
    if text is not None:
        return text
    if value is None:
        return ""
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _frame_value(blob: bytes, col: int) -> float | None:
    """SQL ``frame_value(value, col)``: one tag's float64 out of a frame (NaN -> NULL)."""
    (v,) = struct.unpack_from("<d", blob, col * 8)
    return None if math.isnan(v) else v


def _frame_quality(blob: bytes, col: int) -> int:
    """SQL ``frame_quality(quality, col)``: one tag's quality byte out of a frame."""
    return blob[col]


def _has_frames(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'frames'").fetchone() is not None


def _stage_chunks(
    conn: sqlite3.Connection, ids: list[int], names: dict[str, int], lo: float, hi: float
) -> bool:
    """Copy the chunked samples of the wanted tags in ``[lo, hi]`` into a temporary table, so
    the one ``ORDER BY t, name`` query streams them with the frames and rows (the temporary
    table lives in SQLite's temp store, not in the historian file, which stays read-only).
    False when there are none."""
    if not chunks.has_chunks(conn):
        return False
    by_id = {tid: name for name, tid in names.items()}
    staged = False
    for tid in ids:
        for layout, col in conn.execute("SELECT layout_id, col FROM layout_tags WHERE tag_id = ?", (tid,)):
            for part in chunks.column_parts(conn, layout, col, lo, hi):
                if not staged:
                    conn.execute(
                        "CREATE TEMP TABLE IF NOT EXISTS chunk_rows "
                        "(t REAL, name TEXT, value REAL, quality INTEGER)"
                    )
                    conn.execute("DELETE FROM temp.chunk_rows")
                    staged = True
                value = [None if v != v else v for v in part.value.tolist()]  # NaN: no value
                name = [by_id[tid]] * len(value)
                rows = zip(part.t.tolist(), name, value, part.quality.tolist(), strict=True)
                conn.executemany("INSERT INTO temp.chunk_rows VALUES (?, ?, ?, ?)", rows)
    return staged


def quality_name(code: int) -> str:
    return _QUALITY_NAMES.get(code, f"CODE_{code}")


def export_csv(
    db_path: str | Path,
    out_path: str | Path,
    tags: Iterable[str] | None = None,
    t0: float | None = None,
    t1: float | None = None,
) -> int:
    """Write the selected samples ordered by time then tag; return the number of data rows.

    Tags that were never stored are ignored (the caller can compare with ``tags()`` to warn).
    """
    db_path = Path(db_path)
    out = Path(out_path)
    tmp = out.with_name(out.name + ".part")
    conn = connect_reader(db_path)
    try:
        names = {name: tid for tid, name in conn.execute("SELECT id, name FROM tags")}
        wanted = sorted(names) if tags is None else [t for t in dict.fromkeys(tags) if t in names]
        ids = [names[t] for t in wanted]
        lo = -math.inf if t0 is None else float(t0)
        hi = math.inf if t1 is None else float(t1)
        written = 0
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv_writer(f)  # device strings and tag names: no spreadsheet formulas out
            w.writerow(HEADER)
            if ids:
                # the tag_id IN (...) lets SQLite walk the (tag_id, t) index once per tag
                marks = ",".join("?" * len(ids))
                sql = (
                    "SELECT s.t AS t, g.name AS name, s.value, s.text, s.quality FROM samples s "
                    f"JOIN tags g ON g.id = s.tag_id WHERE s.tag_id IN ({marks}) AND s.t >= ? AND s.t <= ?"
                )
                params: tuple = (*ids, lo, hi)
                if _has_frames(conn):
                    conn.create_function("frame_value", 2, _frame_value, deterministic=True)
                    conn.create_function("frame_quality", 2, _frame_quality, deterministic=True)
                    sql += (
                        " UNION ALL SELECT f.t, g.name, frame_value(f.value, c.col), NULL, "
                        "frame_quality(f.quality, c.col) FROM layout_tags c JOIN tags g ON g.id = c.tag_id "
                        f"JOIN frames f ON f.layout_id = c.layout_id WHERE c.tag_id IN ({marks}) "
                        "AND f.t >= ? AND f.t <= ?"
                    )
                    params += (*ids, lo, hi)
                if _stage_chunks(conn, ids, names, lo, hi):
                    sql += " UNION ALL SELECT t, name, value, NULL, quality FROM temp.chunk_rows"
                cur = conn.execute(sql + " ORDER BY t, name", params)
                stamp = _StampCache()
                while chunk := cur.fetchmany(5000):
                    w.writerows(
                        (stamp(t), name, format_value(v, txt), quality_name(q))
                        for t, name, v, txt, q in chunk
                    )
                    written += len(chunk)
        os.replace(tmp, out)
        return written
    except sqlite3.DatabaseError as e:
        raise HistorianError(f"{db_path}: historian database cannot be read ({e})") from e
    finally:
        conn.close()
        if tmp.exists():
            tmp.unlink()


#: ``--resolution`` names and their bucket widths in seconds (1 s is made from raw samples)
RESOLUTIONS: dict[str, int] = {"1s": 1, "10s": 10, "1m": 60, "10m": 600, "1h": 3600}
SUMMARY_HEADER = ("time", "tag", "count", "good", "uncertain", "bad", "mean", "min", "max", "first", "last")


def export_summaries(
    db_path: str | Path,
    out_path: str | Path,
    width: int,
    tags: Iterable[str] | None = None,
    t0: float | None = None,
    t1: float | None = None,
) -> int:
    """Write one row per tag and ``width``-second bucket (epoch-aligned, bucket start time),
    ordered by time then tag: sample counts by quality (good / uncertain / bad), the mean, min
    and max of the good values (empty when the bucket has none), and the first and last value
    whatever their quality. Returns the number of data rows.

    Read from the rollups where they are final (the same summaries a trend uses), raw samples
    elsewhere; a day or so of buckets at a time, so memory stays bounded.
    """
    from app.core.historian.reader import HistorianReader  # the reader imports this module

    db_path = Path(db_path)
    out = Path(out_path)
    tmp = out.with_name(out.name + ".part")
    reader = HistorianReader(db_path)
    conn = connect_reader(db_path)
    try:
        kinds = dict(conn.execute("SELECT name, kind FROM tags").fetchall())
    except sqlite3.DatabaseError as e:
        raise HistorianError(f"{db_path}: historian database cannot be read ({e})") from e
    finally:
        conn.close()
    wanted = sorted(kinds) if tags is None else [t for t in dict.fromkeys(tags) if t in kinds]
    wanted = [t for t in wanted if kinds[t] != "text"]  # text has no mean, min or max
    span = reader.time_range()
    written = 0
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv_writer(f)  # device strings and tag names: no spreadsheet formulas out
            w.writerow(SUMMARY_HEADER)
            if span is not None and wanted:
                lo = span[0] if t0 is None else max(float(t0), span[0])
                hi = span[1] if t1 is None else min(float(t1), span[1])
                step = width * 20_000.0
                a = lo
                while a <= hi:
                    b = min(hi, float(np.nextafter(math.floor(a / step) * step + step, -np.inf)))
                    rows = []
                    for tag in wanted:
                        starts, rec = reader.summaries(tag, a, b, width)
                        for start, r in zip(starts.tolist(), rec, strict=True):
                            rows.append((start, tag, r))
                    rows.sort(key=lambda x: (x[0], x[1]))
                    w.writerows(_summary_row(start, tag, r) for start, tag, r in rows)
                    written += len(rows)
                    a = math.floor(a / step) * step + step
        os.replace(tmp, out)
        return written
    finally:
        if tmp.exists():
            tmp.unlink()


def _summary_row(start: float, tag: str, rec: np.void) -> tuple[str, ...]:
    """One ``rollup.REC`` record as a CSV row."""
    n, good, bad, n_val = (int(rec[f]) for f in ("n", "n_good", "n_bad", "n_val"))
    mean = format_value(float(rec["sum"]) / n_val, None) if n_val else ""
    lo = format_value(float(rec["min_v"]), None) if n_val else ""
    hi = format_value(float(rec["max_v"]), None) if n_val else ""
    first, last = (_number(float(rec[f])) for f in ("first_v", "last_v"))
    return (iso_utc(start), tag, str(n), str(good), str(n - good - bad), str(bad), mean, lo, hi, first, last)


def _number(v: float) -> str:
    return "" if math.isnan(v) else format_value(v, None)
