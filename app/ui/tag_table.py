"""The tag table: every point of the plant with value, unit, quality, age and alarm state.

A value of bad quality is never drawn like a good one: its last known number is struck through
and greyed, and the quality cell carries the bad-quality colour, so a dead device can never
look healthy. Colour appears only on abnormal cells (bad quality, alarms by priority).

The "Last hour" column draws each numeric tag's last hour as a sparkline on its engineering
range (see ``sparklines``): fetched for the rows on screen only, in one history query, at a calm
rate, off the GUI thread, and not at all while the table cannot be seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleData,
    QModelRoleDataSpan,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QPainter, QPen, QPolygonF, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.model import Quality, Sample, Value
from app.core.plant import Plant
from app.core.profiles import DataType
from app.core.staleness import StaleRule
from app.station.interface import AlarmView, Series
from app.ui import alarm_fields as af
from app.ui.formatting import format_age, format_value, quality_text
from app.ui.palette import LIGHT, Scheme
from app.ui.sparklines import REFRESH_S, Spark, SparkFetcher, describe

#: Age sits beside Quality, before Alarm: both answer "can I trust this number?", and at
#: 1440x900 the columns after Alarm were pushed out of sight
#: "Last hour" comes after Alarm: Tag to Alarm must fit the dock's default 494 px, and outside
#: the Value..Age range a poll repaints, a sparkline is painted only when it is fetched again
COLUMNS = ("Tag", "Value", "Unit", "Quality", "Age", "Alarm", "Last hour", "Description")
COL_TAG, COL_VALUE, COL_UNIT, COL_QUALITY, COL_AGE, COL_ALARM, COL_SPARK, COL_DESC = range(len(COLUMNS))
#: roles as plain ints: Qt hands them over as ints, and comparing ints is the cheapest test
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_SORT = int(Qt.ItemDataRole.UserRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
#: the sparkline cell's drawing data: (Spark or None, whether the tag's value is bad right now)
SPARK_ROLE = int(Qt.ItemDataRole.UserRole) + 1
#: the roles this model answers; Qt asks for others (decoration, check state, size hint...)
_ROLES = frozenset((_DISPLAY, _SORT, _ALIGN, _FONT, _FOREGROUND, _BACKGROUND, _TOOLTIP, SPARK_ROLE))
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
Index = QModelIndex | QPersistentModelIndex


@dataclass
class TagRow:
    tag: str
    device: str
    point: str
    unit: str
    description: str
    writable: bool
    value: Value = None
    quality: Quality | None = None
    t: float | None = None
    #: source time of the sample the shown value came from: the Age column counts from here,
    #: not from the latest (possibly failed) poll, so a struck-through value from a dead
    #: device ages instead of looking a few seconds old
    t_value: float | None = None
    alarm_priority: str | None = None
    alarm_label: str = ""
    alarm_tip: str = ""
    #: a number worth a sparkline (not a bool or a string), and the range it is drawn on
    numeric: bool = True
    scale: tuple[float, float] | None = None


#: what a row's live cells show: value text, quality shown, age text
_Look = tuple[str, Quality | None, str]


def _is_bad(q: Quality | None) -> bool:
    return q is not None and not q.is_good


def _runs(rows: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive rows: {1, 2, 3, 7} -> [(1, 3), (7, 7)]."""
    out: list[tuple[int, int]] = []
    for i in sorted(rows):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out

def rows_from_plant(plant: Plant) -> list[TagRow]:
    rows = []
    for dev in plant.enabled_devices():
        for p in plant.profiles[dev.name].points:
            row = TagRow(f"{dev.name}.{p.name}", dev.name, p.name, p.unit, p.description, p.writable)
            row.numeric = p.type not in (DataType.BOOL, DataType.STRING)
            row.scale = p.engineering_range
            rows.append(row)
    return rows


