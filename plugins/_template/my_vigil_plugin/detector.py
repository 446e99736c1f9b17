"""A minimal detector: per-tag distance from the training mean, in standard deviations.

Replace the maths, keep the shape: ``fit`` learns from history and sets the threshold,
``score`` is causal, the state is arrays + JSON parameters (see ``app.sdk.Detector``).
"""

from __future__ import annotations

import numpy as np

from app.sdk import DetectorState, Scores, check_batch, check_history, state_params


class ZScoreDetector:
    name = "my_zscore"

    def __init__(self, k: float = 5.0):
        self.k = float(k)
        self._tags: list[str] = []
        self._mean = np.zeros(0)
        self._std = np.ones(0)

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    @property
    def threshold(self) -> float:
        return self.k

    def fit(self, history: np.ndarray, tags: list[str]) -> None:
        history = check_history(history, tags, min_rows=10)
        self._tags = list(tags)
        self._mean = history.mean(axis=0)
        std = history.std(axis=0)
        self._std = np.where(std > 0, std, 1.0)  # a constant tag must not divide by zero

    def score(self, batch: np.ndarray) -> Scores:
        batch = check_batch(batch, len(self._tags))
        z = np.abs(batch - self._mean) / self._std
        return Scores(score=z.max(axis=1), contributions=z)

    def reset(self) -> None:
        """No streaming state to forget."""

    def get_state(self) -> DetectorState:
        return DetectorState(
            detector=self.name,
            tags=self.tags,
            threshold=self.k,
            params={"k": self.k},
            arrays={"mean": self._mean, "std": self._std},
        )

    @classmethod
    def from_state(cls, state: DetectorState) -> ZScoreDetector:
        params = state_params(state, cls.name)
        det = cls(k=float(params["k"]))
        det._tags = list(state.tags)
        det._mean = np.asarray(state.arrays["mean"], dtype=float)
        det._std = np.asarray(state.arrays["std"], dtype=float)
        return det
