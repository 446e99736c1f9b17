"""Helpers for detection tests: synthetic plant-like data, a real journal, an alarm recorder."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from app.core.detection import DetectionEngine, JournalProvenance
from app.core.journal import Journal

TAGS = ["dev.flow", "dev.pressure", "dev.current", "dev.vibration"]
BUILTINS = ["robust_z", "pca_t2q", "isolation_forest"]


def plant_rows(n: int, seed: int = 0, fault_from: int | None = None, fault_tag: int = 3) -> np.ndarray:
    """Correlated, slowly wandering 4-tag data; from ``fault_from`` one tag steps up by 8 sigma."""
    e = np.random.default_rng(seed).standard_normal((n, 5))  # row by row: prefixes are stable
    load = np.zeros(n)
    for i in range(1, n):  # a slow, mean-reverting operating point
        load[i] = 0.9 * load[i - 1] + 0.44 * e[i, 0]
    x = np.column_stack([
        100 + 5 * load + 1.0 * e[:, 1],
        3.0 + 0.1 * load + 0.05 * e[:, 2],
        12 + 0.4 * load + 0.2 * e[:, 3],
        0.2 + 0.01 * e[:, 4],
    ])
    if fault_from is not None:
        x[fault_from:, fault_tag] += 8 * 0.01 if fault_tag == 3 else 8 * x[:200, fault_tag].std()
    return x


@dataclass
class AlarmRecorder:
    """Stands in for ``AlarmEngine.set_anomaly``: keeps every call, in order."""

    calls: list[dict] = field(default_factory=list)

    def __call__(self, source_id: str, active: bool, *, tag_or_device: str, explanation: str,
                 priority: str = "medium") -> None:
        self.calls.append({"source": source_id, "active": active, "target": tag_or_device,
                           "explanation": explanation, "priority": priority})


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(tmp_path / "journal")
    yield j
    j.close()


@pytest.fixture
def engine(tmp_path: Path, journal: Journal) -> Iterator[tuple[DetectionEngine, AlarmRecorder]]:
    rec = AlarmRecorder()
    eng = DetectionEngine(on_anomaly=rec, provenance=JournalProvenance(journal),
                          models_dir=tmp_path / "models", batch_rows=5)
    yield eng, rec
    eng.close()