class TagTableModel(QAbstractTableModel):
    """Latest sample per tag. Updated in batches; a batch, an age tick or a device going down
    repaints only the on-screen cells whose text or colour changed (see ``_repaint_changed``)."""

    def __init__(
        self,
        rows: Sequence[TagRow],
        scheme: Scheme = LIGHT,
        parent: QObject | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ):
        super().__init__(parent)
        self._rows = list(rows)
        self._index = {r.tag: i for i, r in enumerate(self._rows)}
        self._alarms: dict[str, dict[str, AlarmView]] = {}  # tag -> alarm id -> view
        self._stale_rule = StaleRule()  # the core's rule for when a GOOD value stops being current
        self._down: set[str] = set()  # devices the runtime reports as not online
        self.scheme = scheme
        self._colors: dict[str | tuple[str, str], QColor] = {}
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        self._bold = QFont()
        self._bold.setBold(True)
        self._sparks: dict[str, Spark] = {}
        #: per row, the look of its live cells as last asked to paint (None: not known)
        self._shown: list[_Look | None] = [None] * len(self._rows)
        #: the source rows on screen now, or None for every row (set by the view; a row out of
        #: sight is not repainted, it is painted afresh when it scrolls in)
        self.visible_rows: Callable[[], Container[int] | None] | None = None
        self._clock = clock  # wall time: ages and staleness count from the samples' time stamps

    # -- updates ----------------------------------------------------------------------------
    def apply_samples(self, batch: Iterable[Sample]) -> None:
        """Take a batch of samples; repaint only the cells whose look changed.

        The demo plant's noise changes most values at the shown precision but never a unit, and
        rarely a quality or a whole-second age: the table's paint was the idle window's largest
        cost, so a cell that would be painted exactly as it is on screen is not asked for."""
        changed: set[int] = set()
        for s in batch:
            i = self._index.get(s.tag)
            if i is None:
                continue
            r = self._rows[i]
            if r.t is not None and s.t < r.t:
                continue  # never let an older sample overwrite a newer one
            if s.value is not None:
                r.value = s.value
                r.t_value = s.t
            r.quality = s.quality
            r.t = s.t
            changed.add(i)
        if changed:
            self._repaint_changed(changed)

    def _look(self, r: TagRow, now: float) -> _Look:
        """What the live cells of a row show now (the value's text, the quality shown, the age's
        text): two equal looks paint the same pixels."""
        value = format_value(r.value) if r.quality is not None else "—"
        return value, self.quality_of(r, now), format_age(r.t_value, now)

    def _repaint_changed(self, rows: Iterable[int] | None = None) -> None:
        """Emit dataChanged for the cells of ``rows`` (None: all) whose look differs from the
        one last painted, and only for rows on screen (``visible_rows``): a row out of sight is
        painted afresh when it scrolls in, so its look is forgotten instead.

        A changed cell gets a signal of its own, not one per run of rows: Qt's table view
        repaints a range one pixel wider and taller than its cells (measured with Qt 6.11),
        which painted the Unit cell beside every changed value and the row below each run,
        twice the cells of the table's most frequent paint. A row whose look was not known
        gets one signal for all its live cells."""
        now = self._clock()
        visible = self.visible_rows() if self.visible_rows is not None else None
        by_column: dict[int, list[int]] = {}
        for i in (range(len(self._rows)) if rows is None else rows):
            if visible is not None and i not in visible:
                self._shown[i] = None
                continue
            look = self._look(self._rows[i], now)
            old = self._shown[i]
            if old == look:
                continue
            self._shown[i] = look
            if old is None:
                by_column.setdefault(-1, []).append(i)  # not known to be on screen: all live cells
                continue
            bad, was_bad = _is_bad(look[1]), _is_bad(old[1])
            if look[0] != old[0] or bad != was_bad:
                by_column.setdefault(COL_VALUE, []).append(i)
            if look[1] != old[1]:
                by_column.setdefault(COL_QUALITY, []).append(i)
                if bad != was_bad:
                    by_column.setdefault(COL_SPARK, []).append(i)  # muted line while bad
            if look[2] != old[2]:
                by_column.setdefault(COL_AGE, []).append(i)
        emit, index = self.dataChanged.emit, self.index
        for col, changed in by_column.items():
            if col < 0:
                for lo, hi in _runs(changed):
                    emit(index(lo, COL_VALUE), index(hi, COL_SPARK))
                continue
            for i in changed:
                cell = index(i, col)
                emit(cell, cell)

    def apply_alarms(self, views: Iterable[AlarmView]) -> None:
        touched: set[str] = set()
        for v in views:
            tag = af.alarm_source(v)
            per = self._alarms.setdefault(tag, {})
            if af.needs_attention(v) or af.is_active(v):
                per[af.alarm_id(v)] = v
            else:
                per.pop(af.alarm_id(v), None)
            touched.add(tag)
        for tag in touched:
            i = self._index.get(tag)
            if i is None:
                continue
            self._set_alarm_cells(self._rows[i])
            self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))

    def _set_alarm_cells(self, r: TagRow) -> None:
        """A row's alarm cell from the alarms known for its tag (kept for tags without a row
        too: a tag of a node that joins later finds its alarms here)."""
        views_here = list(self._alarms.get(r.tag, {}).values())
        if views_here:
            worst = min(views_here, key=af.importance)
            r.alarm_priority = af.priority(worst)
            more = len(views_here) - 1
            r.alarm_label = af.cell_label(worst) + (f" (+{more})" if more else "")
            r.alarm_tip = "\n".join(
                f"{af.kind(v)} ({af.priority(v)} priority): {af.state_label(v)}"
                for v in sorted(views_here, key=af.importance)
            )
        else:
            r.alarm_priority = None
            r.alarm_label = ""
            r.alarm_tip = ""

    def set_rows(self, rows: Sequence[TagRow]) -> list[str]:
        """The plant changed (a node joined or changed its plant): these are the rows now.

        A tag that stays keeps its value, quality, age, alarm cell and sparkline, and its place
        in the view: rows that go are removed and new rows inserted where they belong, as
        row removals and insertions, so the views keep their selection, current row and scroll
        position, and nothing but the new rows is painted. Only when the tags that stay come
        in another order is the model reset. Returns the tags added (they have no value yet)."""
        new_tags = [r.tag for r in rows]
        wanted = set(new_tags)
        old = {r.tag: r for r in self._rows}
        kept_old_order = [r.tag for r in self._rows if r.tag in wanted]
        kept_new_order = [t for t in new_tags if t in old]
        fresh = {r.tag: r for r in rows}
        for r in rows:  # what the plant says about a point may change; its live state stays
            if r.tag in old:
                o = old[r.tag]
                r.value, r.quality, r.t, r.t_value = o.value, o.quality, o.t, o.t_value
            self._set_alarm_cells(r)
        if kept_old_order != kept_new_order:
            self.beginResetModel()
            self._rows = list(rows)
            self._reindex()
            self._shown = [None] * len(self._rows)
            self.endResetModel()
            return [t for t in new_tags if t not in old]
        # 1. remove the rows whose tags are gone, last run first so row numbers stay valid
        gone = [i for i, r in enumerate(self._rows) if r.tag not in wanted]
        for lo, hi in reversed(_runs(gone)):
            self.beginRemoveRows(QModelIndex(), lo, hi)
            del self._rows[lo:hi + 1]
            del self._shown[lo:hi + 1]
            self._reindex()
            self.endRemoveRows()
        # 2. the rows that stay take what the plant says now, in place
        for i, r in enumerate(self._rows):
            self._rows[i] = fresh[r.tag]
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))
        # 3. insert the new rows where the plant has them, one run at a time
        added: list[str] = []
        i = 0
        while i < len(new_tags):
            if new_tags[i] in old:
                i += 1
                continue
            j = i
            while j < len(new_tags) and new_tags[j] not in old:
                j += 1
            self.beginInsertRows(QModelIndex(), i, j - 1)
            self._rows[i:i] = [fresh[t] for t in new_tags[i:j]]
            self._shown[i:i] = [None] * (j - i)
            self._reindex()
            self.endInsertRows()
            added.extend(new_tags[i:j])
            i = j
        return added

    def _reindex(self) -> None:
        self._index = {r.tag: i for i, r in enumerate(self._rows)}

    def set_sparks(self, sparks: dict[str, Spark]) -> None:
        """New sparklines for some tags: one dataChanged per run of rows, sparkline column only."""
        self._sparks.update(sparks)
        rows = {self._index[t] for t in sparks if t in self._index}
        for lo, hi in _runs(rows):
            self.dataChanged.emit(self.index(lo, COL_SPARK), self.index(hi, COL_SPARK))

    def spark_of(self, tag: str) -> Spark | None:
        return self._sparks.get(tag)

    def set_stale_rule(self, rule: StaleRule) -> None:
        """A GOOD value that has grown too old is shown STALE (the station's rule): if the core
        stops reporting a point for any reason, its last value must not keep looking current."""
        self._stale_rule = rule

    def set_devices_down(self, devices: Iterable[str]) -> None:
        """Devices that are not online: their points polled less often (slow scan class) still
        hold a GOOD sample from before the outage, which is no longer current."""
        down = set(devices)
        if down != self._down:
            self._down = down
            self._repaint_changed()

    def quality_of(self, r: TagRow, now: float | None = None) -> Quality | None:
        """The quality to show: the sample's, or STALE once a good value is too old or its
        device is down (decided by the core's `StaleRule`)."""
        if r.quality is not Quality.GOOD:
            return r.quality
        return self._stale_rule.quality(
            r.tag, r.quality, r.t, self._clock() if now is None else now, device_down=r.device in self._down
        )

    def refresh_ages(self) -> None:
        """Once a second: an age may have reached its next whole second, and a value may have
        just become stale; only the cells where that happened are repainted."""
        self._repaint_changed()

    def set_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self._colors.clear()
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(COLUMNS) - 1))

    # -- queries ----------------------------------------------------------------------------
    def row(self, i: int) -> TagRow:
        return self._rows[i]

    def row_of(self, tag: str) -> TagRow | None:
        i = self._index.get(tag)
        return self._rows[i] if i is not None else None

    def row_index(self, tag: str) -> int:
        return self._index[tag]

    # -- Qt model ---------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """One cell for one role (a view's delegate asks through ``multiData`` instead)."""
        if role not in _ROLES or not index.isValid():
            return None
        return self._cell(self._rows[index.row()], index.column(), role)

    def multiData(self, index: Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """Every role a view asks for one cell, in one call.

        A delegate asks seven roles per cell on each paint; Qt's default answers each through
        ``data()``, a call from C++ into Python, and through the filter proxy each of those
        also maps the index (two more calls into Python, ``rowCount`` and ``columnCount``).
        That was most of the cost of the table's paint, the idle window's largest."""
        if index.isValid():
            self.fill_roles(index.row(), index.column(), roleDataSpan)

    def fill_roles(self, row: int, column: int, slots: QModelRoleDataSpan | QModelRoleData) -> None:
        """Fill ``slots`` (a span of role/value pairs, or one pair) for the cell at ``row``,
        ``column``; a role this model does not answer is left without data."""
        r = self._rows[row]
        # PySide6 makes a span a sequence of its pairs (its stubs do not say so)
        span = cast(Sequence[QModelRoleData], slots) if isinstance(slots, QModelRoleDataSpan) else (slots,)
        for slot in span:
            role = slot.role()
            value = self._cell(r, column, role) if role in _ROLES else None
            if value is None:
                slot.clearData()
            else:
                slot.setData(value)

    def _cell(self, r: TagRow, c: int, role: int) -> Any:
        """What the cell of row ``r``, column ``c`` shows for ``role`` (one of ``_ROLES``):
        a row's quality is worked out only for the roles that show it."""
        if c == COL_SPARK:
            return self._spark_data(r, role)
        if role == SPARK_ROLE:
            return None
        if role == _DISPLAY:
            if c == COL_VALUE:
                return format_value(r.value) if r.quality is not None else "—"
            if c == COL_AGE:
                return format_age(r.t_value, self._clock())
            if c == COL_QUALITY:
                return quality_text(self.quality_of(r))
            if c == COL_TAG:
                return r.tag
            if c == COL_UNIT:
                return r.unit
            if c == COL_ALARM:
                return r.alarm_label
            if c == COL_DESC:
                return r.description
            return None
        if role == _ALIGN:
            if c in (COL_VALUE, COL_AGE):
                return _RIGHT
            return None
        if role == _FOREGROUND:
            if c in (COL_UNIT, COL_AGE, COL_DESC):
                return self._color("muted")
            if c in (COL_QUALITY, COL_VALUE):
                quality = self.quality_of(r)
                bad = quality is not None and not quality.is_good
                if c == COL_QUALITY and (bad or quality is None):
                    return self._color("bad_quality_text" if bad else "muted")
                if c == COL_VALUE and bad:
                    return self._color("muted")
                return None
            if c == COL_ALARM and r.alarm_priority:
                return self._color(("alarm_text", r.alarm_priority))
            return None
        if role == _BACKGROUND:
            if c == COL_QUALITY:
                quality = self.quality_of(r)
                if quality is not None and not quality.is_good:
                    return self._color("bad_quality")
                return None
            if c == COL_ALARM and r.alarm_priority:
                return self._color(("alarm", r.alarm_priority))
            return None
        if role == _FONT:
            if c == COL_VALUE:
                quality = self.quality_of(r)
                if quality is not None and not quality.is_good:
                    return self._strike
                return None
            if c == COL_ALARM and r.alarm_priority:
                return self._bold
            return None
        quality = self.quality_of(r)
        if role == _SORT:
            if c == COL_VALUE:
                return r.value if isinstance(r.value, (int, float)) else float("-inf")
            if c == COL_AGE:
                return -(r.t_value or 0.0)
            if c == COL_ALARM:
                return af.PRIORITY_RANK.get(r.alarm_priority or "", 9)
            if c == COL_QUALITY:
                return int(quality) if quality is not None else 99
            return self._cell(r, c, _DISPLAY)
        # tooltip
        if c == COL_ALARM and r.alarm_tip:
            return r.alarm_tip
        if quality is not None and not quality.is_good:
            why = quality_text(quality)
            return f"{r.tag}: {why} — the value shown is the last one received, not current"
        return r.description or r.tag

    def _spark_data(self, r: TagRow, role: int) -> Any:
        """The sparkline cell: drawn by ``SparklineDelegate`` from SPARK_ROLE; text only in
        its tooltip (a bool or string tag has none)."""
        if not r.numeric:
            return "" if role == _DISPLAY else None
        spark = self._sparks.get(r.tag)
        if role == SPARK_ROLE:
            quality = self.quality_of(r)
            return spark, quality is not None and not quality.is_good
        if role == _TOOLTIP:
            return describe(spark, r.unit)
        if role == _SORT:
            return 0.0 if spark is None or spark.lo is None or spark.hi is None else spark.hi - spark.lo
        return None

    def _color(self, key: str | tuple[str, str]) -> QColor:
        """The scheme's colours as QColor objects made once, not once per cell per paint."""
        color = self._colors.get(key)
        if color is None:
            s = self.scheme
            if isinstance(key, tuple):
                kind, priority = key
                color = s.alarm_color(priority) if kind == "alarm" else s.alarm_text_color(priority)
            else:
                color = s.qcolor(key)
            self._colors[key] = color
        return color


class TagFilterProxy(QSortFilterProxyModel):
    """Text search over tag, description and unit; optionally only abnormal rows."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._text = ""
        self.only_abnormal = False
        self.setSortRole(Qt.ItemDataRole.UserRole)

    def _refilter(self, change: Callable[[], None]) -> None:
        """Qt 6.10 deprecates invalidateFilter() for begin/endFilterChange(); older Qt (the
        project accepts 6.6+) has only the former."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_only_abnormal(self, on: bool) -> None:
        self._refilter(lambda: setattr(self, "only_abnormal", on))

    def multiData(self, index: Index, roleDataSpan: QModelRoleDataSpan | QModelRoleData) -> None:
        """All the roles of one cell in one call to the tag model (see ``TagTableModel.multiData``),
        instead of Qt's default of one ``data()`` per role, each mapping the index again."""
        model = self.sourceModel()
        if not isinstance(model, TagTableModel):
            super().multiData(index, roleDataSpan)
            return
        source = self.mapToSource(index)
        if source.isValid():
            model.fill_roles(source.row(), source.column(), roleDataSpan)

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, TagTableModel)
        r = model.row(source_row)
        if self.only_abnormal:
            q = model.quality_of(r)
            bad = q is None or not q.is_good
            if not bad and not r.alarm_priority:
                return False
        if not self._text:
            return True
        return any(self._text in s.lower() for s in (r.tag, r.description, r.unit))


