"""Packing a regular poll into one frame row, and unpacking one tag's column again.

Why frames: the poll path delivers 50,000 samples/s (100 devices x 50 points x 10 Hz). One
SQLite row per sample costs 2-4 us of the writer's CPU per sample (binding five parameters,
a table and an index insert, the GIL released and re-taken per row), three times what the whole
poll loop spends; one row per poll, with the values packed by numpy, costs a few
microseconds per *poll*. Measured in tests/benchmarks/poll.py.

A batch is *regular* (frame-able) when it has at least ``FRAME_MIN_SAMPLES`` samples, every
sample carries the same time stamp, every value is a number, bool or None, and every quality
code fits a byte. That is what the runtime hands over for every device poll. The test here is
done with C-level iteration (``map``/``set``/``list.count``), never a Python loop per sample.
Anything else (strings, a tag twice, mixed times, garbage) is left to the per-sample path.

Encoding: values little-endian float64 (bools 0/1, None as NaN: SQLite already stores a NaN
REAL as NULL, so the two were never told apart), qualities one unsigned byte each.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from app.core.model import Quality, Sample, Value

#: below this a plain row per sample is as cheap, and small batches are often irregular anyway
FRAME_MIN_SAMPLES = 8
VALUE_DTYPE = np.dtype("<f8")
VALUE_SIZE = VALUE_DTYPE.itemsize

_TAG = itemgetter(0)
_VALUE = itemgetter(1)
_QUALITY = itemgetter(2)
_TIME = itemgetter(3)
_NUMBER_TYPES = frozenset({float, int, bool, type(None)})
_TIME_TYPES = (float, int)
_NAN = float("nan")


class Frame(NamedTuple):
    """One regular poll, ready to insert once its tag tuple has a layout id."""

    tags: tuple[str, ...]
    t: float
    value: bytes  # float64 little-endian, one per tag
    quality: bytes  # one byte per tag


def pack_frame(batch: Sequence[Sample]) -> Frame | None:
    """The batch as a Frame, or None when it is not regular (then store it row by row).

    The columns are pulled out with C-level ``map`` and handed to ``pack_columns``; a sink that
    gets the columns straight from the runtime (``Historian.on_poll``) skips this step, which
    was most of the ~11 us this costs per 50-sample poll.
    """
    n = len(batch)
    if n < FRAME_MIN_SAMPLES:
        return None
    try:
        t = batch[0][3]
        if type(t) not in _TIME_TYPES or list(map(_TIME, batch)).count(t) != n:
            return None
        values = list(map(_VALUE, batch))
        quality = bytes(map(_QUALITY, batch))  # ValueError/TypeError for codes that are not 0..255
        tags = tuple(map(_TAG, batch))
    except (TypeError, ValueError, OverflowError, IndexError, KeyError):
        return None  # not Sample-shaped: the per-sample path names and refuses the bad ones
    return pack_columns(tags, t, values, quality)


def pack_columns(
    tags: tuple[str, ...], t: float, values: Sequence[Value], qualities: bytes | None = None
) -> Frame | None:
    """One poll given as columns (``qualities`` None: every value GOOD) as a Frame, or None when
    it is not regular (fewer than ``FRAME_MIN_SAMPLES``, columns of different lengths, a value
    that is not a number, bool or None).

    ``struct`` packs the values (0.4 us per 50 values against 2.3 us for a type check plus
    ``numpy.array``) and refuses by itself anything that is not a number: a str (numpy would
    have parsed "1.5"), None, an int too big for a double. Only then are the types looked at,
    so that a poll with None values (a failed read) is still a frame.
    """
    n = len(tags)
    if n < FRAME_MIN_SAMPLES or len(values) != n or type(t) not in _TIME_TYPES:
        return None
    if qualities is None:
        quality = _all_good(n)
    elif type(qualities) is bytes and len(qualities) == n:
        quality = qualities
    else:
        return None
    packer = _packer(n)
    try:
        try:
            value = packer.pack(*values)
        except struct.error:
            if not _NUMBER_TYPES.issuperset(map(type, values)):
                return None
            value = packer.pack(*[_NAN if v is None else v for v in values])  # error if huge
    except (struct.error, OverflowError, TypeError, ValueError):
        return None
    return Frame(tags if type(tags) is tuple else tuple(tags), float(t), value, quality)


def column_samples(
    tags: Sequence[str], t: float, values: Sequence[Value], qualities: bytes | None = None
) -> list[Sample]:
    """A poll given as columns, as the Samples the runtime would have made of it (for the
    per-sample path, when the columns are not a regular frame)."""
    if qualities is None:
        return [Sample(tag, v, Quality.GOOD, t) for tag, v in zip(tags, values, strict=True)]
    return [
        Sample(tag, v, _quality(q), t)  # type: ignore[arg-type]  # an unknown code is kept as stored
        for tag, v, q in zip(tags, values, qualities, strict=True)
    ]


def _quality(code: int) -> Quality | int:
    """The Quality member for a stored code; an unknown code stays an int (stored as it is)."""
    try:
        return Quality(code)
    except ValueError:
        return code


@functools.lru_cache(maxsize=64)
def _all_good(n: int) -> bytes:
    """``n`` GOOD quality bytes (one shared object per poll size)."""
    return bytes([Quality.GOOD]) * n


@functools.lru_cache(maxsize=64)
def _packer(n: int) -> struct.Struct:
    """``n`` little-endian doubles (one compiled Struct per poll size)."""
    return struct.Struct(f"<{n}d")


def frame_samples(frame: Frame) -> list[Sample]:
    """The frame as samples again (floats, None for NaN, integer quality codes): exactly what
    per-sample rows would store for the original batch, since REAL holds floats and NaN as NULL."""
    values = np.frombuffer(frame.value, dtype=VALUE_DTYPE).tolist()
    return [
        Sample(tag, None if v != v else v, q, frame.t)  # type: ignore[arg-type]
        for tag, v, q in zip(frame.tags, values, frame.quality, strict=True)
    ]


def layout_is_valid(tags: tuple[str, ...]) -> bool:
    """A layout needs string tags, each once (a tag twice in one poll is not a column)."""
    return all(type(tag) is str for tag in tags) and len(set(tags)) == len(tags)


#: one tag's column of a frame as one 9-byte blob: its value then its quality byte. One blob per
#: row instead of two means fewer Python objects per row (measured ~30 % faster on a day of data).
COLUMN_SQL = "CAST(substr(value, ?, 8) || substr(quality, ?, 1) AS BLOB)"
_CELL = np.dtype([("value", VALUE_DTYPE), ("quality", np.uint8)])
_T_OF = itemgetter(0)
_CELL_OF = itemgetter(1)


def column_params(col: int) -> tuple[int, int]:
    """The two ``?`` of ``COLUMN_SQL`` for column ``col``."""
    return col * VALUE_SIZE + 1, col + 1


def column_arrays(rows: list[tuple[float, bytes]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(t, cell)`` rows (see ``COLUMN_SQL``) -> t, value and quality arrays."""
    n = len(rows)
    if not n:
        return np.empty(0, np.float64), np.empty(0, np.float64), np.empty(0, np.int8)
    cells = np.frombuffer(b"".join(map(_CELL_OF, rows)), dtype=_CELL)
    return (
        np.fromiter(map(_T_OF, rows), dtype=np.float64, count=n),
        cells["value"].astype(np.float64),
        cells["quality"].astype(np.int8),
    )
