"""The learn-normal dialog (range shown, coverage warning, backtest, role) and the detector
panel's severity and explanation text, against a real detector engine, historian, journal and
alarm engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.core.alarms import AlarmEngine
from app.core.alarms.types import AlarmKind
from app.core.detection import DetectorEngine
from app.core.historian import Historian
from app.core.journal import Journal
from app.core.model import Quality, Sample
from app.ui.detector_panel import DetectorPanel
from app.ui.formatting import format_time
from app.ui.learn_normal_dialog import LearnNormalDialog
from app.ui.tasks import TaskRunner

T0 = 1_700_000_000.0
TAGS = ["dev.flow", "dev.pressure", "dev.current", "dev.vibration"]


def plant_rows(n: int, seed: int = 0) -> np.ndarray:
    e = np.random.default_rng(seed).standard_normal((n, 5))
    load = np.zeros(n)
    for i in range(1, n):
        load[i] = 0.9 * load[i - 1] + 0.44 * e[i, 0]
    return np.column_stack([100 + 5 * load + e[:, 1], 3.0 + 0.1 * load + 0.05 * e[:, 2],
                            12 + 0.4 * load + 0.2 * e[:, 3], 0.2 + 0.01 * e[:, 4]])


def polls(rows: np.ndarray, t_start: float) -> list[list[Sample]]:
    return [[Sample(tag, float(v), Quality.GOOD, t_start + i) for tag, v in zip(TAGS, row, strict=True)]
            for i, row in enumerate(rows)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[DetectorEngine, Historian, AlarmEngine]]:
    journal = Journal.open(tmp_path / "journal")
    historian = Historian(tmp_path / "historian.sqlite", retention_days=0)
    historian.start()
    alarms = AlarmEngine(journal, state_path=tmp_path / "alarms.sqlite")
    engine = DetectorEngine(journal=journal, alarms=alarms, historian=historian,
                            models_dir=tmp_path / "models", units={"dev.vibration": "g"})
    for poll in polls(plant_rows(2400, seed=1), T0):
        historian.on_samples(poll)
    historian.flush()
    yield engine, historian, alarms
    engine.close()
    historian.close()
    journal.close()


def dialog(qtbot: Any, engine: DetectorEngine, selected: tuple[float, float] | None,
           can_enable: bool = True) -> LearnNormalDialog:
    runner = TaskRunner()
    dlg = LearnNormalDialog(
        "dev",
        preview=lambda t0, t1: engine.preview_normal("dev", t0, t1, now=T0 + 2399),
        enable=lambda t0, t1: engine.learn_normal("dev", t0, t1, actor="eng"),
        run_async=runner.submit, now=lambda: T0 + 2399, selected=selected,
        can_enable=can_enable, refusal="needs the engineer role (you are an operator)")
    dlg._runner = runner  # type: ignore[attr-defined]  # keep it alive with the dialog
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_a_short_window_shows_its_range_and_a_clear_warning_then_enables(qtbot, rig) -> None:
    engine, _, _ = rig
    dlg = dialog(qtbot, engine, selected=(T0 + 100, T0 + 399))
    assert dlg.range_label.text() == (f"{format_time(T0 + 100)} – {format_time(T0 + 399)[11:]} "
                                      "(5 min)")
    qtbot.waitUntil(lambda: dlg.report is not None, timeout=20000)
    assert dlg.warning.isVisible() and dlg.warning.text().startswith("Warning:\n• ")
    assert "too short: 300 rows over 5.0 min" in dlg.warning.text()
    assert dlg.backtest.text().startswith("Backtest: the candidate model on the last ")
    assert dlg.enable_btn.text() == "Enable anyway" and dlg.enable_btn.isEnabled()
    assert engine.groups() == []  # nothing changes before Enable
    learned: list[Any] = []
    dlg.learned.connect(learned.append)
    qtbot.mouseClick(dlg.enable_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(learned), timeout=20000)
    assert learned[0].training == {"rows": 300, "t0": T0 + 100, "t1": T0 + 399}
    assert [g.group for g in engine.groups()] == ["dev"]


def test_a_recent_window_is_offered_and_a_good_one_has_no_warning(qtbot, rig) -> None:
    engine, _, _ = rig
    dlg = dialog(qtbot, engine, selected=None)
    assert dlg.choice.currentText() == "Last 10 minutes"
    dlg.choice.setCurrentText("Last 30 minutes")
    assert dlg.window_range == (T0 + 2399 - 1800, T0 + 2399)
    assert dlg.range_label.text().endswith("(30 min)")
    qtbot.waitUntil(lambda: dlg.report is not None, timeout=20000)
    assert not dlg.warning.isVisible() and dlg.enable_btn.text() == "Enable model"
    assert "would have raised no alarm" in dlg.backtest.text()


def test_without_the_engineer_role_the_check_runs_but_enable_stays_off(qtbot, rig) -> None:
    engine, _, _ = rig
    dlg = dialog(qtbot, engine, selected=None, can_enable=False)
    qtbot.waitUntil(lambda: dlg.report is not None, timeout=20000)
    assert not dlg.enable_btn.isEnabled()
    assert "engineer role" in dlg.status.text() and "engineer role" in dlg.enable_btn.toolTip()


def test_panel_alarm_row_and_last_anomaly_quote_one_severity_with_range_and_direction(qtbot, rig) -> None:
    engine, _, alarms = rig
    engine.learn_normal("dev", T0, T0 + 1199, actor="eng")
    live = plant_rows(700, seed=2)
    live[300:, 3] += 0.12  # vibration far too high from row 300
    for poll in polls(live, T0 + 2400):
        engine.on_samples(poll)
    engine.flush()
    [status] = engine.groups()
    [alarm] = [a for a in alarms.alarms() if a.kind == AlarmKind.ANOMALY]
    panel = DetectorPanel(status=engine.groups)
    qtbot.addWidget(panel)
    panel.refresh()
    _, bar, value, why = panel.rows["dev"]
    peak = f"severity {status.peak_severity:.0f}"
    assert value.text() == f"severity {status.severity:.0f} (alarm at 50)"
    assert 50 < bar.score <= 100
    assert peak in alarm.explanation and peak in why.text()  # the same figure in both
    # "vibration 0.3 g, normal 0.18–0.22 g, high": value, range and direction, in units
    expl = alarm.explanation.split(": ", 1)[1].split(";")[0]
    name, rest = expl.split(" ", 1)
    assert name == "vibration" and rest.endswith(", high")
    value_g = float(rest.split(" g,")[0])
    lo, hi = (float(v) for v in rest.split("normal ")[1].split(" g")[0].split("–"))
    assert lo < 0.2 < hi < value_g


def test_the_alarm_list_value_cell_quotes_the_same_severity(rig) -> None:
    from app.ui import alarm_fields as af

    engine, _, alarms = rig
    engine.learn_normal("dev", T0, T0 + 1199, actor="eng")
    live = plant_rows(400, seed=3)
    live[100:, 3] += 0.12
    for poll in polls(live, T0 + 2400):
        engine.on_samples(poll)
    engine.flush()
    [alarm] = [a for a in alarms.alarms() if a.kind == AlarmKind.ANOMALY]
    [status] = engine.groups()
    assert af.readable_value(alarm) == f"severity {status.peak_severity:.0f}"