class TagTable(QWidget):
    """Search box + table. Emits requests; the main window decides what to open."""

    setpoint_requested = Signal(str)
    trend_requested = Signal(str)

    def __init__(
        self,
        model: TagTableModel,
        parent: QWidget | None = None,
        *,
        history: Callable[[list[str], float, float, int], Mapping[str, Series]] | None = None,
        run_async: Callable[..., Any] | None = None,
        refresh_s: float = REFRESH_S,
    ):
        super().__init__(parent)
        self.model = model
        #: whether the session at the console may write setpoints, and if not, why (the core
        #: checks again on every write; this only greys out the menu entry)
        self.can_write = False
        self.write_refusal = ""
        self.proxy = TagFilterProxy(self)
        self.proxy.setSourceModel(model)
        self.search = QLineEdit(placeholderText="Filter tags (name, description, unit)…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.proxy.set_text)
        self.abnormal = QCheckBox("Only abnormal")
        self.abnormal.toggled.connect(self.proxy.set_only_abnormal)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        h = self.view.horizontalHeader()
        h.setStretchLastSection(True)
        h.setHighlightSections(False)
        for col, width in (
            (COL_TAG, 140),
            (COL_VALUE, 68),
            (COL_UNIT, 38),
            (COL_QUALITY, 74),
            (COL_AGE, 50),
            (COL_ALARM, 124),
            (COL_SPARK, 96),
        ):
            h.resizeSection(col, width)
        self.view.setItemDelegateForColumn(COL_SPARK, SparklineDelegate(model, self.view))
        h.setSectionResizeMode(COL_DESC, QHeaderView.ResizeMode.Stretch)
        self.view.doubleClicked.connect(self._double_clicked)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.search, 1)
        top.addWidget(self.abnormal)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.view)
        #: (what decided it, the model rows on screen, the same as a set)
        self._visible_cache: tuple[tuple[int, int, int, int], list[int], set[int]] | None = None
        self._proxy_generation = 0
        for changed in (self.proxy.layoutChanged, self.proxy.rowsInserted, self.proxy.rowsRemoved,
                        self.proxy.rowsMoved, self.proxy.modelReset):
            changed.connect(self._forget_rows_on_screen)
        model.visible_rows = self._rows_to_repaint
        # a model that outlives its view repaints every changed row again, not a deleted view's
        self.destroyed.connect(lambda: setattr(model, "visible_rows", None))
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(1000)
        self._age_timer.timeout.connect(model.refresh_ages)
        self._age_timer.start()
        # sparklines: checked every few seconds (each tag is fetched again every refresh_s) and
        # soon after a scroll, a filter or a show brings new rows on screen
        self.sparks: SparkFetcher | None = None
        self._run_async = run_async
        self._refresh_s = refresh_s
        self._spark_timer = QTimer(self)
        self._spark_timer.setInterval(max(500, int(refresh_s * 1000 / 6)))
        self._spark_timer.timeout.connect(self.refresh_sparks)
        self._spark_soon = QTimer(self)
        self._spark_soon.setSingleShot(True)
        self._spark_soon.setInterval(300)
        self._spark_soon.timeout.connect(self.refresh_sparks)
        if history is not None and run_async is not None:
            self.sparks = SparkFetcher(history, scale=self._scale_of)
            self._spark_timer.start()
            self.view.verticalScrollBar().valueChanged.connect(lambda _: self._spark_soon.start())
            self.proxy.layoutChanged.connect(self._spark_soon.start)
            self.proxy.rowsInserted.connect(self._spark_soon.start)

    # -- sparklines ---------------------------------------------------------------------------
    def _scale_of(self, tag: str) -> tuple[float, float] | None:
        row = self.model.row_of(tag)
        return row.scale if row is not None else None

    def visible_source_rows(self) -> list[int]:
        """The model rows on screen now; none while the table cannot be seen.

        Worked out again only when what decides it moved (the scroll position, the viewport's
        height, the proxy's rows or their order): every batch of samples asks, and mapping
        each row on screen through the proxy cost more than the repaint it saved."""
        if not self.isVisible() or self.view.visibleRegion().isEmpty() or self.proxy.rowCount() == 0:
            return []
        key = (self.view.verticalScrollBar().value(), self.view.viewport().height(),
               self.proxy.rowCount(), self._proxy_generation)
        if self._visible_cache is None or self._visible_cache[0] != key:
            rows = self._rows_on_screen()
            self._visible_cache = (key, rows, set(rows))
        return self._visible_cache[1]

    def _forget_rows_on_screen(self, *_: object) -> None:
        """The proxy's rows moved (sorted, filtered, inserted, removed): the same scroll
        position may show other model rows now."""
        self._proxy_generation += 1

    def _rows_on_screen(self) -> list[int]:
        top = self.view.rowAt(0)
        bottom = self.view.rowAt(self.view.viewport().height() - 1)
        if top < 0:
            return []
        if bottom < 0:
            bottom = self.proxy.rowCount() - 1
        return [self.proxy.mapToSource(self.proxy.index(i, 0)).row() for i in range(top, bottom + 1)]

    def _rows_to_repaint(self) -> set[int] | None:
        """For the model's change detection: the rows on screen, or None (every row) while the
        proxy sorts or keeps only abnormal rows, because it re-sorts and re-filters on the
        changes it is told about, seen or not."""
        if self.proxy.only_abnormal or self.proxy.sortColumn() >= 0:
            return None
        if not self.visible_source_rows():
            return set()
        assert self._visible_cache is not None
        return self._visible_cache[2]

    def visible_tags(self) -> list[str]:
        """Numeric tags in the rows on screen now; none while the table cannot be seen."""
        rows = (self.model.row(i) for i in self.visible_source_rows())
        return [r.tag for r in rows if r.numeric]

    def refresh_sparks(self) -> None:
        """Fetch the visible sparklines that are missing or due, in one query on a worker."""
        fetcher, run = self.sparks, self._run_async
        if fetcher is None or run is None:
            return
        tags = fetcher.due(self.visible_tags(), refresh_s=self._refresh_s)
        if not tags:
            return
        fetcher.busy = True

        def done(result: dict[str, Spark]) -> None:
            fetcher.busy = False
            fetcher.mark(tags)
            self.model.set_sparks(result)

        def failed(message: str) -> None:
            fetcher.busy = False
            fetcher.mark(tags)  # try again at the next refresh, not on every tick

        run(lambda: fetcher.fetch(tags), done, failed)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._spark_soon.start()

    def tag_at(self, proxy_index: QModelIndex) -> TagRow:
        return self.model.row(self.proxy.mapToSource(proxy_index).row())

    def selected_tags(self) -> list[str]:
        rows = self.view.selectionModel().selectedRows()
        return [self.tag_at(i).tag for i in rows]

    def _double_clicked(self, index: QModelIndex) -> None:
        r = self.tag_at(index)
        if r.writable:
            self.setpoint_requested.emit(r.tag)
        else:
            self.trend_requested.emit(r.tag)

    def set_write_permission(self, allowed: bool, refusal: str = "") -> None:
        self.can_write, self.write_refusal = allowed, refusal

    def _context_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        r = self.tag_at(index)
        menu = QMenu(self)
        act_trend = QAction("Add to trend", menu)
        act_trend.triggered.connect(lambda: self.trend_requested.emit(r.tag))
        menu.addAction(act_trend)
        act_sp = QAction("Write setpoint…", menu)
        act_sp.setEnabled(r.writable and self.can_write)
        if r.writable and not self.can_write:
            act_sp.setText(f"Write setpoint… ({self.write_refusal})")
        act_sp.triggered.connect(lambda: self.setpoint_requested.emit(r.tag))
        menu.addAction(act_sp)
        menu.popup(self.view.viewport().mapToGlobal(pos))


