"""The `Detector` contract and its helpers, for plugin authors (defined in `app.core.ports`)."""

from app.core.ports.detector import (
    DETECTOR_API_VERSION,
    AlarmLatch,
    Detector,
    DetectorError,
    DetectorState,
    ParamSpec,
    Scores,
    check_batch,
    check_detector_params,
    check_history,
    check_params,
    state_params,
    top_tags,
)

__all__ = [
    "DETECTOR_API_VERSION",
    "AlarmLatch",
    "Detector",
    "DetectorError",
    "DetectorState",
    "ParamSpec",
    "Scores",
    "check_batch",
    "check_detector_params",
    "check_history",
    "check_params",
    "state_params",
    "top_tags",
]
