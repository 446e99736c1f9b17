"""Process displays on screen, on the real demo plant: binding and updates, bad quality on
every symbol, navigation (goto, back, home, breadcrumb), faceplates with the setpoint button,
an invalid display shown as its problems, a plugin's display, and repaint only on change."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QImage, QPainter

from app.core.displays import OVERVIEW, DisplayCatalogue
from app.core.model import Quality
from app.sim.faults import parse_fault
from app.ui.displays.symbols import SymbolItem
from app.ui.displays.view import DisplayView
from app.ui.palette import LIGHT

TANK = "demo_tank?device=tank"


def item(view: DisplayView, ident: str) -> SymbolItem:
    assert view.scene is not None
    return next(i for i in view.scene.symbols if i.binding.id == ident)


def render(it: SymbolItem) -> QImage:
    r = it.boundingRect()
    img = QImage(int(r.width()) + 1, int(r.height()) + 1, QImage.Format.Format_ARGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.translate(-r.x(), -r.y())
    it.paint(p, None, None)  # type: ignore[arg-type]
    p.end()
    return img


def has_colour(img: QImage, colour: str, tolerance: int = 12) -> bool:
    c = QColor(colour)
    for y in range(0, img.height(), 2):
        for x in range(0, img.width(), 2):
            px = img.pixelColor(x, y)
            if abs(px.red() - c.red()) + abs(px.green() - c.green()) + abs(px.blue() - c.blue()) <= tolerance:
                return True
    return False


def click(qtbot: Any, view: DisplayView, it: SymbolItem, at: QPointF | None = None) -> None:
    r = it.sceneBoundingRect()
    centre = view.canvas.mapFromScene(r.topLeft() + at if at is not None else r.center())
    qtbot.mouseClick(view.canvas.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(centre.x(), centre.y()))


def kill(core: Any, device: str) -> None:
    def _kill(sim: Any) -> None:
        m = sim.model
        m.faults = (*m.faults, parse_fault(f"dead:{device}@{m.t}"))

    core.simulator.call(_kill)


def test_overview_is_the_first_view_and_a_tank_display_binds_and_updates(
    qtbot: Any, window: Any, core: Any
) -> None:
    view = window.displays
    assert view.display is not None and view.display.name == OVERVIEW
    assert window.central_tabs.currentWidget() is view
    window.show_display("tank")  # what vigil run --display tank does
    assert view.display.name == "demo_tank" and view.display.title == "Tank unit tank"
    pump = item(view, "outlet_pump")
    level = item(view, "tank_vessel")
    qtbot.waitUntil(lambda: pump.look()[0] == "running" and level.look()[1] is Quality.GOOD, timeout=8000)
    before = level.look()[0]
    assert before.endswith("") and before != "—"
    core.write_setpoint("tank", "pump_run", False)
    qtbot.waitUntil(lambda: pump._look is not None and pump._look[0] == "stopped", timeout=8000)
    assert has_colour(render(pump), LIGHT.base)  # a stopped pump is hollow


def test_bad_quality_shows_on_every_symbol_never_as_a_normal_value(
    qtbot: Any, window: Any, core: Any
) -> None:
    view = window.displays
    view.open(TANK)
    level = item(view, "tank_vessel")
    qtbot.waitUntil(lambda: level._look is not None and level._look[1] is Quality.GOOD, timeout=8000)
    kill(core, "tank")
    names = ["tank_vessel", "inlet_valve", "outlet_pump", "inflow_ind", "inflow_value", "level_trend"]
    items = [item(view, n) for n in names]

    def all_bad() -> None:
        for it in items:
            q = it.view().quality
            assert q is not None and q is not Quality.GOOD, it.binding.id
            # drawn from that quality; by identity, since a Quality is an int and a look also
            # holds counts (a sparkline's 2 points would "contain" BAD_COMM)
            assert it._look is not None and any(x is q for x in it._look), it.binding.id

    qtbot.waitUntil(all_bad, timeout=15_000)
    for it in items:
        assert has_colour(render(it), LIGHT.bad_quality, tolerance=40), f"{it.binding.id} not drawn as bad"
    # the overview tile says the communication state in the quality colour
    view.home()
    tile = item(view, "tile_tank")
    qtbot.waitUntil(lambda: tile._look is not None and tile._look[0] != "online", timeout=8000)
    assert has_colour(render(tile), LIGHT.bad_quality, tolerance=40)


def test_navigation_goto_back_home_breadcrumb_and_faceplate(qtbot: Any, window: Any) -> None:
    view = window.displays
    view.home()
    click(qtbot, view, item(view, "tile_tank"), QPointF(60, 20))  # the tile's heading
    assert view.display is not None and view.display.name == "demo_tank"
    assert view.breadcrumb() == ["Overview", "Demo tank"]
    assert view.back_btn.isEnabled()
    click(qtbot, view, item(view, "nav_overview"))  # a vigil:goto
    assert view.display.name == OVERVIEW and view.breadcrumb() == ["Overview"]
    view.open(TANK)
    view.back()
    assert view.display.name == OVERVIEW
    view.open(TANK)
    # Level 3: clicking the valve opens its faceplate, whose setpoint button opens the
    # existing two-step setpoint dialog for the valve command
    click(qtbot, view, item(view, "inlet_valve"))
    assert len(view.faceplates) == 1
    fp = view.faceplates[0]
    assert fp.main_tag == "tank.valve_position" and "tank.valve_setpoint" in fp.setpoint_buttons
    assert fp.spark is not None
    qtbot.waitUntil(
        lambda: (
            "RUNNING" not in fp.diag_label.text() and fp.diag_label.text() != "waiting for the first poll"
        ),
        timeout=5000,
    )
    fp.setpoint_buttons["tank.valve_setpoint"].click()
    assert window._open_setpoints and window._open_setpoints[-1].tag == "tank.valve_setpoint"
    window._open_setpoints[-1].close()
    fp.close()
    # a tile of a device without a display opens the device's faceplate
    view.home()
    view.open_faceplate(device="meter")
    assert view.faceplates[-1].tags and all(t.startswith("meter.") for t in view.faceplates[-1].tags)


def test_an_invalid_display_shows_its_problems_not_a_picture(qtbot: Any, core: Any, tmp_path: Path) -> None:
    from app.station import LocalStation

    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "broken.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="https://vigil-scada.org/display/1">\n'
        '<rect id="lvl" x="0" y="0" width="9" height="9" vigil:symbol="vessel" vigil:tag="tank.nope"/>\n</svg>\n'  # noqa: E501
    )
    station = LocalStation(core)
    view = DisplayView(station, DisplayCatalogue(station.plant, [("acme", folder)]), LIGHT)
    qtbot.addWidget(view)
    d = view.open("broken")
    assert not d.ok and view.scene is None
    assert view.pages.currentIndex() == 1
    texts = [view.problems.item(i).text() for i in range(view.problems.count())]
    assert any("broken.svg:2: #lvl: unknown tag 'tank.nope'" in t for t in texts)
    d2 = view.open("no_such_display")
    assert not d2.ok and "no display named" in view.problems.item(0).text()
    view.stop()


def test_a_plugin_contributes_a_display_that_is_installed_and_shown(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.station import LocalStation
    from app.ui.main_window import MainWindow
    from tests.ui.conftest import start_core

    plugins = tmp_path / "plugins"
    folder = plugins / "acme_display"
    (folder / "displays").mkdir(parents=True)
    (folder / "plugin.toml").write_text(
        textwrap.dedent(
            """\
            [plugin]
            id = "acme.tankview"
            name = "Acme tank view"
            version = "1.0.0"
            api = "1.0"

            [[displays]]
            path = "displays"
            """
        )
    )
    (folder / "displays" / "acme_tank.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="https://vigil-scada.org/display/1" '
        'viewBox="0 0 300 200" vigil:title="Acme tank">\n'
        '<rect id="lvl" x="10" y="10" width="120" height="180" vigil:symbol="vessel" vigil:tag="tank.level"/>\n'  # noqa: E501
        "</svg>\n"
    )
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(plugins))
    from app.cli import main as vigil

    # not built in: its displays are offered only once an administrator approved it
    assert vigil(["plugins", "approve", "acme.tankview", "--data-dir", str(tmp_path / "data")]) == 0
    core = start_core(tmp_path / "data")
    try:
        station = LocalStation(core)
        assert ("acme.tankview", folder / "displays") in station.display_folders()
        win = MainWindow(station)
        qtbot.addWidget(win)
        try:
            src = win.display_catalogue.sources["acme_tank"]
            assert src.origin == "plugin acme.tankview"
            assert any(g == "acme_tank" for g, _ in win.display_catalogue.entries())
            win.show_display("acme_tank")
            assert win.displays.display is not None and win.displays.display.ok
            assert win.displays.display.title == "Acme tank"
            lvl = item(win.displays, "lvl")
            qtbot.waitUntil(lambda: lvl._look is not None and lvl._look[1] is Quality.GOOD, timeout=8000)
        finally:
            win.close()
    finally:
        core.stop()


def test_repaint_only_on_change_and_nothing_for_items_off_screen(qtbot: Any, window: Any) -> None:
    view = window.displays
    view.open(TANK)
    scene = view.scene
    assert scene is not None
    nav = item(view, "nav_overview")
    n = nav.repaints
    scene.mark_all()
    scene.flush()
    assert nav.repaints == n  # a static button never repaints
    level = item(view, "tank_vessel")
    assert level.refresh() is False  # the same look twice: no repaint
    # shrink the view so the right-hand panel is out of sight: its marks wait
    view.canvas.resize(300, 300)
    view.canvas.resetTransform()
    view.canvas.centerOn(QPointF(0, 0))
    far = item(view, "nav_overview")
    assert not view.canvas.visible_scene_rect().intersects(far.sceneBoundingRect())
    far._look = None  # force: its look would change if it were refreshed
    scene.mark_all()
    scene.flush()
    assert far._look is None and far in scene._dirty
    view.canvas.centerOn(far.sceneBoundingRect().center())
    scene.flush()
    assert far._look is not None and far not in scene._dirty


def test_opening_a_patient_display_is_journaled_with_the_user_and_the_bed(qtbot: Any, window: Any) -> None:
    """HIPAA audit controls: who looked at which bed, and when; never the values shown."""
    from app.core.journal import read_events

    core = window.station.core
    view = window.displays
    view.open("demo_vitals?device=vitals")

    def opened() -> list[Any]:
        core.journal.flush(timeout=5)
        return [e for e in read_events(core.data_dir / "journal") if e.kind == "access.display_opened"]

    qtbot.waitUntil(lambda: bool(opened()), timeout=10_000)
    event = opened()[-1]
    assert event.actor == core.session.user
    assert "vitals" in event.body["scope"]
    assert not any(k in event.body for k in ("value", "values", "heart_rate"))
