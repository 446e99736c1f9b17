"""An idle workstation does no wasted work (issue 14): the tag table repaints only the cells
whose text or colour changed, and only rows on screen; ages in whole seconds; the hidden trend
does not tick; the journal list is not rebuilt when no event was added. The display stays
truthful: a changed value, a value going stale and a bad sample are still repainted at once."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidget

from app.core.model import Quality, Sample
from app.core.staleness import StaleRule
from app.ui.formatting import format_age
from app.ui.journal_view import JournalView
from app.ui.tag_table import (
    COL_AGE,
    COL_QUALITY,
    COL_SPARK,
    COL_UNIT,
    COL_VALUE,
    TagRow,
    TagTable,
    TagTableModel,
)
from app.ui.trend import TrendWidget

T0 = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def model_with(n: int, clock: Clock) -> tuple[TagTableModel, list[tuple[int, int, int, int]]]:
    model = TagTableModel([TagRow(f"d.p{i}", "d", f"p{i}", "m", "", False) for i in range(n)], clock=clock)
    model.set_stale_rule(StaleRule({f"d.p{i}": 2.5 for i in range(n)}))
    seen: list[tuple[int, int, int, int]] = []
    model.dataChanged.connect(lambda a, b, *_: seen.append((a.row(), b.row(), a.column(), b.column())))
    return model, seen


def rows_in(seen: list[tuple[int, int, int, int]]) -> set[int]:
    return {r for a, b, _c, _d in seen for r in range(a, b + 1)}


def good(tag: str, value: float, t: float) -> Sample:
    return Sample(tag, value, Quality.GOOD, t)


def test_a_sample_that_shows_the_same_text_repaints_nothing() -> None:
    clock = Clock()
    model, seen = model_with(3, clock)
    model.apply_samples([good("d.p1", 50.001, T0)])
    seen.clear()
    clock.now += 0.3
    model.apply_samples([good("d.p1", 50.004, clock.now)])  # "50.00" both times, age "0 s"
    assert seen == []
    assert model.row(1).value == 50.004  # kept, only not repainted


def test_a_changed_value_repaints_its_value_cell_only() -> None:
    clock = Clock()
    model, seen = model_with(3, clock)
    model.apply_samples([good("d.p0", 1.0, T0), good("d.p1", 2.0, T0)])
    seen.clear()
    clock.now += 0.2
    model.apply_samples([good("d.p0", 1.5, clock.now), good("d.p1", 2.5, clock.now)])
    # a signal per cell: Qt's table view repaints a range of cells one pixel wider and taller,
    # which would paint the Unit cells beside them and the row below too
    assert seen == [(0, 0, COL_VALUE, COL_VALUE), (1, 1, COL_VALUE, COL_VALUE)]
    assert model.data(model.index(0, COL_VALUE)) == "1.50"


def test_the_age_tick_repaints_only_ages_that_reached_a_new_second_and_values_gone_stale() -> None:
    clock = Clock()
    model, seen = model_with(2, clock)
    model.apply_samples([good("d.p0", 1.0, T0), good("d.p1", 2.0, T0 + 0.9)])
    seen.clear()
    clock.now = T0 + 0.8
    model.refresh_ages()
    assert seen == []  # both still "0 s"
    clock.now = T0 + 1.2
    model.refresh_ages()
    assert seen == [(0, 0, COL_AGE, COL_AGE)]  # p0 is "1 s" now, p1 still "0 s"
    assert model.data(model.index(0, COL_AGE)) == "1 s"
    seen.clear()
    clock.now = T0 + 2.6  # p0 past its 2.5 s: STALE, struck through, sparkline muted
    model.refresh_ages()
    cells = {(a, c) for a, _b, c, _d in seen}
    assert {(0, COL_VALUE), (0, COL_QUALITY), (0, COL_SPARK), (0, COL_AGE)} <= cells
    # p1: only its age, "1 s" now; still good
    assert (0, COL_UNIT) not in cells and all(r == 0 or c == COL_AGE for r, c in cells)
    assert model.data(model.index(0, COL_QUALITY)) == "STALE"


def test_a_bad_sample_repaints_value_quality_and_sparkline_at_once() -> None:
    clock = Clock()
    model, seen = model_with(1, clock)
    model.apply_samples([good("d.p0", 1.0, T0)])
    seen.clear()
    model.apply_samples([Sample("d.p0", None, Quality.BAD_COMM, T0 + 0.1)])
    cells = {(a, c) for a, _b, c, _d in seen}
    assert cells == {(0, COL_VALUE), (0, COL_QUALITY), (0, COL_SPARK)}


def test_rows_off_screen_are_not_repainted_and_are_whole_again_when_back() -> None:
    clock = Clock()
    model, seen = model_with(4, clock)
    on_screen: set[int] = {0, 1}
    model.visible_rows = lambda: on_screen
    model.apply_samples([good(f"d.p{i}", float(i), T0) for i in range(4)])
    assert rows_in(seen) == {0, 1}
    seen.clear()
    on_screen = {2, 3}  # scrolled: Qt paints rows 2 and 3 from the model as they come in
    model.apply_samples([good("d.p3", 9.0, T0 + 0.1), good("d.p0", 7.0, T0 + 0.1)])
    assert seen == [(3, 3, COL_VALUE, COL_SPARK)]  # its look was not known: every live cell
    seen.clear()
    on_screen = set()  # the dock is hidden
    clock.now += 5.0
    model.refresh_ages()
    assert seen == []


def test_the_table_asks_for_the_rows_on_screen_and_for_all_while_it_filters_abnormal(qtbot: Any) -> None:
    clock = Clock()
    model, seen = model_with(80, clock)
    table = TagTable(model)
    qtbot.addWidget(table)
    table.resize(600, 200)  # a few rows on screen
    table.show()
    qtbot.waitExposed(table)
    shown = table.visible_source_rows()
    assert shown and 0 in shown and 79 not in shown
    model.apply_samples([good(f"d.p{i}", 1.0, T0) for i in range(80)])
    assert rows_in(seen) == set(shown)
    # with "Only abnormal" the proxy must hear of a row going bad wherever it is, or it would
    # never show it
    table.abnormal.setChecked(True)
    assert table.proxy.rowCount() == 0
    model.apply_samples([Sample("d.p79", None, Quality.BAD_COMM, T0 + 0.1)])
    assert table.proxy.rowCount() == 1
    assert table.tag_at(table.proxy.index(0, 0)).tag == "d.p79"


def test_ages_are_whole_seconds() -> None:
    assert format_age(T0 - 0.7, T0) == "0 s"
    assert format_age(T0 - 3.9, T0) == "3 s"
    assert format_age(T0 - 119.5, T0) == "119 s"
    assert format_age(T0 - 600, T0) == "10 min"
    assert format_age(T0 + 5, T0) == "0 s"  # a clock step back never shows a negative age


def test_a_hidden_trend_does_not_tick(qtbot: Any) -> None:
    trend = TrendWidget(units=lambda tag: "%")
    qtbot.addWidget(trend)
    assert not trend._timer.isActive()  # never shown yet
    trend.show()
    qtbot.waitExposed(trend)
    assert trend._timer.isActive()
    trend.hide()
    assert not trend._timer.isActive()
    trend.show()
    assert trend._timer.isActive()


def test_the_journal_list_is_not_rebuilt_when_no_event_was_added(qtbot: Any) -> None:
    events = [{"seq": i, "ts": T0 + i, "kind": "note", "actor": "olga", "body": {"text": f"n{i}"}}
              for i in range(1, 4)]
    view = JournalView(reader=lambda f: list(events), verifier=lambda: (True, ""),
                       exporter=lambda p: "", run_async=lambda fn, done, err: done(fn()))
    qtbot.addWidget(view)
    table = view.findChild(QTableWidget)
    assert table is not None
    changes: list[int] = []
    table.model().dataChanged.connect(lambda *a: changes.append(1))
    view.refresh()
    assert table.rowCount() == 3 and changes
    changes.clear()
    view.refresh()  # the same events: nothing touched
    assert changes == []
    events.append({"seq": 4, "ts": T0 + 4, "kind": "note", "actor": "olga", "body": {"text": "n4"}})
    view.refresh()
    assert table.rowCount() == 4 and changes
    newest = table.item(0, 0)
    assert newest is not None and newest.text() == "4"  # newest first


def test_the_rows_on_screen_follow_a_scroll_a_resize_and_a_sort(qtbot: Any) -> None:
    """The table remembers which rows are on screen between batches; whatever moves them must
    make it look again, or a row on screen would stop being repainted."""
    clock = Clock()
    model, seen = model_with(80, clock)
    table = TagTable(model)
    qtbot.addWidget(table)
    table.resize(600, 200)
    table.show()
    qtbot.waitExposed(table)
    first = table.visible_source_rows()
    assert first and 79 not in first

    table.view.verticalScrollBar().setValue(table.view.verticalScrollBar().maximum())
    scrolled = table.visible_source_rows()
    assert 79 in scrolled and 0 not in scrolled
    model.apply_samples([good("d.p79", 5.0, T0), good("d.p0", 5.0, T0)])
    assert rows_in(seen) == {79}  # the row now on screen is repainted, the one gone is not
    seen.clear()

    table.resize(600, 400)
    qtbot.wait(10)
    assert len(table.visible_source_rows()) > len(scrolled)

    table.view.verticalScrollBar().setValue(0)
    table.proxy.sort(0, Qt.SortOrder.DescendingOrder)  # the same scroll position, other rows
    assert 79 in table.visible_source_rows() and 0 not in table.visible_source_rows()
    table.proxy.sort(-1)
    assert table.visible_source_rows()[0] == 0
    model.apply_samples([good("d.p1", 6.0, T0 + 0.1)])
    assert rows_in(seen) == {1}
