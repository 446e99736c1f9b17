"""Streaming CSV export in long format: ``time,tag,value,quality``.

Rows go from an SQLite cursor straight to the file, so memory stays flat however big the export
is (SQLite's own sorter spills to temporary files). The file is written beside the target and
renamed into place only when complete: a failed export never leaves a half file that looks whole.
"""

from __future__ import annotations

import csv
import math
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from app.core.historian.schema import HistorianError, connect_reader
from app.core.model import Quality

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
            w = csv.writer(f)
            w.writerow(HEADER)
            if ids:
                # the tag_id IN (...) lets SQLite walk the (tag_id, t) index once per tag
                marks = ",".join("?" * len(ids))
                cur = conn.execute(
                    "SELECT s.t, g.name, s.value, s.text, s.quality FROM samples s "
                    f"JOIN tags g ON g.id = s.tag_id WHERE s.tag_id IN ({marks}) AND s.t >= ? AND s.t <= ? "
                    "ORDER BY s.t, g.name",
                    (*ids, lo, hi),
                )
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