class SparklineDelegate(QStyledItemDelegate):
    """Paints a ``Spark``: the good samples as a thin line in the text colour (muted while the
    tag's value is bad now, as the struck-through value is), gaps where samples are missing or
    not GOOD, and those non-GOOD stretches marked underneath in the bad-quality colour."""

    def __init__(self, model: TagTableModel, parent: QObject | None = None):
        super().__init__(parent)
        self._model = model

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        super().paint(painter, option, index)  # background and selection
        data = index.data(SPARK_ROLE)
        if not data or data[0] is None:
            return
        spark, bad_now = data
        scheme = self._model.scheme
        rect = option.rect.adjusted(3, 3, -3, -4)
        if rect.width() < 4 or rect.height() < 4:
            return
        x0, y0, w, h = float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        bad = QColor(scheme.bad_quality)
        for a, b in spark.bad:
            painter.fillRect(int(x0 + a * w), int(y0 + h), max(2, int((b - a) * w)), 3, bad)
        line = QPen(QColor(scheme.muted if bad_now else scheme.text))
        line.setWidthF(1.2)
        painter.setPen(line)
        for run in spark.runs:
            pts = [QPointF(x0 + px * w, y0 + (1.0 - py) * h) for px, py in run.tolist()]
            if len(pts) == 1:
                painter.drawLine(pts[0] - QPointF(1.0, 0.0), pts[0] + QPointF(1.0, 0.0))
            else:
                painter.drawPolyline(QPolygonF(pts))
        painter.restore()
