"""Older raw samples in chunks, one row per column, so reading one tag reads only that tag.

Why: a frame row holds a whole poll (50 tags); reading one tag's day cuts its 9 bytes out of
864,000 rows of ~450 bytes, which is reading the other 49 tags too (1.2 s for a day of one tag).
Once frames are older than ``Chunker.after_s`` and their rollups are final, the writer rewrites
each frame layout's hour (epoch-aligned) into:

* one ``chunks`` row: the layout, the first and last sample time, the count, and the times;
* one ``chunk_columns`` row per column (= per tag): its values and its quality codes.

A tag's hour is then two small blobs. Encoding is exact and cheap in numpy: times and values
as the XOR of each float64's bits with the previous one's (regular times and slowly moving
values leave mostly zero bytes), then zlib; quality codes as bytes, then zlib. Decoding is the
cumulative XOR, so every sample comes back bit for bit, NaN included.

Readers see chunks and frames as one raw store: ``column_parts`` (one tag), ``layout_parts`` (all
columns of a layout, for rebuilding rollups) and ``edge`` (first or last sample time). A frame
that arrives for an hour already chunked (a late device) stays a frame or becomes a second chunk
of that hour; readers merge by time either way. Retention deletes whole chunks once their last
sample is past the cut.
"""

from __future__ import annotations

import math
import zlib
from typing import NamedTuple

import numpy as np

from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.historian.frames import VALUE_DTYPE

#: the span of one chunk (seconds, epoch-aligned)
CHUNK_S = 3600.0

CHUNK_TABLES = (
    "CREATE TABLE IF NOT EXISTS chunks (id INTEGER PRIMARY KEY, layout_id INTEGER NOT NULL "
    "REFERENCES frame_layouts(id), t0 REAL NOT NULL, t1 REAL NOT NULL, n INTEGER NOT NULL, t BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_chunks_layout_t ON chunks (layout_id, t0)",
    "CREATE INDEX IF NOT EXISTS idx_chunks_layout_t1 ON chunks (layout_id, t1)",
    "CREATE TABLE IF NOT EXISTS chunk_columns (chunk_id INTEGER NOT NULL REFERENCES chunks(id), "
    "col INTEGER NOT NULL, value BLOB NOT NULL, quality BLOB NOT NULL, PRIMARY KEY (chunk_id, col))",
)

_U8 = np.dtype("<u8")


def encode_floats(x: np.ndarray) -> bytes:
    """float64s -> XOR with the previous value's bits -> zlib (exact, NaN kept)."""
    bits = np.ascontiguousarray(x, dtype=VALUE_DTYPE).view(_U8)
    delta = bits.copy()
    delta[1:] ^= bits[:-1]
    return zlib.compress(delta.tobytes(), 1)


def decode_floats(blob: bytes, n: int) -> np.ndarray:
    delta = np.frombuffer(zlib.decompress(blob), dtype=_U8, count=n)
    return np.bitwise_xor.accumulate(delta).view(VALUE_DTYPE).astype(np.float64)


def encode_quality(q: np.ndarray) -> bytes:
    return zlib.compress(np.ascontiguousarray(q, dtype=np.uint8).tobytes(), 1)


def decode_quality(blob: bytes, n: int) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype=np.uint8, count=n)


def has_chunks(conn: sqlite3.Connection) -> bool:
    """Whether the file has the chunk tables (schema version 4); a read-only older file has not."""
    sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name='chunks'"
    return conn.execute(sql).fetchone() is not None


class Part(NamedTuple):
    t: np.ndarray
    value: np.ndarray  # (n,) for one column, (n, ncols) for a layout
    quality: np.ndarray  # uint8, same shape as value


def column_parts(conn: sqlite3.Connection, layout: int, col: int, lo: float, hi: float) -> list[Part]:
    """One column's chunked samples with ``lo <= t <= hi``, chunk by chunk in time order."""
    if not has_chunks(conn):
        return []
    out = []
    for t0, t1, n, tb, vb, qb in conn.execute(
        "SELECT c.t0, c.t1, c.n, c.t, k.value, k.quality FROM chunks c JOIN chunk_columns k "
        "ON k.chunk_id = c.id AND k.col = ? WHERE c.layout_id = ? AND c.t1 >= ? AND c.t0 <= ? ORDER BY c.t0",
        (col, layout, lo, hi),
    ):
        t = decode_floats(tb, n)
        keep = slice(None) if (t0 >= lo and t1 <= hi) else (t >= lo) & (t <= hi)
        out.append(Part(t[keep], decode_floats(vb, n)[keep], decode_quality(qb, n)[keep]))
    return out


def layout_parts(conn: sqlite3.Connection, layout: int, ncols: int, a: float, b: float) -> list[Part]:
    """Every column of a layout's chunked samples with ``a <= t < b`` (values (n, ncols))."""
    if not has_chunks(conn):
        return []
    out = []
    for cid, n, tb in conn.execute(
        "SELECT id, n, t FROM chunks WHERE layout_id = ? AND t1 >= ? AND t0 < ? ORDER BY t0", (layout, a, b)
    ).fetchall():
        cols = conn.execute(
            "SELECT col, value, quality FROM chunk_columns WHERE chunk_id = ? ORDER BY col", (cid,)
        ).fetchall()
        if [c[0] for c in cols] != list(range(ncols)):
            continue  # a damaged chunk: never half a poll (the frames rule)
        t = decode_floats(tb, n)
        keep = (t >= a) & (t < b)
        value = np.column_stack([decode_floats(c[1], n) for c in cols])[keep]
        quality = np.column_stack([decode_quality(c[2], n) for c in cols])[keep]
        out.append(Part(t[keep], value, quality))
    return out


