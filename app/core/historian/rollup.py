"""Rollups: per-tag summaries of fixed, epoch-aligned time buckets, and how they answer a trend.

Why: a trend of a month asks for ~2,000 points out of ~26 million samples of one tag. Reading the
samples costs seconds; reading pre-computed summaries of whole buckets costs milliseconds, as
long as the summaries can reproduce *exactly* what min/max downsampling of the samples returns.

Exactness is arranged, not approximated:

* Every level's buckets are aligned to multiples of its width since the epoch, and each level's
  width divides the next one's (10 s | 1 min | 10 min | 1 h), so buckets nest.
* The downsampler's bucket width (``bucket_width``) is chosen as a multiple of the coarsest level
  that fits, also epoch-aligned, so a rollup bucket never straddles a downsampler bucket.
* A summary (``REC``) is mergeable without loss for what the downsampler returns: the good
  minimum and maximum *with their time stamps* (earliest wins a tie), the first and last sample
  (any quality), the first non-good sample with its own quality, and counts (all, good, bad,
  finite good values) plus the sum of good values for a mean.

So any partition of a downsampler bucket into coarse rows, finer rows and raw samples reduces to
the same answer as the raw samples alone (``reduce_segments`` is the one merge used by the
writer, the compactor and the query).

Quality: only GOOD samples with a number enter min, max, sum and the value count. A BAD, STALE
or UNCERTAIN sample is counted in the mix and kept as the bucket's first non-good sample, never
averaged or compared as good, so a rollup can never look better than its samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from app.core.model import Quality

#: stored levels in seconds; each divides the next
LEVELS: tuple[int, ...] = (10, 60, 600, 3600)
LEVEL_NAMES: dict[int, str] = {10: "10s", 60: "1m", 600: "10m", 3600: "1h"}
FINEST = LEVELS[0]

_GOOD = int(Quality.GOOD)
_UNCERTAIN = int(Quality.UNCERTAIN)

#: one bucket of one tag. Floats first so the aligned layout has no holes but the tail pad.
REC = np.dtype(
    [
        ("sum", "<f8"),  # of good finite values
        ("min_t", "<f8"),  # NaN: no good value in the bucket
        ("min_v", "<f8"),
        ("max_t", "<f8"),
        ("max_v", "<f8"),
        ("first_t", "<f8"),
        ("first_v", "<f8"),
        ("last_t", "<f8"),
        ("last_v", "<f8"),
        ("ng_t", "<f8"),  # first sample that is not GOOD; NaN: none
        ("ng_v", "<f8"),
        ("n", "<u4"),  # samples
        ("n_good", "<u4"),  # GOOD samples
        ("n_bad", "<u4"),  # BAD_*, STALE or an unknown code (UNCERTAIN = n - n_good - n_bad)
        ("n_val", "<u4"),  # GOOD samples holding a number (NaN is no number)
        ("first_q", "u1"),
        ("last_q", "u1"),
        ("ng_q", "u1"),
    ],
    align=True,
)
REC_SIZE = REC.itemsize


def bucket_of(t: np.ndarray, width: float) -> np.ndarray:
    """``floor(t / width)`` as float64, corrected so that ``k*width <= t < (k+1)*width`` holds
    exactly (a plain division can round a time just below a boundary onto it)."""
    k = np.floor(t / width)
    k -= k * width > t
    k += (k + 1) * width <= t
    return k


def align_down(t: float, width: float) -> float:
    k = math.floor(t / width)
    if k * width > t:
        k -= 1
    elif (k + 1) * width <= t:
        k += 1
    return float(k * width)


def align_up(t: float, width: float) -> float:
    down = align_down(t, width)
    return down if down == t else down + width


def bucket_width(span: float, max_points: int, any_bad: bool) -> tuple[float, int | None]:
    """(downsampler bucket width in seconds, the rollup level that answers it or None).

    The point budget: each bucket gives its good min and max, and its first non-good sample when
    the range holds any, and the range's first and last sample are kept too; so a range with bad
    samples gets fewer, wider buckets. ``n_b - 2`` divides the span because aligned buckets can
    be cut at both ends. The level is picked with the all-good budget, so deciding ``any_bad``
    (known only after reading) never changes which level is read, only how many of its rows
    go into one bucket. Below the finest level the raw samples are bucketed by the plain width.
    """
    n2 = (max_points - 2) // 2
    nb = (max_points - 2) // 3 if any_bad else n2
    if nb < 3 or span <= 0:
        return math.inf, None
    target2 = span / (n2 - 2)
    target = span / (nb - 2)
    level = max((lv for lv in LEVELS if lv <= target2), default=None)
    if level is None:
        return target, None
    return float(level * math.ceil(target / level)), level


def empty(shape: int | tuple[int, ...]) -> np.ndarray:
    out = np.zeros(shape, REC)
    for f in ("min_t", "max_t", "ng_t", "min_v", "max_v", "ng_v"):
        out[f] = np.nan
    return out


def raw_records(t: np.ndarray, value: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Each sample as a one-sample summary. ``t`` is (n,), ``value``/``quality`` (n,) or (n, c)."""
    value = np.asarray(value, dtype=np.float64)
    q = np.asarray(quality).astype(np.int16) & 0xFF  # int8 codes from a Series, u1 from frames
    tt = np.broadcast_to(t.reshape((-1,) + (1,) * (value.ndim - 1)), value.shape)
    good = q == _GOOD
    val = good & ~np.isnan(value)
    rec = np.zeros(value.shape, REC)
    rec["n"] = 1
    rec["n_good"] = good
    rec["n_bad"] = (q != _GOOD) & (q != _UNCERTAIN)
    rec["n_val"] = val
    rec["sum"] = np.where(val, value, 0.0)
    t_val = np.where(val, tt, np.nan)
    rec["min_t"] = t_val
    rec["max_t"] = t_val
    rec["min_v"] = value
    rec["max_v"] = value
    rec["first_t"] = tt
    rec["last_t"] = tt
    rec["first_v"] = value
    rec["last_v"] = value
    rec["first_q"] = q
    rec["last_q"] = q
    rec["ng_t"] = np.where(good, np.nan, tt)
    rec["ng_v"] = np.where(good, np.nan, value)
    rec["ng_q"] = np.where(good, 0, q)
    return rec


