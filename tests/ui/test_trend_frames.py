"""A paced live frame of many pens is drawn a few pens per event-loop turn and shown whole."""

from __future__ import annotations

import time

import numpy as np

from app.ui.decimate import minmax_decimate
from app.ui.trend import PENS_PER_TURN, TrendWidget


def _trend_with_pens(qtbot, n: int) -> TrendWidget:
    trend = TrendWidget(units=lambda tag: "%")
    qtbot.addWidget(trend)
    trend.resize(800, 400)
    trend.show()
    trend._timer.stop()  # the test drives the frames itself
    now = time.time()
    t = np.linspace(now - 600.0, now - 0.1, 6000)
    for i in range(n):
        trend.add_pen(f"dev.p{i}").live.extend(t, np.sin(t / (30 + i)) + i)
    trend.set_span(600.0)
    return trend


def test_a_paced_frame_draws_a_few_pens_per_turn_and_shows_them_together(qtbot):
    n = 3 * PENS_PER_TURN + 2
    trend = _trend_with_pens(qtbot, n)
    now = time.time()
    for pen in trend.pens.values():  # every pen has news
        pen.live.append(now, 42.0)
    trend._last_frame = 0.0
    before = trend.frames
    trend.draw_frame()
    drawn = [p for p in trend.pens.values() if p.drawn_version == p.live.version]
    assert len(drawn) == PENS_PER_TURN  # the rest wait for later turns
    assert not trend.plot.updatesEnabled()  # nothing half-drawn reaches the screen
    assert trend.frames == before
    trend.draw_frame()  # a timer tick during the frame does not start another one
    assert len([p for p in trend.pens.values() if p.drawn_version == p.live.version]) == PENS_PER_TURN
    qtbot.waitUntil(lambda: trend.frames == before + 1, timeout=2000)
    assert trend.plot.updatesEnabled()
    window, buckets, _ = trend._frame_window
    for pen in trend.pens.values():
        assert pen.drawn_version == pen.live.version
        xs, ys = pen.curve.getData()
        want_t, want_v = minmax_decimate(*pen.live.arrays(), window[0], window[1], buckets)
        assert np.array_equal(xs, want_t) and np.array_equal(ys, want_v)
        assert ys[-1] == 42.0  # the newest value is on screen


def test_a_pen_removed_mid_frame_is_not_drawn_and_the_frame_completes(qtbot):
    trend = _trend_with_pens(qtbot, 2 * PENS_PER_TURN + 1)
    for pen in trend.pens.values():
        pen.live.append(time.time(), 1.0)
    trend._last_frame = 0.0
    before = trend.frames
    trend.draw_frame()
    last = list(trend.pens)[-1]
    gone = trend.pens[last]
    trend.remove_pen(last)
    qtbot.waitUntil(lambda: trend.frames == before + 1, timeout=2000)
    assert gone.drawn_version != gone.live.version
    assert trend.plot.updatesEnabled()


def test_a_forced_render_draws_every_pen_at_once(qtbot):
    trend = _trend_with_pens(qtbot, 3 * PENS_PER_TURN)
    for pen in trend.pens.values():
        pen.live.append(time.time(), 7.0)
    trend.draw_frame(force=True)
    assert all(p.drawn_version == p.live.version for p in trend.pens.values())
    assert trend.plot.updatesEnabled()


def test_the_tag_table_repaints_only_the_runs_of_rows_that_changed(qtbot):
    from app.core.model import Quality, Sample
    from app.ui.tag_table import COL_SPARK, COL_VALUE, TagRow, TagTableModel

    model = TagTableModel([TagRow(f"d.p{i}", "d", f"p{i}", "m", "", False) for i in range(10)])
    ranges: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(
        lambda a, b, *_: ranges.append((a.row(), b.row(), a.column(), b.column()))
    )
    now = time.time()
    model.apply_samples([Sample(f"d.p{i}", float(i), Quality.GOOD, now) for i in (7, 1, 2, 3)])
    assert ranges == [(1, 3, COL_VALUE, COL_SPARK), (7, 7, COL_VALUE, COL_SPARK)]
    assert [model.row(i).value for i in (1, 2, 3, 7)] == [1.0, 2.0, 3.0, 7.0]
    ranges.clear()
    model.apply_samples([Sample("d.p1", 5.0, Quality.GOOD, now - 10)])  # older: ignored
    assert ranges == [] and model.row(1).value == 1.0


def test_a_young_trend_fills_its_width_and_a_full_one_shows_the_span(qtbot):
    trend = TrendWidget(units=lambda tag: "%")
    qtbot.addWidget(trend)
    trend.resize(800, 400)
    trend.show()
    trend._timer.stop()
    trend.set_span(120.0)
    pen = trend.add_pen("dev.p")
    now = time.time()
    t = np.linspace(now - 30.0, now - 0.1, 300)  # 30 s of data in a 2-minute span
    pen.live.extend(t, np.sin(t))
    trend.draw_frame(force=True)
    x0, x1 = trend.x_range()
    assert abs(x0 - t[0]) < 1.0  # starts at the first sample, not 90 s of empty plot before it
    assert x1 >= t[-1] and x1 - time.time() < 1.0  # the right edge stays at now
    # once there is more data than the span, the span is shown
    older = np.linspace(now - 300.0, now - 30.5, 300)
    trend.add_pen("dev.q").live.extend(older, np.cos(older))
    trend.draw_frame(force=True)
    x0, x1 = trend.x_range()
    assert abs((x1 - x0) - 120.0) < 1.0
