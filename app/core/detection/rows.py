"""Turning samples into detector rows: one row per poll cycle of a group of tags.

Samples of one device share the poll's timestamp, so a row is "every tag of the group at the
same ``t``". A row with any sample that is not GOOD (or not a finite number) is skipped, never
scored: a detector fed a held or missing value would either miss a fault or invent one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from app.core.model import Quality, Sample


@dataclass
class RowAssembler:
    """Collects samples for ``tags`` and emits complete GOOD rows in time order.

    Partial rows older than ``max_open`` newer timestamps are given up (counted as skipped): a
    device that stopped answering half-way through a poll must not hold rows back forever.
    """

    tags: Sequence[str]
    max_open: int = 4
    skipped: int = 0
    _index: dict[str, int] = field(default_factory=dict)
    _open: dict[float, list[float | None]] = field(default_factory=dict)
    _bad: set[float] = field(default_factory=set)
    _last_t: float = -math.inf

    def __post_init__(self) -> None:
        self._index = {tag: i for i, tag in enumerate(self.tags)}

    def add(self, samples: Iterable[Sample]) -> list[tuple[float, np.ndarray]]:
        """Feed samples; return the rows completed by them as (t, values)."""
        done: list[tuple[float, np.ndarray]] = []
        for s in samples:
            i = self._index.get(s.tag)
            if i is None:
                continue
            t = float(s.t)
            if t <= self._last_t:
                continue  # late or duplicate sample for a row already emitted or given up
            slot = self._open.setdefault(t, [None] * len(self.tags))
            good = s.quality == Quality.GOOD and _is_number(s.value)
            if not good:
                self._bad.add(t)
            slot[i] = float(s.value) if good else None  # type: ignore[arg-type]
            if t not in self._bad and all(v is not None for v in slot):
                done.append((t, np.array(slot, dtype=float)))
                self._close_until(t)
        self._expire()
        return done

    def _close_until(self, t: float) -> None:
        """Everything at or before ``t`` is finished: older partial rows can never complete."""
        for old in [k for k in self._open if k <= t]:
            if old != t:
                self.skipped += 1
            self._open.pop(old)
            self._bad.discard(old)
        self._last_t = t

    def _expire(self) -> None:
        while len(self._open) > self.max_open:
            oldest = min(self._open)
            self._open.pop(oldest)
            self._bad.discard(oldest)
            self.skipped += 1
            self._last_t = max(self._last_t, oldest)


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, str) and math.isfinite(float(v))


def rows_from_series(tags: Sequence[str], series: Mapping[str, object]) -> tuple[np.ndarray, np.ndarray]:
    """Align historian series (``t``, ``value``, ``quality`` arrays per tag) into (t, rows).

    Keeps only timestamps at which every tag has a GOOD, finite value, the same rule as live.
    """
    common: np.ndarray | None = None
    per_tag: list[dict[float, float]] = []
    for tag in tags:
        s = series[tag]
        t = np.asarray(s.t, dtype=np.float64)  # type: ignore[attr-defined]
        q = np.asarray(s.quality)  # type: ignore[attr-defined]
        v = np.asarray(s.value)  # type: ignore[attr-defined]
        ok = q == int(Quality.GOOD)
        if v.dtype.kind == "f":
            ok &= np.isfinite(v)
        elif v.dtype.kind not in "biu":
            ok &= np.array([_is_number(x) for x in v], dtype=bool) if len(v) else ok
        good_t = t[ok]
        per_tag.append(dict(zip(good_t.tolist(), v[ok].astype(float).tolist(), strict=True)))
        common = good_t if common is None else np.intersect1d(common, good_t)
    if common is None or len(common) == 0:
        return np.empty(0), np.empty((0, len(tags)))
    common = np.unique(common)
    rows = np.array([[d[t] for d in per_tag] for t in common.tolist()], dtype=float)
    return common, rows
