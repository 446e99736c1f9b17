"""scikit-learn's IsolationForest over the causal features.

A fitted forest is an opaque object that would need pickle to save, so the saved state is the
training feature matrix plus a fixed seed, and loading refits the forest: same data, same seed,
same trees, same scores (checked by the round-trip test)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.ensemble import IsolationForest

from vigil_detectors.base import FeatureDetector


class IsolationForestDetector(FeatureDetector):
    """Score = -score_samples (higher is more isolated). Explanation: each feature's squared
    distance from its training mean in training standard deviations (the forest itself does
    not say which split isolated a row)."""

    name: ClassVar[str] = "isolation_forest"
    defaults: ClassVar[dict[str, Any]] = {
        **FeatureDetector.defaults,
        "n_estimators": 100,
        "max_samples": 256,
        "seed": 0,
        "margin": 1.1,
    }

    def _fit_model(self, features: np.ndarray) -> None:
        self._train = np.array(features, dtype=float)
        self._build()

    def _build(self) -> None:
        self._mean = self._train.mean(axis=0)
        self._std = np.maximum(self._train.std(axis=0), 1e-3)
        self._forest = IsolationForest(
            n_estimators=int(self.params["n_estimators"]),
            max_samples=min(int(self.params["max_samples"]), len(self._train)),
            random_state=int(self.params["seed"]),
            n_jobs=1,
        ).fit(self._train)

    def _raw_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        score = -self._forest.score_samples(features)
        contrib = ((features - self._mean) / self._std) ** 2
        return score, contrib

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"train_features": self._train}

    def _load_model(self, arrays: dict[str, np.ndarray]) -> None:
        self._train = np.asarray(arrays["train_features"], dtype=float)
        self._build()
