"""Fixed-size ring buffers of (time, value) per trend pen, in numpy, for cheap appends.

A trend redraws many times a second; appending to Python lists and converting every frame would
cost more than drawing. Each sample is written twice (at i and i + capacity), so the newest
``capacity`` samples are always one contiguous slice: reading them is a view, never a copy.
Values of bad quality are stored as NaN so the curve shows a gap instead of a made-up line
through the outage.
"""

from __future__ import annotations

import numpy as np


class RingSeries:
    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._t = np.zeros(2 * self.capacity, dtype=np.float64)
        self._v = np.zeros(2 * self.capacity, dtype=np.float64)
        self._n = 0  # samples held
        self._head = 0  # next write position in [0, capacity)
        self.version = 0  # bumps on every change, so views redraw only when needed

    def __len__(self) -> int:
        return self._n

    def append(self, t: float, v: float) -> None:
        h, c = self._head, self.capacity
        self._t[h] = self._t[h + c] = t
        self._v[h] = self._v[h + c] = v
        self._head = (h + 1) % c
        self._n = min(self._n + 1, c)
        self.version += 1

    def extend(self, t: np.ndarray, v: np.ndarray) -> None:
        c = self.capacity
        t = np.asarray(t, dtype=np.float64)[-c:]
        v = np.asarray(v, dtype=np.float64)[-c:]
        k = len(t)
        if k == 0:
            return
        h = self._head
        first = min(k, c - h)
        rest = k - first
        for buf, src in ((self._t, t), (self._v, v)):
            buf[h : h + first] = src[:first]
            buf[h + c : h + c + first] = src[:first]
            if rest:
                buf[:rest] = src[first:]
                buf[c : c + rest] = src[first:]
        self._head = (h + k) % c
        self._n = min(self._n + k, c)
        self.version += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Oldest-first, contiguous read-only views of the samples held (no copy)."""
        # until the buffer is full nothing has wrapped and the samples are [0, head)
        end = self._head + self.capacity if self._n == self.capacity else self._head
        t, v = self._t[end - self._n : end], self._v[end - self._n : end]
        t.flags.writeable = False
        v.flags.writeable = False
        return t, v

    def oldest(self) -> float | None:
        if self._n == 0:
            return None
        t, _ = self.arrays()
        return float(t[0])

    def latest(self) -> tuple[float, float] | None:
        if self._n == 0:
            return None
        i = (self._head - 1) % self.capacity
        return float(self._t[i]), float(self._v[i])
