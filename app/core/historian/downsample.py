"""Min/max downsampling done inside SQLite, so a month of 10 Hz data never crosses into Python.

The trend widget asks for at most ``max_points`` rows. The time range is cut into equal buckets;
each bucket contributes the rows holding its minimum and maximum good value (so a one-sample
spike still shows) and, if it holds any non-good row, its first non-good row with that row's own
quality (so a communication gap shows as bad and is never averaged into good). Rows come back in
time order, as real stored samples: nothing is interpolated or invented.

SQLite documents that with a single ``min()``/``max()`` aggregate, the other (bare) columns come
from the row holding that extreme; each extreme is therefore one grouped scan of the index range.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from app.core.model import Quality

_GOOD = int(Quality.GOOD)


def _bucket_expr(n_buckets: int) -> str:
    # t == t1 would land in bucket n; fold it into the last one
    return f"MIN(CAST((t - :t0) * :scale AS INTEGER), {n_buckets - 1})"


def downsample_rows(
    conn: sqlite3.Connection,
    tag_id: int,
    t0: float,
    t1: float,
    max_points: int,
    numeric: bool,
) -> list[tuple]:
    """Rows ``(t, value, text, quality)`` for one tag in [t0, t1], at most ``max_points`` of them.

    Buckets hold two rows each (min, max) when the range is all good; when any row is not good
    each bucket may add a third (the bad one), so the bucket count drops to ``max_points // 3``
    to keep the promise of at most ``max_points`` rows.
    """
    where = "tag_id = :tag AND t >= :t0 AND t <= :t1"
    params: dict[str, float | int] = {"tag": tag_id, "t0": t0, "t1": t1}
    any_bad = conn.execute(
        f"SELECT 1 FROM samples WHERE {where} AND quality != {_GOOD} LIMIT 1", params
    ).fetchone()
    per_bucket = 3 if any_bad else 2
    n_buckets = max(1, max_points // per_bucket)
    span = t1 - t0
    params["scale"] = n_buckets / span if span > 0 else 0.0
    bucket = _bucket_expr(n_buckets)
    # numeric tags never read ``text``: the query then stays inside the covering index
    cols = "t, value, NULL, quality" if numeric else "t, value, text, quality"
    if numeric:
        good = f"{where} AND quality = {_GOOD} AND value IS NOT NULL"
        picks = [
            f"SELECT {cols}, MIN(value) FROM samples WHERE {good} GROUP BY {bucket}",
            f"SELECT {cols}, MAX(value) FROM samples WHERE {good} GROUP BY {bucket}",
        ]
    else:  # strings have no min/max: keep each bucket's first and last good row
        good = f"{where} AND quality = {_GOOD}"
        picks = [
            f"SELECT {cols}, MIN(t) FROM samples WHERE {good} GROUP BY {bucket}",
            f"SELECT {cols}, MAX(t) FROM samples WHERE {good} GROUP BY {bucket}",
        ]
    if any_bad:
        picks.append(
            f"SELECT {cols}, MIN(t) FROM samples WHERE {where} AND quality != {_GOOD} GROUP BY {bucket}"
        )
    seen: dict[tuple[float, int], tuple] = {}
    for sql in picks:
        for t, value, text, quality, _extreme in conn.execute(sql, params):
            seen.setdefault((t, quality), (t, value, text, quality))
    rows = list(seen.values())
    rows.sort(key=lambda r: r[0])
    return rows


def rows_to_arrays(rows: list[tuple], numeric: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(t, value, text, quality)`` rows into the three arrays of a Series."""
    n = len(rows)
    t = np.fromiter((r[0] for r in rows), dtype=np.float64, count=n)
    quality = np.fromiter((r[3] for r in rows), dtype=np.int8, count=n)
    if numeric:
        value = np.array([r[1] for r in rows], dtype=np.float64)  # None -> nan
    else:
        value = np.empty(n, dtype=object)
        for i, r in enumerate(rows):
            value[i] = r[2] if r[2] is not None else r[1]
    return t, value, quality
