"""The detector contract: how an anomaly detector plugs into Vigil.

A detector learns "normal" from a window of history (a 2-D array: rows are time, columns are
tags) and then scores new rows as they arrive. Vigil's engine owns everything around it:
collecting rows from polls, batching (scikit-learn costs ~4 ms per call, so rows are scored in
small batches, never one per call), latching alarms, explanations shown to operators, saving
models and recording their SHA-256 in the journal.

Rules a detector must keep, because operators rely on them:

* **Causal.** The score of row t may use rows <= t only. Streaming state (lag buffers, EWMA
  filters) is allowed and is carried from one ``score`` call to the next, so cutting the input
  after row k never changes an output at or before row k, whatever the batch boundaries.
* **Threshold learned from training data**, stored in the state, so the same model file gives the
  same alarms everywhere.
* **No pickle.** State is plain numeric arrays plus JSON-able parameters (`DetectorState`); a
  detector that needs an opaque estimator (IsolationForest) refits it on load from stored
  training arrays with a fixed seed.

The engine turns scores into alarms with `AlarmLatch` (debounce on, hold, hysteresis off) so one
episode is one alarm, and names the tags that contributed most with `top_tags`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

DETECTOR_API_VERSION = "1.0"


class DetectorError(Exception):
    """A detector cannot do what was asked (too little history, wrong shape, bad state).

    The message is shown to a person, so it says what is wrong and what to do about it.
    """


@dataclass(frozen=True)
class Scores:
    """What `Detector.score` returns for a batch of n rows.

    ``score`` is (n,), higher is more abnormal; ``contributions`` is (n, n_tags), each tag's
    non-negative share of that row's abnormality (used only to explain, never to decide).
    """

    score: np.ndarray
    contributions: np.ndarray


@dataclass
class DetectorState:
    """A detector's whole trained state: numeric arrays and JSON-able parameters.

    ``arrays`` must hold plain numeric/bool arrays (no object dtype), so they can be stored with
    ``numpy.savez`` and loaded with ``allow_pickle=False``. ``params`` must survive ``json.dumps``.
    """

    detector: str
    tags: list[str]
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class ParamSpec:
    """One detector parameter's kind and allowed range, declared by the detector class in
    ``param_specs`` so the host can refuse a bad value by name (``--set alpha=-5``, a hand-edited
    model file) before any fitting. ``lo_open``/``hi_open``: the bound itself is excluded."""

    kind: type  # float, int or bool
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false"
        what = "a whole number" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            return f"{what} in {left}{self.lo:g}, {self.hi:g}{right}"
        if self.lo is not None:
            return f"{what} {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None:
            return f"{what} {'<' if self.hi_open else '<='} {self.hi:g}"
        return what

    def accepts(self, value: object) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False  # JSON true is not 1, and "3" is text, not a number
        if self.kind is int and not float(value).is_integer():
            return False
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return not (self.hi is not None and (v >= self.hi if self.hi_open else v > self.hi))


def check_params(detector: str, params: Mapping[str, Any], specs: Mapping[str, ParamSpec]) -> None:
    """Raise DetectorError naming every unknown parameter, or the first value out of range."""
    unknown = sorted(set(params) - set(specs))
    if unknown:
        raise DetectorError(f"{detector}: unknown parameter(s) {unknown}; known: {sorted(specs)}")
    for name, value in params.items():
        spec = specs[name]
        if not spec.accepts(value):
            raise DetectorError(f"{detector}: parameter '{name}' must be {spec.describe()}, got {value!r}")


def check_detector_params(cls: type, params: Mapping[str, Any], detector: str) -> None:
    """The host's check, before a detector class sees ``params``: every value must lie in the
    range the class declares in ``param_specs``. A class that declares nothing accepts no
    parameters (its defaults only), so an unchecked value never reaches a plugin."""
    specs = getattr(cls, "param_specs", None)
    if specs is None:
        if params:
            raise DetectorError(f"{detector}: this detector declares no parameters "
                                f"(no param_specs), so {sorted(params)} cannot be set")
        return
    if not isinstance(specs, Mapping) or not all(isinstance(v, ParamSpec) for v in specs.values()):
        raise DetectorError(f"{detector}: param_specs must map parameter names to ParamSpec")
    check_params(detector, params, specs)


@runtime_checkable
class Detector(Protocol):
    """One trained (or untrained) anomaly model over a fixed list of tags.

    ``name`` is the detector's registry name (as in ``plugin.toml``). A new instance is
    untrained; ``fit`` trains it and resets its streaming state; ``score`` scores the next rows of
    the stream; ``reset`` forgets the stream (e.g. after a gap in the data) but not the training.
    """

    name: ClassVar[str]
    # Optional class attribute ``param_specs: Mapping[str, ParamSpec]``: every parameter the
    # constructor accepts, with its allowed range; the host checks values against it
    # (`check_detector_params`) before constructing or loading. Without it, no parameters.

    @property
    def tags(self) -> list[str]: ...

    @property
    def threshold(self) -> float:
        """Scores above this are abnormal; learned from training data in ``fit``."""
        ...

    def fit(self, history: np.ndarray, tags: Sequence[str]) -> None:
        """Learn normal from ``history`` (rows = time, columns = ``tags``); raise DetectorError
        if the history cannot support a model (too few rows, NaNs, a column of one value is
        fine: it is handled, not refused)."""
        ...

    def score(self, batch: np.ndarray) -> Scores:
        """Score the next rows of the stream, in order (causal; state carried across calls)."""
        ...

    def reset(self) -> None:
        """Forget streaming state (lag buffers, filters); keep what was learned."""
        ...

    def get_state(self) -> DetectorState: ...

    @classmethod
    def from_state(cls, state: DetectorState) -> Detector:
        """Rebuild a trained detector that scores exactly as the saved one did."""
        ...


@dataclass
class AlarmLatch:
    """Turns a score stream into alarm episodes: one episode, one alarm.

    Raises after ``on_rows`` consecutive rows above the threshold (debounce against single
    spikes), holds for at least ``min_hold_rows`` rows, then clears only after ``off_rows``
    consecutive rows below ``clear_ratio * threshold`` (hysteresis against chattering). Pure
    Python and tiny, so it is exact to reason about and can be reset or replayed.
    """

    threshold: float
    on_rows: int = 3
    off_rows: int = 60
    clear_ratio: float = 0.8
    min_hold_rows: int = 0
    active: bool = False
    _above: int = 0
    _below: int = 0
    _held: int = 0

    def update(self, scores: np.ndarray) -> np.ndarray:
        """Feed scores in order; return the alarm state (bool) after each row."""
        out = np.zeros(len(scores), dtype=bool)
        raise_at, clear_at = self.threshold, self.threshold * self.clear_ratio
        for i, s in enumerate(np.asarray(scores, dtype=float)):
            if not self.active:
                self._above = self._above + 1 if s > raise_at else 0
                if self._above >= self.on_rows:
                    self.active, self._below, self._held = True, 0, 0
            else:
                self._held += 1
                self._below = self._below + 1 if s < clear_at else 0
                if self._below >= self.off_rows and self._held >= self.min_hold_rows:
                    self.active, self._above = False, 0
            out[i] = self.active
        return out

    def reset(self) -> None:
        self.active, self._above, self._below, self._held = False, 0, 0, 0

    @classmethod
    def for_state(cls, state: DetectorState) -> AlarmLatch:
        """A latch with the detector's own settings (params ``on_rows``, ``off_rows``,
        ``clear_ratio``, ``min_hold_rows``; defaults where absent) and its learned threshold."""
        p = state.params
        return cls(
            threshold=float(state.threshold),
            on_rows=int(p.get("on_rows", cls.on_rows)),
            off_rows=int(p.get("off_rows", cls.off_rows)),
            clear_ratio=float(p.get("clear_ratio", cls.clear_ratio)),
            min_hold_rows=int(p.get("min_hold_rows", cls.min_hold_rows)),
        )

    def settings(self) -> dict[str, float | int]:
        return {
            "on_rows": self.on_rows,
            "off_rows": self.off_rows,
            "clear_ratio": self.clear_ratio,
            "min_hold_rows": self.min_hold_rows,
        }


def top_tags(
    contributions: np.ndarray, tags: Sequence[str], k: int = 3, min_share: float = 0.1
) -> list[str]:
    """The tags that explain most of one row's abnormality, largest first.

    Keeps at most ``k`` tags and drops any with less than ``min_share`` of the row's total, so an
    operator reads "vibration_x, vibration_y" rather than a list padded with noise.
    """
    c = np.nan_to_num(np.asarray(contributions, dtype=float), nan=0.0).clip(min=0.0)
    total = float(c.sum())
    if total <= 0.0:
        return []
    order = np.argsort(-c, kind="stable")[:k]
    return [tags[i] for i in order if c[i] / total >= min_share]


def check_history(history: np.ndarray, tags: Sequence[str], min_rows: int) -> np.ndarray:
    """Validate training history once, with messages a person can act on."""
    x = np.asarray(history, dtype=float)
    if x.ndim != 2:
        raise DetectorError(f"history must be 2-D (rows = time, columns = tags), got shape {x.shape}")
    if x.shape[1] != len(tags):
        raise DetectorError(f"history has {x.shape[1]} columns but {len(tags)} tag names were given")
    if x.shape[0] < min_rows:
        raise DetectorError(f"need at least {min_rows} rows of normal history, got {x.shape[0]}")
    bad = ~np.isfinite(x)
    if bad.any():
        col = int(np.argwhere(bad)[0][1])
        raise DetectorError(
            f"history has {int(bad.sum())} missing/non-finite values (first in {tags[col]!r})"
        )
    return x


def check_batch(batch: np.ndarray, n_tags: int) -> np.ndarray:
    x = np.asarray(batch, dtype=float)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[1] != n_tags:
        raise DetectorError(f"batch must have {n_tags} columns, got shape {x.shape}")
    return x


def state_params(state: DetectorState, expected: str) -> Mapping[str, Any]:
    """Guard ``from_state`` against a state written by a different detector."""
    if state.detector != expected:
        raise DetectorError(f"model was trained by detector {state.detector!r}, not {expected!r}")
    return state.params
