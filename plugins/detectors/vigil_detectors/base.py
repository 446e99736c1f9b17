"""What the built-in detectors share: parameters, the causal feature pipeline, the learned
threshold and the plain-array state. Each concrete detector only says how it models features."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from app.sdk.detector import (
    DetectorError,
    DetectorState,
    Scores,
    check_batch,
    check_history,
    state_params,
)
from vigil_detectors.features import CausalFeatures
from vigil_detectors.params import FRACTION, Param, check_params


class FeatureDetector:
    """Base for detectors that score the causal features of `CausalFeatures`.

    The threshold is ``margin * quantile(training scores, threshold_quantile)``: learned from the
    training window, with a margin because in-sample scores are always a little optimistic.
    """

    name: ClassVar[str] = ""
    #: one set of settings for every plant, chosen on the SKAB benchmark (tests/benchmarks/skab.py)
    defaults: ClassVar[dict[str, Any]] = {
        "alpha": 0.1,  # EWMA weight of the newest row (~10-row memory)
        "use_diff": True,  # add each tag's restlessness (EWMA of |first difference|)
        # tags this smooth in training drift: judge them against a slow baseline (see features)
        "slow_autocorr": 0.75,
        "slow_alpha": 0.05,
        "threshold_quantile": 0.99,
        "margin": 1.5,
        "min_rows": 30,
        # alarm latch (see app.sdk.detector.AlarmLatch): raise after on_rows rows above the
        # threshold, clear after off_rows rows below clear_ratio * threshold
        "on_rows": 6,
        "off_rows": 30,
        "clear_ratio": 0.8,
        "min_hold_rows": 0,
    }

    #: the allowed values of every parameter in ``defaults`` (subclasses add theirs)
    param_specs: ClassVar[dict[str, Param]] = {
        "alpha": FRACTION,
        "use_diff": Param(bool),
        "slow_autocorr": Param(float, 0.0, 1.0),
        "slow_alpha": FRACTION,
        "threshold_quantile": FRACTION,
        "margin": Param(float, 0.0, lo_open=True),
        "min_rows": Param(int, 2),
        "on_rows": Param(int, 1),
        "off_rows": Param(int, 1),
        "clear_ratio": FRACTION,
        "min_hold_rows": Param(int, 0),
    }

    def __init__(self, **params: Any):
        check_params(self.name, params, self.param_specs)
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._tags: list[str] = []
        self._threshold = float("nan")
        self._features: CausalFeatures | None = None

    # --- the Detector protocol -------------------------------------------------------------
    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    @property
    def threshold(self) -> float:
        return self._threshold

    def fit(self, history: np.ndarray, tags: Sequence[str]) -> None:
        x = check_history(history, tags, int(self.params["min_rows"]))
        self._tags = list(tags)
        self._features = CausalFeatures.fit(x, self.params)
        train = self._features.transform(x)
        self._fit_model(train)
        self._features.reset()
        raw, _ = self._raw_scores(train)
        self._threshold = self._threshold_from(raw)

    def score(self, batch: np.ndarray) -> Scores:
        if self._features is None:
            raise DetectorError(f"{self.name}: not trained yet (call fit or load a model)")
        x = check_batch(batch, len(self._tags))
        f = self._features.transform(x)
        raw, contrib = self._raw_scores(f)
        return Scores(score=raw, contributions=self._features.per_tag(contrib))

    def reset(self) -> None:
        if self._features is not None:
            self._features.reset()

    def get_state(self) -> DetectorState:
        if self._features is None:
            raise DetectorError(f"{self.name}: nothing to save, the detector is not trained")
        arrays = {**self._features.arrays(), **self._model_arrays()}
        return DetectorState(detector=self.name, tags=list(self._tags), threshold=self._threshold,
                             params=dict(self.params), arrays=arrays)

    @classmethod
    def from_state(cls, state: DetectorState) -> FeatureDetector:
        params = dict(state_params(state, cls.name))
        det = cls(**params)
        det._tags = list(state.tags)
        det._threshold = float(state.threshold)
        det._features = CausalFeatures.from_arrays(state.arrays, params)
        det._load_model(state.arrays)
        return det

    # --- what a concrete detector provides -------------------------------------------------
    def _threshold_from(self, train_scores: np.ndarray) -> float:
        """Scale-free scores (ratios to a limit) use ``margin * quantile``."""
        q = float(np.quantile(train_scores, float(self.params["threshold_quantile"])))
        return float(self.params["margin"]) * max(q, 1e-9)

    def _fit_model(self, features: np.ndarray) -> None:
        raise NotImplementedError

    def _raw_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score per row, non-negative contribution per feature column)."""
        raise NotImplementedError

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _load_model(self, arrays: dict[str, np.ndarray]) -> None:
        return None
