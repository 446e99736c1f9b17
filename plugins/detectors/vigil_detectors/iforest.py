"""scikit-learn's IsolationForest over the causal features.

A fitted forest is an opaque object that would need pickle to save, so the saved state is the
training feature matrix plus a fixed seed, and loading refits the forest: same data, same seed,
same trees, same scores (checked by the round-trip test)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import IsolationForest

from vigil_detectors.base import FeatureDetector
from vigil_detectors.params import Param


class IsolationForestDetector(FeatureDetector):
    """Score = -score_samples (higher is more isolated) + ``range_weight`` x how far the row lies
    outside the training range (in training standard deviations).

    Why the second term: a forest draws its split points between the training minimum and
    maximum, so a row far outside the range is isolated no faster than the most extreme training
    row and its score saturates; a plain forest cannot tell "a little high" from "ten times too
    high" (measured: an 8-sigma step in one of four tags scored below normal peaks).
    Explanation: each feature's squared distance from its training mean in training standard
    deviations (the forest itself does not say which split isolated a row)."""

    name: ClassVar[str] = "isolation_forest"
    description: ClassVar[str] = "scikit-learn IsolationForest on smoothed features + out-of-range term"
    defaults: ClassVar[dict[str, Any]] = {
        **FeatureDetector.defaults,
        "n_estimators": 100,
        "max_samples": 256,
        "seed": 0,
        "margin": 6.0,
        "range_weight": 0.1,
        "range_tolerance": 1.0,  # training std beyond the range that still counts as in range
    }
    param_specs: ClassVar[dict[str, Param]] = {
        **FeatureDetector.param_specs,
        "n_estimators": Param(int, 1, 10_000),
        "max_samples": Param(int, 2),
        "seed": Param(int, 0, 2**32 - 1),
        "range_weight": Param(float, 0.0),
        "range_tolerance": Param(float, 0.0),
    }

    def _fit_model(self, features: np.ndarray) -> None:
        self._train = np.array(features, dtype=float)
        self._build()

    def _build(self) -> None:
        self._mean = self._train.mean(axis=0)
        self._std = np.maximum(self._train.std(axis=0), 1e-3)
        self._lo, self._hi = self._train.min(axis=0), self._train.max(axis=0)
        self._forest = IsolationForest(
            n_estimators=int(self.params["n_estimators"]),
            max_samples=min(int(self.params["max_samples"]), len(self._train)),
            random_state=int(self.params["seed"]),
            n_jobs=1,
        ).fit(self._train)

    def _threshold_from(self, train_scores: np.ndarray) -> float:
        """IsolationForest scores live in (0, 1) and saturate, so a multiplicative margin could
        put the threshold out of reach: go ``margin`` times the training spread (quantile minus
        median) above the median instead."""
        med = float(np.median(train_scores))
        q = float(np.quantile(train_scores, float(self.params["threshold_quantile"])))
        return med + float(self.params["margin"]) * max(q - med, 1e-6)

    def _raw_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        beyond = (np.maximum(features - self._hi, 0) + np.maximum(self._lo - features, 0)) / self._std
        outside = np.maximum(beyond - float(self.params["range_tolerance"]), 0.0)
        weight = float(self.params["range_weight"])
        score = -self._forest.score_samples(features) + weight * outside.sum(axis=1)
        contrib = ((features - self._mean) / self._std) ** 2
        return score, contrib

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"train_features": self._train}

    def _load_model(self, arrays: dict[str, np.ndarray]) -> None:
        self._train = np.asarray(arrays["train_features"], dtype=float)
        self._build()
