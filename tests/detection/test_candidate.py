"""Learn normal, checked before enabling: coverage warnings and a backtest on recent history,
from a real historian; nothing is saved or journaled by a preview."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from app.core.detection import DetectorEngine
from app.core.historian import Historian
from app.core.journal import Journal
from app.core.model import Quality, Sample

from .conftest import TAGS, AlarmRecorder, plant_rows

T0 = 1_700_000_000.0


class Alarms:
    def __init__(self) -> None:
        self.set_anomaly = AlarmRecorder()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[DetectorEngine, Historian]]:
    journal = Journal.open(tmp_path / "journal")
    historian = Historian(tmp_path / "historian.sqlite", retention_days=0)
    historian.start()
    engine = DetectorEngine(journal=journal, alarms=Alarms(), historian=historian,
                            models_dir=tmp_path / "models")
    yield engine, historian
    engine.close()
    historian.close()
    journal.close()


def record(historian: Historian, rows: np.ndarray) -> None:
    for i, row in enumerate(rows):
        t = T0 + i
        batch = [Sample(tag, float(v), Quality.GOOD, t) for tag, v in zip(TAGS, row, strict=True)]
        batch.append(Sample("dev.setpoint", 5.0, Quality.GOOD, t))  # a tag that never moves
        historian.on_samples(batch)
    historian.flush()


def test_a_short_window_is_flagged_and_constant_tags_are_named(rig) -> None:
    engine, historian = rig
    record(historian, plant_rows(2400, seed=1))
    report = engine.preview_normal("dev", T0, T0 + 299, now=T0 + 2399)
    assert report.rows == 300 and report.tags == sorted(TAGS)
    assert any(w.startswith("too short: 300 rows over 5.0 min") for w in report.warnings)
    assert report.left_out == ["dev.setpoint"]
    assert any("never moved" in w and "setpoint" in w for w in report.warnings)
    assert report.backtest is not None and report.backtest.rows == 2100
    assert list((Path(engine.models_dir)).glob("*.npz")) == []  # a preview saves nothing


def test_a_window_missing_an_operating_state_is_flagged_and_the_backtest_counts_alarms(rig) -> None:
    engine, historian = rig
    data = plant_rows(3000, seed=2)
    data[1500:, 3] += 0.1  # the plant later runs in a second, rougher state
    record(historian, data)
    narrow = engine.preview_normal("dev", T0, T0 + 1199, now=T0 + 2999)
    [states] = [w for w in narrow.warnings if w.startswith("too few operating states")]
    assert "vibration" in states
    assert narrow.backtest is not None and narrow.backtest.episodes >= 1
    assert "would have raised" in narrow.backtest.summary()

    wide = engine.preview_normal("dev", T0 + 900, T0 + 2399, now=T0 + 2999)
    assert not [w for w in wide.warnings if w.startswith(("too short", "too few"))]
