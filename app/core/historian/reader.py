"""Read side of the historian: range queries, latest values, the tag list, CSV export.

Every call opens its own read-only connection, so any thread (the UI's worker, a detector's
executor, the CLI) can read while the writer thread commits: WAL gives each reader a consistent
snapshot without blocking the writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.core.historian.downsample import downsample_rows, rows_to_arrays
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
                first = conn.execute("SELECT MIN(t) FROM samples WHERE tag_id=?", (tid,)).fetchone()[0]
                last = conn.execute("SELECT MAX(t) FROM samples WHERE tag_id=?", (tid,)).fetchone()[0]
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
                if row is not None:
                    t, value, text, quality = row
                    out[tag] = Sample(tag, text if text is not None else value, _quality(quality), t)
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
                rows = self._range_rows(conn, tid, lo, hi, max_points, numeric)
                out[tag] = Series(*rows_to_arrays(rows, numeric))
        return out

    @staticmethod
    def _range_rows(
        conn: sqlite3.Connection, tid: int, lo: float, hi: float, max_points: int | None, numeric: bool
    ) -> list[tuple]:
        where = "tag_id = ? AND t >= ? AND t <= ?"
        if max_points is not None:
            # count no further than max_points + 1: a long range is not scanned just to be counted
            (count,) = conn.execute(
                f"SELECT COUNT(*) FROM (SELECT 1 FROM samples WHERE {where} LIMIT ?)",
                (tid, lo, hi, max_points + 1),
            ).fetchone()
            if count > max_points:
                (first,) = conn.execute(
                    f"SELECT t FROM samples WHERE {where} ORDER BY t LIMIT 1", (tid, lo, hi)
                ).fetchone()
                (last,) = conn.execute(
                    f"SELECT t FROM samples WHERE {where} ORDER BY t DESC LIMIT 1", (tid, lo, hi)
                ).fetchone()
                return downsample_rows(conn, tid, first, last, max_points, numeric)
        cols = "t, value, NULL, quality" if numeric else "t, value, text, quality"  # see downsample
        return conn.execute(f"SELECT {cols} FROM samples WHERE {where} ORDER BY t", (tid, lo, hi)).fetchall()


def _quality(code: int) -> Quality | int:
    try:
        return Quality(code)
    except ValueError:
        return code
