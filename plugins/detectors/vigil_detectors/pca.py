"""PCA with Hotelling's T-squared and Q (squared prediction error): the classic multivariate
statistical process control detector. T-squared flags unusual combinations *inside* the normal
correlation structure; Q flags rows that break the structure (a pump drawing current without
moving water). Pure numpy (SVD), so the whole model is a handful of arrays."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vigil_detectors.base import FeatureDetector
from vigil_detectors.params import FRACTION, Param


class PcaT2QDetector(FeatureDetector):
    """Score = max(T2 / T2_limit, Q / Q_limit); limits are training quantiles
    (``limit_quantile``), so 1.0 means "as unusual as the worst 1 % of training"."""

    name: ClassVar[str] = "pca_t2q"
    description: ClassVar[str] = "PCA with Hotelling T-squared and Q (SPE) for correlated plant data"
    defaults: ClassVar[dict[str, Any]] = {
        **FeatureDetector.defaults,
        # chosen on SKAB and its anomaly-free recording (tests/benchmarks/skab.py) together with
        # the host's drift guard; in-sample limits from ~400 rows are far too tight for live
        # data, hence the margin
        "margin": 8.0,
        # no slow-tag high-pass: the host's drift guard absorbs slow drift, and a high-pass
        # would also hide a sensor ramping away (a level offset that keeps growing)
        "slow_autocorr": 1.0,
        "alpha": 0.15,
        "off_rows": 20,
        "explained": 0.9,
        "limit_quantile": 0.99,
    }
    param_specs: ClassVar[dict[str, Param]] = {
        **FeatureDetector.param_specs,
        "explained": FRACTION,
        "limit_quantile": FRACTION,
    }

    def _fit_model(self, features: np.ndarray) -> None:
        self._mean = features.mean(axis=0)
        self._std = np.maximum(features.std(axis=0), 1e-3)
        x = (features - self._mean) / self._std
        _, s, vt = np.linalg.svd(x, full_matrices=False)
        var = s**2 / max(len(x) - 1, 1)
        ratio = np.cumsum(var) / max(var.sum(), 1e-12)
        k = int(np.searchsorted(ratio, float(self.params["explained"])) + 1)
        k = max(1, min(k, x.shape[1] - 1)) if x.shape[1] > 1 else 1
        self._loadings = vt[:k].T  # (features, k)
        self._eigen = np.maximum(var[:k], 1e-9)
        self._t2_lim = self._q_lim = 1.0
        t2, q, _, _ = self._t2_q(x)
        lq = float(self.params["limit_quantile"])
        self._t2_lim = max(float(np.quantile(t2, lq)), 1e-9)
        self._q_lim = max(float(np.quantile(q, lq)), 1e-9)

    def _t2_q(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        t = x @ self._loadings
        resid = x - t @ self._loadings.T
        t2 = ((t**2) / self._eigen).sum(axis=1)
        q = (resid**2).sum(axis=1)
        # each feature's share of T2: its part of the whitened scores, projected back
        t2_part = ((t / np.sqrt(self._eigen)) @ self._loadings.T) ** 2
        return t2, q, resid, t2_part

    def _raw_scores(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (features - self._mean) / self._std
        t2, q, resid, t2_part = self._t2_q(x)
        score = np.maximum(t2 / self._t2_lim, q / self._q_lim)
        contrib = resid**2 / self._q_lim + t2_part / self._t2_lim
        return score, contrib

    def _model_arrays(self) -> dict[str, np.ndarray]:
        return {
            "mean": self._mean, "std": self._std, "loadings": self._loadings, "eigen": self._eigen,
            "limits": np.array([self._t2_lim, self._q_lim]),
        }

    def _load_model(self, arrays: dict[str, np.ndarray]) -> None:
        self._mean = np.asarray(arrays["mean"], dtype=float)
        self._std = np.asarray(arrays["std"], dtype=float)
        self._loadings = np.asarray(arrays["loadings"], dtype=float)
        self._eigen = np.asarray(arrays["eigen"], dtype=float)
        self._t2_lim, self._q_lim = (float(v) for v in arrays["limits"])
