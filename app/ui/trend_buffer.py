"""Fixed-size ring buffers of (time, value) per trend pen, in numpy, for cheap appends.

A trend redraws many times a second; appending to Python lists and converting every frame would
cost more than drawing. Values of bad quality are stored as NaN so the curve shows a gap instead
of a made-up line through the outage.
"""

from __future__ import annotations

import numpy as np


class RingSeries:
    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._t = np.empty(self.capacity, dtype=np.float64)
        self._v = np.empty(self.capacity, dtype=np.float64)
        self._n = 0  # samples held
        self._head = 0  # next write position
        self.version = 0  # bumps on every change, so views redraw only when needed

    def __len__(self) -> int:
        return self._n

    def append(self, t: float, v: float) -> None:
        self._t[self._head] = t
        self._v[self._head] = v
        self._head = (self._head + 1) % self.capacity
        self._n = min(self._n + 1, self.capacity)
        self.version += 1

    def extend(self, t: np.ndarray, v: np.ndarray) -> None:
        t = np.asarray(t, dtype=np.float64)[-self.capacity :]
        v = np.asarray(v, dtype=np.float64)[-self.capacity :]
        k = len(t)
        if k == 0:
            return
        first = min(k, self.capacity - self._head)
        self._t[self._head : self._head + first] = t[:first]
        self._v[self._head : self._head + first] = v[:first]
        rest = k - first
        if rest:
            self._t[:rest] = t[first:]
            self._v[:rest] = v[first:]
        self._head = (self._head + k) % self.capacity
        self._n = min(self._n + k, self.capacity)
        self.version += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Oldest-first copies (contiguous, as pyqtgraph wants)."""
        if self._n < self.capacity:
            start = (self._head - self._n) % self.capacity
            if start + self._n <= self.capacity:
                return self._t[start : start + self._n].copy(), self._v[start : start + self._n].copy()
        idx = (np.arange(self._n) + (self._head - self._n)) % self.capacity
        return self._t[idx], self._v[idx]

    def oldest(self) -> float | None:
        if self._n == 0:
            return None
        return float(self._t[(self._head - self._n) % self.capacity])

    def latest(self) -> tuple[float, float] | None:
        if self._n == 0:
            return None
        i = (self._head - 1) % self.capacity
        return float(self._t[i]), float(self._v[i])

    def value_at(self, t: float) -> tuple[float, float] | None:
        """The sample at or just before ``t`` (what the cursor readout shows)."""
        ts, vs = self.arrays()
        if len(ts) == 0:
            return None
        i = int(np.searchsorted(ts, t, side="right")) - 1
        if i < 0:
            return None
        return float(ts[i]), float(vs[i])
