"""The tag table's paint asks its model for all the roles of a cell in one call (issue 14, the
idle window's CPU): a delegate asks seven roles per cell, and one call into Python per role,
each mapping the index through the filter proxy again, was most of the table's paint. What a
cell shows must not change with it: the same text, strike-through, colours and alignment as
``data()`` gives, through a sorting and filtering proxy too."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from PySide6.QtCore import QEvent, QModelIndex, QModelRoleData, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QPaintEvent, QRegion
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from app.core.model import Quality, Sample
from app.ui.tag_table import (
    COL_AGE,
    COL_ALARM,
    COL_QUALITY,
    COL_SPARK,
    COL_TAG,
    COL_UNIT,
    COL_VALUE,
    COLUMNS,
    TagRow,
    TagTable,
    TagTableModel,
)

Index = QModelIndex | QPersistentModelIndex


class CountingModel(TagTableModel):
    """Counts the calls Qt makes to ``data()``, by column."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data_calls: Counter[int] = Counter()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        self.data_calls[index.column()] += 1
        return super().data(index, role)


def rows(n: int) -> list[TagRow]:
    return [TagRow(f"d.p{i:02d}", "d", f"p{i:02d}", "bar", f"point {i}", False) for i in range(n)]


def fill(model: TagTableModel, n: int) -> None:
    now = time.time()
    model.apply_samples(
        [Sample(f"d.p{i:02d}", 10.0 + i * 1.25, Quality.BAD_COMM if i % 3 == 0 else Quality.GOOD, now)
         for i in range(n)]
    )


def table(qtbot: Any, model: TagTableModel) -> TagTable:
    t = TagTable(model)
    qtbot.addWidget(t)
    t.resize(700, 400)
    t.show()
    qtbot.waitExposed(t)
    qtbot.wait(50)  # the view lays out its rows before it paints them
    return t


def test_a_paint_asks_the_model_once_per_cell_not_once_per_role(qtbot: Any) -> None:
    model = CountingModel(rows(12))
    fill(model, 12)
    t = table(qtbot, model)
    model.data_calls.clear()
    t.view.viewport().repaint()
    # the delegates ask through multiData; only the sparkline's own delegate reads its cell's
    # drawing data with data()
    assert model.data_calls[COL_SPARK] >= 12  # the rows were painted
    assert {c for c in model.data_calls if c != COL_SPARK} == set()


def test_a_painted_cell_shows_what_data_says_through_a_sorting_filtering_proxy(qtbot: Any) -> None:
    model = TagTableModel(rows(12))
    fill(model, 12)
    model.apply_alarms([])
    t = table(qtbot, model)
    t.view.sortByColumn(COL_TAG, Qt.SortOrder.DescendingOrder)  # proxy row 0 = source row 11
    t.search.setText("p0")  # p00..p09 only
    proxy = t.proxy
    assert proxy.rowCount() == 10
    delegate = QStyledItemDelegate()
    for prow in range(proxy.rowCount()):
        for col in range(len(COLUMNS)):
            pindex = proxy.index(prow, col)
            source = proxy.mapToSource(pindex)
            opt = QStyleOptionViewItem()
            delegate.initStyleOption(opt, pindex)
            text = model.data(source, Qt.ItemDataRole.DisplayRole)
            assert opt.text == (text or ""), (prow, col)
            font = model.data(source, Qt.ItemDataRole.FontRole)
            assert opt.font.strikeOut() == (font is not None and font.strikeOut())
            bg = model.data(source, Qt.ItemDataRole.BackgroundRole)
            if bg is not None:
                assert opt.backgroundBrush.color() == bg
            if col in (COL_VALUE, COL_AGE):
                assert opt.displayAlignment & Qt.AlignmentFlag.AlignRight
    first = proxy.mapToSource(proxy.index(0, COL_VALUE))
    assert model.row(first.row()).tag == "d.p09"  # sorted descending, filtered
    bad = next(i for i in range(proxy.rowCount())
               if model.row(proxy.mapToSource(proxy.index(i, 0)).row()).quality is Quality.BAD_COMM)
    opt = QStyleOptionViewItem()
    delegate.initStyleOption(opt, proxy.index(bad, COL_VALUE))
    assert opt.font.strikeOut()  # a bad value is struck through, never painted like a good one
    opt = QStyleOptionViewItem()
    delegate.initStyleOption(opt, proxy.index(bad, COL_QUALITY))
    assert opt.text == "BAD comm"
    assert opt.backgroundBrush.color() == model.scheme.qcolor("bad_quality")


def test_a_role_the_model_does_not_answer_comes_back_empty_not_stale() -> None:
    model = TagTableModel(rows(2))
    fill(model, 2)
    slot = QModelRoleData(int(Qt.ItemDataRole.DecorationRole))
    slot.setData("left over")
    model.multiData(model.index(1, COL_VALUE), slot)
    assert slot.data() is None
    shown = QModelRoleData(int(Qt.ItemDataRole.DisplayRole))
    model.multiData(model.index(1, COL_VALUE), shown)
    assert shown.data() == "11.25"
    alarm = QModelRoleData(int(Qt.ItemDataRole.DisplayRole))
    model.multiData(model.index(1, COL_ALARM), alarm)
    assert alarm.data() == ""


class PaintedRegion(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.region = QRegion()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if isinstance(event, QPaintEvent):
            self.region = self.region.united(event.region())
        return False


def test_new_values_repaint_their_value_cells_and_nothing_beside_them(qtbot: Any) -> None:
    model = TagTableModel(rows(12))
    fill(model, 12)
    t = table(qtbot, model)
    painted = PaintedRegion()
    t.view.viewport().installEventFilter(painted)
    now = time.time()
    model.apply_samples([Sample(f"d.p{i:02d}", 99.0 + i, Quality.GOOD, now) for i in range(2, 7)])
    qtbot.waitUntil(lambda: not painted.region.isEmpty())
    qtbot.wait(20)
    value_cells = QRegion()
    for i in range(2, 7):
        value_cells = value_cells.united(t.view.visualRect(t.proxy.index(i, COL_VALUE)))
    assert painted.region.contains(value_cells.boundingRect())
    for i in range(12):  # neither the Unit cells beside them nor the row below
        assert not painted.region.intersects(t.view.visualRect(t.proxy.index(i, COL_UNIT))), i
    assert not painted.region.intersects(t.view.visualRect(t.proxy.index(7, COL_VALUE)))
