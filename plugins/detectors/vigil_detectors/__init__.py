"""Vigil's built-in anomaly detectors, written against ``app.sdk`` exactly as a third-party
plugin would be. Registered in ``../plugin.toml``."""

from vigil_detectors.iforest import IsolationForestDetector
from vigil_detectors.pca import PcaT2QDetector
from vigil_detectors.robust_z import RobustZDetector

__all__ = ["IsolationForestDetector", "PcaT2QDetector", "RobustZDetector"]
