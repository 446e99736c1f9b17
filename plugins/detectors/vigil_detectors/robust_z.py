"""Robust per-tag z-score: how many (MAD-based) standard deviations each smoothed tag sits from
its training median. The simplest detector that still explains itself perfectly: the tag with
the largest z is the tag that is off."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vigil_detectors.base import FeatureDetector


class RobustZDetector(FeatureDetector):
    """Score = root-mean-square of the per-feature robust z (EWMA-smoothed), so one tag far off or
    several tags a little off both count."""

    name: ClassVar[str] = "robust_z"
    description: ClassVar[str] = "Per-tag robust z-score (median/MAD) of smoothed values"
    defaults: ClassVar[dict[str, Any]] = {
        **FeatureDetector.defaults,
        "alpha": 0.2,
        "use_diff": False,
        "margin": 1.5,
    }

    def _fit_model(self, features: np.ndarray) -> None:
        # the features are already in robust units; re-scale by the smoothed spread so a tag
        # whose EWMA barely moves in training is not drowned by a noisy one
        self._spread = np.maximum(features.std(axis=0), 1e-3)

    def _raw_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z2 = (features / self._spread) ** 2
        return np.sqrt(z2.mean(axis=1)), z2

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {"spread": self._spread}

    def _load_model(self, arrays: dict[str, np.ndarray]) -> None:
        self._spread = np.asarray(arrays["spread"], dtype=float)
