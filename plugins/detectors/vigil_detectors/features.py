"""Causal feature pipeline shared by the built-in detectors.

Raw plant values are on wildly different scales (volts, litres/min, g RMS), drift slowly and are
noisy from one poll to the next. Every built-in detector therefore sees the same causal features:

1. robust standardisation with the training median and MAD (one outlier in the training window
   does not move the scale, and a constant tag gets a floor instead of a division by zero);
2. an exponentially weighted moving average (EWMA) of those values, which trades a few rows of
   delay for far fewer false alarms from single-poll noise;
3. optionally the EWMA of the absolute first difference ("how restless is this tag now"), which
   catches faults that shake a signal without moving its mean (cavitation, a loose rotor).

The pipeline is a small state machine (last EWMA, last raw row) so a batch can be cut anywhere and
the outputs do not change: row t only ever depends on rows <= t. A fresh stream starts from the
training median, so the first rows are smoothed like every other row (starting from the first
raw row gave that row the full poll-to-poll noise and raised false alarms at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAD_TO_SIGMA = 1.4826


def robust_centre_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-based scale per column, floored so a flat training column cannot make
    every later wiggle look infinite."""
    centre = np.median(x, axis=0)
    mad = np.median(np.abs(x - centre), axis=0) * MAD_TO_SIGMA
    std = x.std(axis=0)
    floor = np.maximum(1e-6 * np.maximum(np.abs(centre), 1.0), 0.05 * std)
    scale = np.maximum(mad, floor)
    scale = np.where(scale > 0, scale, 1.0)
    return centre, scale


def lag1_autocorrelation(x: np.ndarray) -> np.ndarray:
    """Per column; ~1 for slow, smooth signals (temperatures), ~0 for poll-to-poll noise."""
    c = x - x.mean(axis=0)
    den = (c * c).sum(axis=0)
    return np.where(den > 0, (c[1:] * c[:-1]).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0)


@dataclass
class CausalFeatures:
    """Standardise -> EWMA (+ EWMA of |diff|). ``alpha`` is the EWMA weight of the newest row.

    Slow tags (lag-1 autocorrelation >= ``slow_autocorr`` in training: temperatures, levels)
    drift beyond any short training window while the plant is perfectly healthy, so their level
    is judged against a slow moving baseline (EWMA weight ``slow_alpha``) instead of the training
    median: a sudden move still counts, a slow drift does not. On SKAB this one rule removed most
    false alarms, which came from the motor and thermocouple temperatures warming up.
    """

    centre: np.ndarray
    scale: np.ndarray
    slow: np.ndarray  # bool per tag
    alpha: float = 0.1
    use_diff: bool = False
    slow_alpha: float = 0.01
    diff_scale: np.ndarray | None = None
    _level: np.ndarray | None = field(default=None, repr=False)
    _base: np.ndarray | None = field(default=None, repr=False)
    _restless: np.ndarray | None = field(default=None, repr=False)
    _prev: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, x: np.ndarray, params: dict) -> CausalFeatures:
        centre, scale = robust_centre_scale(x)
        use_diff = bool(params["use_diff"])
        diff_scale = None
        if use_diff:
            d = np.abs(np.diff((x - centre) / scale, axis=0))
            diff_scale = np.maximum(np.median(d, axis=0), 1e-3)
        slow = lag1_autocorrelation(x) >= float(params["slow_autocorr"])
        return cls(centre=centre, scale=scale, slow=slow, alpha=float(params["alpha"]),
                   use_diff=use_diff, slow_alpha=float(params["slow_alpha"]), diff_scale=diff_scale)

    @property
    def n_features_per_tag(self) -> int:
        return 2 if self.use_diff else 1

    def reset(self) -> None:
        self._level = self._base = self._restless = self._prev = None

    def transform(self, batch: np.ndarray) -> np.ndarray:
        """Feature rows for ``batch`` (continuing the stream). Columns: levels, then restlessness."""
        z = (batch - self.centre) / self.scale
        n, m = z.shape
        a, b = self.alpha, self.slow_alpha
        levels = np.empty_like(z)
        restless = np.empty_like(z) if self.use_diff else None
        level, base, prev, rest = self._level, self._base, self._prev, self._restless
        any_slow = bool(self.slow.any())
        for i in range(n):  # a Python loop over rows is fine: batches are small and m is tiny
            row = z[i]
            if level is None:  # start from "normal" (the training median), not from one noisy row
                level, base = np.zeros(m), np.zeros(m)
            level = level + a * (row - level)
            if any_slow:
                base = base + b * (row - base)
                levels[i] = np.where(self.slow, level - base, level)
            else:
                levels[i] = level
            if restless is not None:
                step = np.zeros(m) if prev is None else np.abs(row - prev) / self.diff_scale
                rest = np.ones(m) if rest is None else rest + a * (step - rest)
                restless[i] = rest
            prev = row
        self._level, self._base, self._prev, self._restless = level, base, prev, rest
        if restless is None:
            return levels
        return np.hstack([levels, restless - 1.0])

    def per_tag(self, values: np.ndarray) -> np.ndarray:
        """Fold per-feature contributions (n, m*k) back to per-tag (n, m)."""
        m = len(self.centre)
        return values.reshape(len(values), self.n_features_per_tag, m).sum(axis=1)

    def arrays(self) -> dict[str, np.ndarray]:
        out = {"centre": self.centre, "scale": self.scale, "slow": self.slow}
        if self.diff_scale is not None:
            out["diff_scale"] = self.diff_scale
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], params: dict) -> CausalFeatures:
        use_diff = bool(params["use_diff"])
        return cls(
            centre=np.asarray(arrays["centre"], dtype=float),
            scale=np.asarray(arrays["scale"], dtype=float),
            slow=np.asarray(arrays["slow"], dtype=bool),
            alpha=float(params["alpha"]),
            use_diff=use_diff,
            slow_alpha=float(params["slow_alpha"]),
            diff_scale=np.asarray(arrays["diff_scale"], dtype=float) if use_diff else None,
        )
