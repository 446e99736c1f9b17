"""Trend axes (issue 14): fixed engineering ranges, limit lines, one axis per unit that has pens,
axes coloured by their pens, and history for a pen added to a live trend.

The points come from the real demo profiles (device_profiles/), the history from a real
historian file written through the real writer.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
import pytest

from app.core.historian import Historian
from app.core.model import Quality, Sample
from app.core.profiles import Point, load_profile
from app.ui.tasks import TaskRunner
from app.ui.trend import TrendWidget

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def points() -> dict[str, Point]:
    out = {}
    for device, profile in (("tank", "demo_tank"), ("pump", "demo_pump"), ("vitals", "demo_vitals")):
        for p in load_profile(ROOT / "device_profiles" / f"{profile}.toml").points:
            out[f"{device}.{p.name}"] = p
    return out


def _trend(qtbot, points: dict[str, Point], **kw) -> TrendWidget:
    trend = TrendWidget(
        units=lambda tag: points[tag].unit if tag in points else "",
        points=points.get,
        **kw,
    )
    qtbot.addWidget(trend)
    trend.resize(900, 420)
    trend.show()
    return trend


def _y_range(trend: TrendWidget, unit: str) -> tuple[float, float]:
    (_x, (y0, y1)) = trend._axes[unit].vb.viewRange()
    return float(y0), float(y1)


def _axes_in_plot(trend: TrendWidget) -> list[pg.AxisItem]:
    """The vertical axes laid out in the plot and visible (pyqtgraph's own hidden right axis is
    not counted)."""
    layout = trend.item.layout
    out = []
    for i in range(layout.count()):
        item = layout.itemAt(i)
        if isinstance(item, pg.AxisItem) and item.orientation in ("left", "right") and item.isVisible():
            out.append(item)
    return out


def test_a_calm_tank_is_drawn_on_its_engineering_range_not_autoscaled_onto_noise(qtbot, points):
    trend = _trend(qtbot, points)
    pen = trend.add_pen("tank.level")
    now = time.time()
    t = np.linspace(now - 100, now, 1000)
    pen.live.extend(t, 49.85 + 0.15 * np.abs(np.sin(t)))  # the noise the issue saw autoscaled
    trend.draw_frame(force=True)
    qtbot.wait(50)
    y0, y1 = _y_range(trend, "%")
    assert y0 <= 0.0 and y1 >= 100.0 and y1 - y0 < 110  # 0-100 % and a small margin, fixed
    assert "auto" not in trend._axes["%"].axis.labelText
    trend.add_pen("pump.accel1_rms")  # 0-0.5 g: ticks in g, not scaled to "500"
    qtbot.wait(50)
    assert trend._axes["g"].axis.autoSIPrefixScale == 1.0
    # pausing, zooming onto the noise and going live again brings the fixed range back
    trend.set_paused(True)
    trend.item.vb.setYRange(49.8, 50.1, padding=0)
    trend.set_paused(False)
    y0, y1 = _y_range(trend, "%")
    assert y0 <= 0.0 and y1 >= 100.0


def test_an_axis_with_no_range_to_go_on_autoscales_and_says_so(qtbot, points):
    trend = _trend(qtbot, points)
    trend.add_pen("tank.total_inflow")  # no range, no limits in the profile
    ax = trend._axes["m³"]
    assert ax.span is None
    assert "(auto)" in ax.axis.labelText
    assert ax.vb.autoRangeEnabled()[1]


def test_each_pen_draws_its_alarm_limits_as_labelled_lines_on_its_own_axis(qtbot, points):
    trend = _trend(qtbot, points)
    level = trend.add_pen("tank.level")
    flow = trend.add_pen("pump.flow")
    assert [(ln.value(), ln.label.format) for ln in level.limit_lines] == [
        (5.0, "LOLO 5"),
        (10.0, "LO 10"),
        (85.0, "HI 85"),
        (95.0, "HIHI 95"),
    ]
    for line in level.limit_lines:
        assert line.getViewBox() is trend._axes["%"].vb
        assert line.pen.color().name() == pg.mkColor(level.color).name()
    assert [ln.value() for ln in flow.limit_lines] == [100.0, 110.0]
    assert all(ln.getViewBox() is trend._axes["l/min"].vb for ln in flow.limit_lines)
    trend.remove_pen("tank.level")
    assert all(ln.getViewBox() is None for ln in level.limit_lines)  # gone with their pen


def test_pen_changes_leave_one_axis_per_unit_with_pens_and_the_plot_keeps_its_width(qtbot, points):
    trend = _trend(qtbot, points)
    first = ["tank.level", "pump.flow", "pump.current", "pump.temperature"]  # %, l/min, A, °C
    for tag in first:
        trend.add_pen(tag)
    qtbot.wait(50)
    width_before = trend.item.vb.width()
    assert len(_axes_in_plot(trend)) == 4
    changes = [
        (["pump.flow", "pump.current"], ["pump.voltage", "vitals.hr"]),
        (["tank.level", "pump.voltage"], ["pump.pressure", "vitals.spo2"]),
        (["pump.temperature", "vitals.hr", "pump.pressure"], ["tank.inflow", "pump.accel1_rms"]),
    ]
    for remove, add in changes:
        for tag in remove:
            trend.remove_pen(tag)
        for tag in add:
            trend.add_pen(tag)
    qtbot.wait(50)
    units = {trend.pens[t].unit for t in trend.pens}
    assert set(trend._axes) == units
    assert len(_axes_in_plot(trend)) == len(units) == 3  # %, m³/h, g
    assert trend.item.vb.width() >= 0.9 * width_before  # not squeezed by stale axes
    trend.clear_pens()
    qtbot.wait(50)
    assert trend._axes == {} and len(_axes_in_plot(trend)) <= 1


def test_each_axis_takes_the_colour_of_its_first_pen_and_follows_it(qtbot, points):
    trend = _trend(qtbot, points)
    level = trend.add_pen("tank.level")
    valve = trend.add_pen("tank.valve_position")  # also %
    flow = trend.add_pen("pump.flow")
    assert level.color != valve.color != flow.color
    for unit, pen in (("%", level), ("l/min", flow)):
        axis = trend._axes[unit].axis
        assert axis.textPen().color().name() == pg.mkColor(pen.color).name()
        assert pen.color.lower() in axis.labelStyle.get("color", "").lower() or pen.color in axis.labelText
    trend.remove_pen("tank.level")
    axis = trend._axes["%"].axis
    assert axis.textPen().color().name() == pg.mkColor(valve.color).name()
    again = trend.add_pen("pump.current")
    assert again.color not in {valve.color, flow.color}  # never a colour already on screen


def test_a_pen_added_to_a_live_trend_is_filled_with_its_history(qtbot, points, tmp_path):
    """A running one-minute trend, live frames at 30 fps: a new pen gets its past from the
    historian (off the GUI thread) while the live samples keep coming."""
    now = time.time()
    with Historian(tmp_path / "historian.sqlite") as h:
        for k in range(600):  # ten minutes at 1 Hz, both tags
            t = now - 600 + k
            h.on_samples([Sample("tank.level", 50 + k / 100, Quality.GOOD, t),
                          Sample("pump.flow", 120 + k / 100, Quality.GOOD, t)])
        assert h.flush()
        tasks = TaskRunner()
        trend = _trend(
            qtbot, points,
            history=lambda tags, t0, t1, n: h.query(tags, t0, t1, n),
            run_async=tasks.submit,
        )
        trend.set_span(60.0)
        trend.add_pen("tank.level")
        qtbot.waitUntil(lambda: len(trend.pens["tank.level"].hist_t) > 0, timeout=5000)

        def feed() -> None:
            t = time.time()
            trend.add_samples(
                [Sample("tank.level", 56.0, Quality.GOOD, t), Sample("pump.flow", 126.0, Quality.GOOD, t)]
            )

        feeder = pg.QtCore.QTimer()
        feeder.timeout.connect(feed)
        feeder.start(40)
        qtbot.wait(300)
        flow = trend.add_pen("pump.flow")
        try:
            qtbot.waitUntil(lambda: len(flow.hist_t) > 10, timeout=5000)
        finally:
            feeder.stop()
            tasks.wait()
        t, v = trend.model.compose(flow)
        live_from = flow.live.oldest()
        assert live_from is not None and t[0] < live_from - 30  # the past, not only live seconds
        assert np.all(np.diff(t) >= 0)
        assert np.nanmin(v) >= 120.0 and np.nanmax(v) <= 126.0
