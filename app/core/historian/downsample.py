"""Min/max downsampling done inside SQLite, so a day of 10 Hz data never crosses into Python.

The trend widget asks for at most ``max_points`` rows. The time range is cut into equal buckets;
each bucket contributes the rows holding its minimum and maximum good value (so a one-sample
spike still shows) and, if it holds any non-good row, its first non-good row with that row's own
quality (so a communication gap shows as bad and is never averaged into good). Rows come back in
time order, as real stored samples: nothing is interpolated or invented.

Each bucket is its own small statement on the ``(tag_id, t, quality, value)`` index. SQLite
documents that with a single ``min()``/``max()`` aggregate the other (bare) columns come from the
row holding that extreme, so each query is one short index range scan with no sorting. This was
measured 1.5x (9,000 rows) to 4x (864,000 rows) faster than one ``GROUP BY bucket`` query, which
SQLite must sort because it cannot know the bucket number rises with time.
"""

from __future__ import annotations

import sqlite3

import numpy as np

from app.core.model import Quality

_GOOD = int(Quality.GOOD)
_RANGE = "tag_id = ? AND t >= ? AND t < ?"
_LAST_RANGE = "tag_id = ? AND t >= ? AND t <= ?"  # the last bucket includes t1 itself


def _bucket_query(where: str, numeric: bool, with_bad: bool) -> str:
    """One statement per bucket: its min and max good rows (first and last for strings) and,
    when asked, its first non-good row, glued with UNION ALL so each bucket is one round trip
    (measured ~2x faster than three separate statements on a day of data)."""
    if numeric:
        # numeric tags never read ``text``: the query then stays inside the covering index
        good = f"{where} AND quality = {_GOOD} AND value IS NOT NULL"
        parts = [
            f"SELECT t, value, NULL, quality, MIN(value) FROM samples WHERE {good}",
            f"SELECT t, value, NULL, quality, MAX(value) FROM samples WHERE {good}",
        ]
    else:  # strings have no min/max: keep each bucket's first and last good row
        good = f"{where} AND quality = {_GOOD}"
        parts = [
            f"SELECT * FROM (SELECT t, value, text, quality, 0 FROM samples WHERE {good} ORDER BY t LIMIT 1)",
            f"SELECT * FROM (SELECT t, value, text, quality, 0 FROM samples WHERE {good} "
            "ORDER BY t DESC LIMIT 1)",
        ]
    if with_bad:
        cols = "t, value, NULL, quality, 0" if numeric else "t, value, text, quality, 0"
        parts.append(
            f"SELECT * FROM (SELECT {cols} FROM samples WHERE {where} AND quality != {_GOOD} "
            "ORDER BY t LIMIT 1)"
        )
    return " UNION ALL ".join(parts)


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
    any_bad = (
        conn.execute(
            f"SELECT 1 FROM samples WHERE {_LAST_RANGE} AND quality != {_GOOD} LIMIT 1", (tag_id, t0, t1)
        ).fetchone()
        is not None
    )
    n_buckets = max(1, max_points // (3 if any_bad else 2))
    width = (t1 - t0) / n_buckets
    edges = [t0 + k * width for k in range(n_buckets)] + [t1]
    inner = _bucket_query(_RANGE, numeric, any_bad)
    last = _bucket_query(_LAST_RANGE, numeric, any_bad)
    n_parts = 3 if any_bad else 2
    seen: dict[tuple[float, int], tuple] = {}
    for k in range(n_buckets):
        sql = last if k == n_buckets - 1 else inner
        params = (tag_id, edges[k], edges[k + 1]) * n_parts
        for t, value, text, quality, _extreme in conn.execute(sql, params):
            if t is not None:  # an aggregate over no rows gives a row of NULLs
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