def _pick(field: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.take_along_axis(field, idx, axis=0)


def reduce_segments(rec: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Merge contiguous runs of summaries along axis 0 (runs begin at ``starts``) into one each.

    Works on (n,) or (n, c) arrays (a frame layout's columns side by side). The result does not
    depend on the order of summaries within a run, except between samples with equal times.
    """
    n = rec.shape[0]
    k = len(starts)
    out = np.zeros((k, *rec.shape[1:]), REC)  # zeros: the padding bytes are stored too
    if k == 0:
        return out
    seg = np.repeat(np.arange(k), np.diff(np.append(starts, n)))
    row = np.arange(n).reshape((-1,) + (1,) * (rec.ndim - 1))
    for f in ("n", "n_good", "n_bad", "n_val"):
        out[f] = np.add.reduceat(rec[f].astype(np.int64), starts, axis=0)
    out["sum"] = np.add.reduceat(rec["sum"], starts, axis=0)
    has_val = out["n_val"] > 0
    valid = rec["n_val"] > 0
    for side, ufunc, sentinel in (("min", np.minimum, np.inf), ("max", np.maximum, -np.inf)):
        v = np.where(valid, rec[f"{side}_v"], sentinel)
        best = ufunc.reduceat(v, starts, axis=0)
        cand = valid & (v == best[seg])
        tb = np.minimum.reduceat(np.where(cand, rec[f"{side}_t"], np.inf), starts, axis=0)
        out[f"{side}_v"] = np.where(has_val, best, np.nan)
        out[f"{side}_t"] = np.where(has_val, tb, np.nan)
    ft = rec["first_t"]
    fbest = np.minimum.reduceat(ft, starts, axis=0)
    idx = np.minimum.reduceat(np.where(ft == fbest[seg], row, n), starts, axis=0)
    out["first_t"] = fbest
    out["first_v"] = _pick(rec["first_v"], idx)
    out["first_q"] = _pick(rec["first_q"], idx)
    lt = rec["last_t"]
    lbest = np.maximum.reduceat(lt, starts, axis=0)
    idx = np.maximum.reduceat(np.where(lt == lbest[seg], row, -1), starts, axis=0)
    out["last_t"] = lbest
    out["last_v"] = _pick(rec["last_v"], idx)
    out["last_q"] = _pick(rec["last_q"], idx)
    has_ng = ~np.isnan(rec["ng_t"])
    nt = np.where(has_ng, rec["ng_t"], np.inf)
    nbest = np.minimum.reduceat(nt, starts, axis=0)
    idx = np.minimum.reduceat(np.where(has_ng & (nt == nbest[seg]), row, n), starts, axis=0)
    any_ng = idx < n
    idx = np.minimum(idx, n - 1)
    out["ng_t"] = np.where(any_ng, nbest, np.nan)
    out["ng_v"] = np.where(any_ng, _pick(rec["ng_v"], idx), np.nan)  # no leftovers: rows compare
    out["ng_q"] = np.where(any_ng, _pick(rec["ng_q"], idx), 0)
    return out


def reduce_raw(t: np.ndarray, value: np.ndarray, quality: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``reduce_segments(raw_records(t, value, quality), starts)`` without building a record per
    sample (the writer's hot path: ~10x less memory traffic). ``t`` must ascend within each run;
    ``value``/``quality`` are (n, c). The rollup tests hold the two to the same answer."""
    n, c = value.shape
    k = len(starts)
    out = np.zeros((k, c), REC)
    if k == 0:
        return out
    ends = np.append(starts[1:], n)
    seg = np.repeat(np.arange(k), ends - starts)
    q = np.asarray(quality).astype(np.int16) & 0xFF
    good = q == _GOOD
    val = good & ~np.isnan(value)
    tt = t[:, None]
    row = np.arange(n)[:, None]
    out["n"] = (ends - starts)[:, None]
    out["n_good"] = np.add.reduceat(good.astype(np.int32), starts, axis=0)
    out["n_bad"] = np.add.reduceat(((q != _GOOD) & (q != _UNCERTAIN)).astype(np.int32), starts, axis=0)
    n_val = np.add.reduceat(val.astype(np.int32), starts, axis=0)
    out["n_val"] = n_val
    out["sum"] = np.add.reduceat(np.where(val, value, 0.0), starts, axis=0)
    has_val = n_val > 0
    for side, ufunc, sentinel in (("min", np.minimum, np.inf), ("max", np.maximum, -np.inf)):
        v = np.where(val, value, sentinel)
        best = ufunc.reduceat(v, starts, axis=0)
        cand = val & (v == best[seg])
        tb = np.minimum.reduceat(np.where(cand, tt, np.inf), starts, axis=0)
        out[f"{side}_v"] = np.where(has_val, best, np.nan)
        out[f"{side}_t"] = np.where(has_val, tb, np.nan)
    last = ends - 1
    out["first_t"] = t[starts][:, None]
    out["first_v"] = value[starts]
    out["first_q"] = q[starts]
    out["last_t"] = t[last][:, None]
    out["last_v"] = value[last]
    out["last_q"] = q[last]
    idx = np.minimum.reduceat(np.where(good, n, row), starts, axis=0)
    any_ng = idx < n
    idx = np.minimum(idx, n - 1)
    out["ng_t"] = np.where(any_ng, t[idx], np.nan)
    out["ng_v"] = np.where(any_ng, np.take_along_axis(value, idx, axis=0), np.nan)
    out["ng_q"] = np.where(any_ng, np.take_along_axis(q, idx, axis=0), 0)
    return out


def runs(keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal, already grouped, keys."""
    if len(keys) == 0:
        return np.empty(0, np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def reduce_by_bucket(t_or_key: np.ndarray, rec: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """(bucket start times, summaries) of ``rec`` grouped into ``width`` buckets by ``t_or_key``
    (a sample's time, or a finer summary's bucket start); rows must be in time order."""
    keys = bucket_of(t_or_key, width)
    starts = runs(keys)
    return keys[starts] * width, reduce_segments(rec, starts)


class Points(NamedTuple):
    t: np.ndarray
    value: np.ndarray
    quality: np.ndarray


def points_from_buckets(buckets: np.ndarray, overall: np.ndarray) -> Points:
    """The downsampler's answer from one summary per bucket (1-D) and the summary of the whole
    range: each bucket's good min and max and its first non-good sample, plus the range's first
    and last sample; in time order, each sample once."""
    parts_t = [buckets["min_t"], buckets["max_t"], buckets["ng_t"], overall["first_t"], overall["last_t"]]
    parts_v = [buckets["min_v"], buckets["max_v"], buckets["ng_v"], overall["first_v"], overall["last_v"]]
    good = np.full(len(buckets), _GOOD, np.int16)
    parts_q = [good, good, buckets["ng_q"].astype(np.int16), overall["first_q"], overall["last_q"]]
    t = np.concatenate([np.atleast_1d(p) for p in parts_t])
    v = np.concatenate([np.atleast_1d(p) for p in parts_v])
    q = np.concatenate([np.atleast_1d(np.asarray(p, np.int16)) for p in parts_q])
    keep = ~np.isnan(t)
    t, v, q = t[keep], v[keep], q[keep]
    order = np.lexsort((q, v, t))
    t, v, q = t[order], v[order], q[order]
    same_v = (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
    same = np.r_[False, (t[1:] == t[:-1]) & (q[1:] == q[:-1]) & same_v]
    t, v, q = t[~same], v[~same], q[~same]
    return Points(t, v, q.astype(np.int8))


def merge_all(rec: np.ndarray) -> np.ndarray:
    """One summary of every summary in ``rec`` (1-D, non-empty)."""
    return reduce_segments(rec, np.zeros(1, np.int64))[0]


def cover(
    lo: float, hi: float, finest_first: Sequence[int], done: dict[int, float | None]
) -> list[tuple[int, float, float]]:
    """Split ``[lo, hi)`` into pieces ``(level, a, b)`` (level 0 = raw samples) so that the
    coarsest allowed level answers every whole bucket it has final rows for (``done``: each
    level's watermark, its rows are final below it) and finer levels, then raw samples, fill the
    edges. ``finest_first``: the allowed levels, finest first."""
    out: list[tuple[int, float, float]] = []

    def walk(a: float, b: float, i: int) -> None:
        if a >= b:
            return
        if i < 0:
            out.append((0, a, b))
            return
        level = finest_first[i]
        top = min(b, done.get(level) or -math.inf)
        a2 = align_up(a, level)
        b2 = align_down(top, level) if math.isfinite(top) else -math.inf
        if a2 < b2:
            walk(a, a2, i - 1)
            out.append((level, a2, b2))
            walk(b2, b, i - 1)
        else:
            walk(a, b, i - 1)

    walk(lo, hi, len(finest_first) - 1)
    return out
