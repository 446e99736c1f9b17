"""The trend's decisions, tested without a display: the model is plain Python and numpy."""

from __future__ import annotations

import math

import numpy as np

from app.core.historian import Series
from app.core.model import Quality, Sample
from app.ui.trend_buffer import RingSeries
from app.ui.trend_model import MIN_LIVE_WINDOW_S, PenData, TrendModel, grid_key


def _model(*tags: str) -> TrendModel[PenData]:
    m: TrendModel[PenData] = TrendModel(span_s=600.0)
    for tag in tags:
        m.add(PenData(tag, "m", "#000", RingSeries(100)))
    return m


def test_only_good_numbers_are_drawn_and_the_rest_are_gaps() -> None:
    m = _model("a.x")
    m.add_samples(
        [
            Sample("a.x", 1.5, Quality.GOOD, 100.0),
            Sample("a.x", 2.0, Quality.BAD_COMM, 101.0),
            Sample("a.x", "text", Quality.GOOD, 102.0),
            Sample("other.y", 9.0, Quality.GOOD, 103.0),
        ]
    )
    t, v = m.compose(m.pens["a.x"])
    assert list(t) == [100.0, 101.0, 102.0]
    assert v[0] == 1.5 and math.isnan(v[1]) and math.isnan(v[2])


def test_live_window_starts_at_the_first_sample_until_the_span_fills() -> None:
    m = _model("a.x")
    m.add_samples([Sample("a.x", 1.0, Quality.GOOD, 1000.0)])
    assert m.live_window(1030.0) == (1000.0, 1030.0)
    assert m.live_window(1005.0) == (1005.0 - MIN_LIVE_WINDOW_S, 1005.0)
    assert m.live_window(5000.0) == (5000.0 - 600.0, 5000.0)


def test_history_is_fetched_only_for_what_live_data_does_not_cover() -> None:
    m = _model("a.x", "b.y")
    m.add_samples([Sample("a.x", 1.0, Quality.GOOD, 900.0), Sample("b.y", 1.0, Quality.GOOD, 950.0)])
    # up to where the *last* pen's live data begins
    assert m.needed_range(400.0, 1000.0) == (400.0, 950.0)
    got = m.apply_history(
        {"a.x": Series(np.array([500.0, 600.0]), np.array([1.0, 2.0]), np.array([0, 2], dtype=np.int8))},
        400.0,
        950.0,
    )
    assert got == 2 and m.needed_range(400.0, 1000.0) is None  # covered now
    t, v = m.compose(m.pens["a.x"])
    assert list(t) == [500.0, 600.0, 900.0]
    assert v[0] == 1.0 and math.isnan(v[1])  # a non-GOOD stored value is a gap
    assert m.readout_at(650.0) == {"a.x": None, "b.y": None}
    assert m.readout_at(550.0)["a.x"] == 1.0


def test_zooming_in_fetches_the_narrower_view_at_its_own_resolution() -> None:
    m = _model("a.x")
    m.add_samples([Sample("a.x", 1.0, Quality.GOOD, 100_000.0)])
    m.apply_history({}, 0.0, 86_400.0)  # a day, downsampled to the plot's width
    assert m.needed_range(43_200.0, 86_400.0) is None  # half of it: the day's points will do
    assert m.needed_range(40_000.0, 43_600.0) == (40_000.0, 43_600.0)  # an hour: fetched again


def test_a_frame_redraws_only_pens_whose_grid_or_data_changed() -> None:
    m = _model("a.x", "b.y")
    key = grid_key((0.0, 100.0), 100)
    for pen in m.pens.values():
        pen.drawn_key, pen.drawn_version = key, pen.live.version
    assert m.due(key, force=False, paused=False) == []
    m.add_samples([Sample("b.y", 1.0, Quality.GOOD, 50.0)])
    assert [p.tag for p in m.due(key, force=False, paused=False)] == ["b.y"]
    assert m.due(key, force=False, paused=True) == []  # a paused view does not follow new data
    assert len(m.due(grid_key((5.0, 105.0), 100), force=False, paused=True)) == 2