def edge(conn: sqlite3.Connection, layout: int, lo: float, hi: float, newest: bool) -> float | None:
    """The first (or, ``newest``, last) chunked sample time of a layout in ``[lo, hi]``."""
    if not has_chunks(conn):
        return None
    order = "t1 DESC" if newest else "t0"
    cond = "t0 <= ? AND t1 >= ?"
    for t0, t1, n, tb in conn.execute(
        f"SELECT t0, t1, n, t FROM chunks WHERE layout_id = ? AND {cond} ORDER BY {order} LIMIT 4",
        (layout, hi, lo),
    ):
        if lo <= (t1 if newest else t0) <= hi:
            return float(t1 if newest else t0)
        t = decode_floats(tb, n)
        inside = t[(t >= lo) & (t <= hi)]
        if len(inside):
            return float(inside[-1] if newest else inside[0])
    return None


def delete_before(conn: sqlite3.Connection, layout: int, cut: float, limit: int) -> int:
    """Delete up to ``limit`` of a layout's chunks whose every sample is older than ``cut``;
    returns how many samples (rows x columns) went."""
    rows = conn.execute(
        "SELECT id, n FROM chunks WHERE layout_id = ? AND t1 < ? ORDER BY t1 LIMIT ?", (layout, cut, limit)
    ).fetchall()
    if not rows:
        return 0
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    ncols = conn.execute(f"SELECT COUNT(*) FROM chunk_columns WHERE chunk_id IN ({marks})", ids).fetchone()[0]
    conn.execute(f"DELETE FROM chunk_columns WHERE chunk_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", ids)
    per_chunk = ncols / len(ids) if ids else 0
    return int(sum(r[1] for r in rows) * per_chunk)


class Chunker:
    """The writer's compaction of old frames into chunks; every method runs on the writer.

    ``after_s``: frames this much older than the newest sample (and below the rollups'
    watermark) are chunked, one layout-hour per step, so a step costs tens of milliseconds."""

    def __init__(self, after_s: float = 2 * CHUNK_S) -> None:
        self.after_s = after_s
        self.samples_chunked = 0
        #: per layout, where its frames are chunked up to (a damaged frame left behind is not
        #: looked at again)
        self._floor: dict[int, float] = {}

    def step(self, conn: sqlite3.Connection, newest: float | None, rolled: float | None) -> bool:
        """Chunk the oldest whole hour of one layout that is due; True when more may be due."""
        if newest is None or rolled is None or not has_chunks(conn):
            return False
        limit = min(newest - self.after_s, rolled)
        for layout, ncols in conn.execute(
            "SELECT layout_id, COUNT(*) FROM layout_tags GROUP BY layout_id ORDER BY layout_id"
        ).fetchall():
            row = conn.execute(
                "SELECT t FROM frames WHERE layout_id = ? AND t >= ? ORDER BY t LIMIT 1",
                (layout, self._floor.get(int(layout), -math.inf)),
            ).fetchone()
            if row is None:
                continue
            start = math.floor(row[0] / CHUNK_S) * CHUNK_S
            end = start + CHUNK_S
            if end > limit:
                continue
            self._chunk(conn, int(layout), int(ncols), start, end)
            self._floor[int(layout)] = end
            return True
        return False

    def _chunk(self, conn: sqlite3.Connection, layout: int, ncols: int, a: float, b: float) -> None:
        conn.execute("BEGIN")
        try:
            rows = conn.execute(
                "SELECT rowid, t, value, quality FROM frames "
                "WHERE layout_id = ? AND t >= ? AND t < ? ORDER BY t",
                (layout, a, b),
            ).fetchall()
            good = [r for r in rows if len(r[2]) == ncols * 8 and len(r[3]) == ncols]
            if good:  # a damaged frame (wrong length) stays a frame: readers skip it as before
                n = len(good)
                t = np.fromiter((r[1] for r in good), np.float64, n)
                value = np.frombuffer(b"".join(r[2] for r in good), VALUE_DTYPE).reshape(n, ncols)
                quality = np.frombuffer(b"".join(r[3] for r in good), np.uint8).reshape(n, ncols)
                cur = conn.execute(
                    "INSERT INTO chunks (layout_id, t0, t1, n, t) VALUES (?, ?, ?, ?, ?)",
                    (layout, float(t[0]), float(t[-1]), n, encode_floats(t)),
                )
                cid = cur.lastrowid
                conn.executemany(
                    "INSERT INTO chunk_columns (chunk_id, col, value, quality) VALUES (?, ?, ?, ?)",
                    [
                        (cid, c, encode_floats(value[:, c]), encode_quality(quality[:, c]))
                        for c in range(ncols)
                    ],
                )
                if len(good) == len(rows):
                    sql = "DELETE FROM frames WHERE layout_id = ? AND t >= ? AND t < ?"
                    conn.execute(sql, (layout, a, b))
                else:
                    ids = [r[0] for r in good]
                    for i in range(0, len(ids), 500):
                        part = ids[i : i + 500]
                        conn.execute(f"DELETE FROM frames WHERE rowid IN ({','.join('?' * len(part))})", part)
                self.samples_chunked += n * ncols
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
