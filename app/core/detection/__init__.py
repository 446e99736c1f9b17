"""Live anomaly detection in the core: the engine, the live monitor (drift guard, severity,
episodes), learn-normal previews, the pickle-free model store and provenance.

Public names: `DetectionEngine`, `DetectorEngine` (wired for the Core facade), `ModelInfo`,
`GroupStatus`, `JournalProvenance`, `Monitor`, `NormalRange`, `severity`, `CandidateReport`,
`save_model`, `load_model`, `ModelError`, `ModelRefused`, `detector_class`, `detector_entries`.
"""

from app.core.detection.candidate import CandidateReport
from app.core.detection.engine import DetectionEngine, DetectorEngine, GroupStatus, ModelInfo
from app.core.detection.monitor import Monitor, NormalRange, severity
from app.core.detection.provenance import JournalProvenance, journaled_model_hashes
from app.core.detection.registry import UnknownDetector, detector_class, detector_entries
from app.core.detection.rows import RowAssembler, rows_from_series
from app.core.detection.store import LoadedModel, ModelError, ModelRefused, load_model, save_model

__all__ = [
    "CandidateReport",
    "DetectionEngine",
    "DetectorEngine",
    "GroupStatus",
    "JournalProvenance",
    "LoadedModel",
    "ModelError",
    "ModelInfo",
    "ModelRefused",
    "Monitor",
    "NormalRange",
    "RowAssembler",
    "UnknownDetector",
    "detector_class",
    "detector_entries",
    "journaled_model_hashes",
    "load_model",
    "rows_from_series",
    "save_model",
    "severity",
]
