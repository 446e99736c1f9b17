"""Journal viewer, alarm shelving and history, role refusals, learn-normal, layout persistence
and the screenshot entry point, on the real demo plant."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from app.core.journal import read_events
from app.station import LocalStation
from app.ui import alarm_fields as af
from app.ui.main_window import MainWindow
from app.ui.palette import DARK
from tests.ui.conftest import OPERATOR, start_core, wait_for_good


def overflow(core: Any) -> None:
    core.write_setpoint("tank", "valve_setpoint", 100.0)
    core.write_setpoint("tank", "pump_run", False)
    core.simulator.simulator.speed = 20.0


def test_journal_viewer_verifies_filters_and_exports_a_signed_head(qtbot, window, core, tmp_path):
    window.docks["journal"].show()
    window.docks["journal"].raise_()
    view = window.journal
    core.journal.flush(timeout=5.0)
    view.refresh()
    qtbot.waitUntil(lambda: len(view.rows) > 0, timeout=5000)
    assert any(r["kind"] == "config.load" for r in view.rows)

    view.kind.setCurrentText("user")  # filter by kind prefix: only user.* events remain
    qtbot.waitUntil(lambda: view.rows and all(r["kind"].startswith("user.") for r in view.rows), timeout=5000)

    with qtbot.waitSignal(view.verified, timeout=15000) as sig:
        qtbot.mouseClick(view.verify_btn, Qt.MouseButton.LeftButton)
    ok, message = sig.args
    assert ok, message
    assert view.state.text().startswith("Verified: intact")

    out = tmp_path / "heads.jsonl"
    view.export_to(str(out))
    qtbot.waitUntil(lambda: "appended to" in view.state.text(), timeout=5000)
    head = json.loads(out.read_text().splitlines()[-1])
    assert head["signature"] and head["size"] > 0


def test_shelve_needs_a_reason_and_is_recorded_with_expiry(qtbot, window, core):
    from app.ui.alarm_panel import ShelveDialog

    dlg = ShelveDialog("tank.level:HIHI")
    qtbot.addWidget(dlg)
    ok = dlg.buttons.button(dlg.buttons.StandardButton.Ok)
    assert not ok.isEnabled()  # no reason, no shelving
    qtbot.keyClicks(dlg.reason, "level transmitter under maintenance")
    assert ok.isEnabled()
    until = dlg.until_ts()
    assert 3500 < until - time.time() < 3700  # default: one hour

    wait_for_good(qtbot, window, "tank.level")
    overflow(core)
    qtbot.waitUntil(lambda: "tank.level:HIHI" in window.alarm_model.visible_ids(), timeout=15000)
    window.shelve("tank.level:HIHI", dlg.reason.text(), until)
    qtbot.waitUntil(lambda: "tank.level:HIHI" not in window.alarm_model.visible_ids(), timeout=5000)
    window.alarm_panel.show_box.setCurrentIndex(1)  # shelved / suppressed
    assert "tank.level:HIHI" in window.alarm_model.visible_ids()
    v = window.alarm_model.by_id("tank.level:HIHI")
    assert af.is_shelved(v) and v.shelved_by == OPERATOR[0]
    assert abs(v.shelved_until - until) < 1.0

    # the alarm history search finds the shelve action, attributed
    hist = window.alarm_panel.history
    hist.tag.setText("tank.level")
    qtbot.mouseClick(hist.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: hist.table.rowCount() > 0 and "event" in hist.result.text(), timeout=5000)
    events = [hist.table.item(r, 3).text() for r in range(hist.table.rowCount())]
    actors = [hist.table.item(r, 6).text() for r in range(hist.table.rowCount())]
    assert "shelve" in events and OPERATOR[0] in actors


def test_learn_normal_from_a_range_selected_on_the_trend(qtbot, tmp_path):
    # 10 Hz polling, so the 30 rows a detector needs take 3 s, not 15
    core = start_core(tmp_path / "data", demo_interval_ms=100)
    window = MainWindow(LocalStation(core))
    qtbot.addWidget(window)
    window.show()
    try:
        _learn_normal(qtbot, window, core)
    finally:
        window.close()
        core.stop()


def _learn_normal(qtbot: Any, window: Any, core: Any) -> None:
    from app.core.users import Role
    from tests.ui.test_accounts import ENGINEER, login_as

    # training a model needs the engineer role: the operator's button is greyed out
    assert not window.detectors.learn_btn.isEnabled()
    admin = core.users.authenticate("admin", "admin-password-1")
    core.users.add(admin, ENGINEER[0], ENGINEER[1], Role.ENGINEER)
    login_as(qtbot, window, *ENGINEER)
    assert window.detectors.learn_btn.isEnabled()
    wait_for_good(qtbot, window, "tank.level")
    t_start = time.time()
    qtbot.wait(4500)
    core.historian.flush(timeout=5.0)
    window.trend.set_span(60.0)
    window.act_select.setChecked(True)
    window.trend.region.setRegion((t_start, time.time() - 0.2))
    panel = window.detectors
    panel.group.setCurrentText("tank")
    qtbot.mouseClick(panel.learn_btn, Qt.MouseButton.LeftButton)
    dlg = panel.dialog  # learn normal asks first: window, coverage checks, backtest
    qtbot.waitUntil(lambda: dlg.enable_btn.isEnabled(), timeout=30000)
    qtbot.mouseClick(dlg.enable_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: "learned normal" in panel.message.text() or "failed" in panel.message.text(), timeout=30000
    )
    assert "learned normal for 'tank'" in panel.message.text(), panel.message.text()
    qtbot.waitUntil(lambda: "tank" in panel.rows, timeout=5000)
    core.journal.flush(timeout=5.0)
    trained = read_events(core.data_dir / "journal", kind="model.trained")
    assert trained and trained[-1].actor == ENGINEER[0]
    # the panel states the engine's own severity (0-100, alarm at 50)
    # the first score arrives with the next batch of polled rows
    def scored() -> None:
        panel.refresh()
        assert panel.rows["tank"][2].text().startswith("severity ")

    qtbot.waitUntil(scored, timeout=8000)
    value = panel.rows["tank"][2].text()
    assert value.endswith("(alarm at 50)"), value


def test_layout_palette_and_trend_setup_persist_across_restarts(qtbot, core, tmp_path):
    settings = tmp_path / "ui-settings.json"
    win = MainWindow(LocalStation(core), settings_path=settings)
    qtbot.addWidget(win)
    win.show()
    win.docks["detectors"].hide()
    win.apply_scheme(DARK)
    win.trend.clear_pens()
    win.trend.add_pen("tank.level")
    win.trend.add_pen("pump.flow")
    win.trend.set_span(600.0)
    win.close()
    assert settings.exists()

    again = MainWindow(LocalStation(core), settings_path=settings)
    qtbot.addWidget(again)
    again.show()
    assert not again.docks["detectors"].isVisible()
    assert again.docks["tags"].isVisible()
    assert again.scheme.name == "dark"
    assert list(again.trend.pens) == ["tank.level", "pump.flow"]
    assert again.trend.span_s == 600.0
    again.close()


def test_an_unreadable_settings_file_is_set_aside_with_a_message(qtbot, core, tmp_path):
    settings = tmp_path / "ui-settings.json"
    settings.write_text("{ this is not json", encoding="utf-8")
    win = MainWindow(LocalStation(core), settings_path=settings)
    qtbot.addWidget(win)
    win.show()
    assert any("unreadable UI settings" in m and str(settings) in m for m in win.messages)
    assert (tmp_path / "ui-settings.json.unreadable").exists()
    assert win.scheme.name == "light" and win.trend.pens  # defaults
    win.close()
    json.loads(settings.read_text(encoding="utf-8"))  # a good file was written on close


def test_run_gui_saves_a_screenshot_and_exits(core, tmp_path):
    from PySide6.QtGui import QImage

    from app.ui.app import run_gui

    out = tmp_path / "shot.png"
    assert run_gui(LocalStation(core), screenshot=str(out), after_s=1.0) == 0
    img = QImage(str(out))
    assert not img.isNull() and img.width() >= 800


def test_plot_selfcheck_renders():
    from app.ui.selfcheck import plot_selfcheck

    assert plot_selfcheck() is None


def test_trend_setup_files_round_trip_and_garbage_is_refused(qtbot, tmp_path: Path):
    from app.ui.trend import TrendWidget

    t = TrendWidget(units=lambda tag: "%")
    qtbot.addWidget(t)
    t.add_pen("a.x")
    t.add_pen("b.y")
    t.set_span(3600.0)
    path = tmp_path / "setup.json"
    t.save_setup(path)
    other = TrendWidget(units=lambda tag: "%")
    qtbot.addWidget(other)
    missing = other.load_setup(path, known_tags=["a.x"])
    assert missing == ["b.y"] and list(other.pens) == ["a.x"] and other.span_s == 3600.0
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2", encoding="utf-8")
    try:
        other.load_setup(bad)
    except ValueError as e:
        assert str(bad) in str(e) and "not a trend setup" in str(e)
    else:
        raise AssertionError("a broken setup file was accepted")
    assert list(other.pens) == ["a.x"]  # nothing lost
