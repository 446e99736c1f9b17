"""The alarm banner, the alarm list and the alarm history search.

The list holds what ISA-18.2 says an operator must see (active, or cleared but unacknowledged),
sorted by priority, then by when the episode began (first out), newest first: a row keeps its
place while it is acknowledged or clears, and the last change has its own column. Colour appears
only in the priority cell, by priority; unacknowledged rows are bold (the banner flashes and the
annunciator sounds, see ``annunciator.py``). Actions are passed to the main window, which runs
them through the core's role-checked facade so every acknowledgement and shelve is attributed
and journaled. *Acknowledge page* acknowledges exactly the rows on screen, after a confirmation
naming how many.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.ui import alarm_fields as af
from app.ui.formatting import format_clock, format_time, format_value
from app.ui.palette import LIGHT, Scheme

ALARM_COLUMNS = ("First out", "Priority", "Tag / device", "Alarm", "Value", "State", "Last change")
COL_FIRST_OUT, COL_PRIORITY, COL_SOURCE, COL_ALARM, COL_VALUE, COL_STATE, COL_LAST_CHANGE = range(7)
Index = QModelIndex | QPersistentModelIndex


class AlarmModel(QAbstractTableModel):
    """Every alarm view by id; ``visible`` rows are those needing attention (or the shelved
    ones, when the list is switched to show those)."""

    def __init__(self, scheme: Scheme = LIGHT, parent: Any = None):
        super().__init__(parent)
        self.scheme = scheme
        self._all: dict[str, Any] = {}
        self._rows: list[Any] = []
        self.show_suppressed = False
        self._device_errors: dict[str, str] = {}  # device -> its last error (diagnostics)
        self._bold = QFont()
        self._bold.setBold(True)

    def set_all(self, views: Iterable[Any]) -> None:
        self._all = {af.alarm_id(v): v for v in views}
        self._rebuild()

    def apply(self, views: Iterable[Any]) -> None:
        for v in views:
            self._all[af.alarm_id(v)] = v
        self._rebuild()

    def set_device_errors(self, errors: dict[str, str]) -> None:
        """Each device's last error from the runtime's diagnostics: a BAD_DEVICE quality does
        not say which exception the device answered; the device's last error does."""
        if errors != self._device_errors:
            self._device_errors = dict(errors)
            if self._rows:
                self.dataChanged.emit(self.index(0, 4), self.index(len(self._rows) - 1, 4))

    def set_show_suppressed(self, on: bool) -> None:
        self.show_suppressed = on
        self._rebuild()

    def _rebuild(self) -> None:
        if self.show_suppressed:
            keep = [
                v for v in self._all.values() if af.state(v) in ("shelved", "suppressed", "out_of_service")
            ]
        else:
            keep = [v for v in self._all.values() if af.needs_attention(v)]
        keep.sort(key=lambda v: (af.priority_rank(v), -(af.time_of(v) or 0.0)))
        self.beginResetModel()
        self._rows = keep
        self.endResetModel()

    def set_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self._rebuild()

    # -- summaries for the banner -----------------------------------------------------------
    def counts(self) -> dict[str, int]:
        vs = list(self._all.values())
        return {
            "unacked": sum(1 for v in vs if af.state(v) in ("unack_active", "unack_rtn")),
            "active": sum(1 for v in vs if af.is_active(v)),
            "shelved": sum(1 for v in vs if af.is_shelved(v)),
            "suppressed": sum(1 for v in vs if af.state(v) in ("suppressed", "out_of_service")),
        }

    def most_important(self) -> Any | None:
        """The alarm the banner shows: unacknowledged first, then by priority, then newest."""
        vs = [v for v in self._all.values() if af.needs_attention(v)]
        if not vs:
            return None
        return min(vs, key=lambda v: (af.is_acked(v), af.priority_rank(v), -(af.time_of(v) or 0.0)))

    def view(self, row: int) -> Any:
        return self._rows[row]

    def all_views(self) -> list[Any]:
        """Every alarm the window knows, on the list or not (the annunciator reads these)."""
        return list(self._all.values())

    def by_id(self, alarm_id: str) -> Any | None:
        return self._all.get(alarm_id)

    def visible_ids(self) -> list[str]:
        return [af.alarm_id(v) for v in self._rows]

    # -- Qt model ---------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ALARM_COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return ALARM_COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        v = self._rows[index.row()]
        c = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if c == 0:
                return format_clock(af.time_of(v))
            if c == 1:
                return af.priority(v).upper()
            if c == 2:
                return af.alarm_source(v)
            if c == 3:
                return f"{af.kind(v)}  {af.message(v)}".strip()
            if c == 4:
                return af.readable_value(v, self._device_errors.get(getattr(v, "device", "")))
            if c == 5:
                st = af.state(v)
                if st == "shelved":
                    text = af.shelve_text(v)
                elif st == "suppressed" and getattr(v, "suppressed_rule", None):
                    text = f"suppressed by design (under {v.suppressed_rule})"
                elif st in ("suppressed", "out_of_service"):
                    text = af.suppression_text(v)
                elif v.acked_by and af.is_acked(v):
                    text = f"{af.state_label(v)} by {v.acked_by}"
                else:
                    text = af.state_label(v)
                if af.is_chattering(v):
                    text += f"  ⟳ chattering ({v.activations_recent}×)"
                return text
            if c == 6:
                return format_clock(af.last_change(v))
        elif role == Qt.ItemDataRole.UserRole:
            if c == 0:
                return af.time_of(v) or 0.0
            if c == 1:
                return af.priority_rank(v)
            if c == 6:
                return af.last_change(v) or 0.0
            return self.data(index, Qt.ItemDataRole.DisplayRole)
        elif role == Qt.ItemDataRole.FontRole:
            if not af.is_acked(v):
                return self._bold
        elif role == Qt.ItemDataRole.BackgroundRole and c == 1:
            return self.scheme.alarm_color(af.priority(v))
        elif role == Qt.ItemDataRole.ForegroundRole and c == 1:
            return self.scheme.alarm_text_color(af.priority(v))
        elif role == Qt.ItemDataRole.ToolTipRole:
            if c == 4:
                return af.full_value(v, self._device_errors.get(getattr(v, "device", "")))
            tip = f"{af.alarm_id(v)}\n{af.message(v)}"
            more = af.suppression_text(v)
            return tip + (f"\n{more}" if more else "")
        return None


class AlarmBanner(QFrame):
    """One line across the top of the window: the most important alarm and the counts.

    Quiet (panel grey) when nothing needs attention; the chip takes the priority colour of the
    alarm shown. The flood indicator appears only during a flood.
    """

    clicked = Signal()

    def __init__(self, scheme: Scheme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.scheme = scheme
        self.chip = QLabel("")
        self.chip.setFixedWidth(80)
        self.chip.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel("No alarms")
        # a long alarm text must be cut, not widen the window and squeeze the docks
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        f = self.text.font()
        f.setPointSizeF(f.pointSizeF() * 1.1)
        self.text.setFont(f)
        self.counts = QLabel("")
        self.counts.setObjectName("muted")
        self.flood = QLabel("ALARM FLOOD")
        self.flood.setObjectName("flood")
        self.flood.setToolTip("More than 10 alarms in 10 minutes: work the list by priority")
        self.flood.setVisible(False)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.chip)
        lay.addWidget(self.text, 1)
        lay.addWidget(self.flood)
        lay.addWidget(self.counts)

    def update_from(self, model: AlarmModel, in_flood: bool | None = None) -> None:
        top = model.most_important()
        c = model.counts()
        self.counts.setText(f"{c['unacked']} unacknowledged · {c['active']} active · {c['shelved']} shelved")
        if top is None:
            self._set_chip("", "")
            self.text.setText("No alarms need attention")
        else:
            p = af.priority(top)
            self._set_chip(
                p.upper(),
                f"background:{self.scheme.alarm[p]}; color:{self.scheme.alarm_text[p]}; font-weight:bold;",
            )
            when = time.strftime("%H:%M:%S", time.localtime(af.time_of(top) or time.time()))
            self.text.setText(
                f"{when}  {af.alarm_source(top)}  {af.kind(top)}  {af.message(top)}  ({af.state_label(top)})"
            )
        if in_flood is not None:
            self.flood.setVisible(bool(in_flood))

    def _set_chip(self, text: str, style: str) -> None:
        """Style sheets re-polish the widget: only touch it when the priority shown changes."""
        if text != self.chip.text():
            self.chip.setText(text)
        if style != self.chip.styleSheet():
            self.chip.setStyleSheet(style)

    def mousePressEvent(self, event: Any) -> None:
        self.clicked.emit()
        super().mousePressEvent(event)


class ReasonDialog(QDialog):
    """A reason, required: taking an alarm out of service (or back) is recorded with why."""

    def __init__(
        self,
        title: str,
        alarm_text: str,
        ok_text: str,
        parent: QWidget | None = None,
        placeholder: str = "Why (required), e.g. transmitter replaced, work order 1234",
    ):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.reason = QLineEdit()
        self.reason.setPlaceholderText(placeholder)
        self.form = QFormLayout(self)
        self.form.addRow(QLabel(alarm_text))
        self.form.addRow("Reason", self.reason)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.form.addRow(self.buttons)
        self.reason.textChanged.connect(self._check)
        self._check()

    def _check(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(bool(self.reason.text().strip()))


class ShelveDialog(ReasonDialog):
    """Shelving needs a reason and an expiry: a shelved alarm is hidden, so both are recorded."""

    def __init__(self, alarm_text: str, parent: QWidget | None = None, max_hours: float = 8.0):
        super().__init__(
            "Shelve alarm",
            alarm_text,
            "Shelve",
            parent,
            placeholder="Why (required), e.g. instrument under maintenance",
        )
        self.duration = QComboBox()
        for label, hours in (("30 min", 0.5), ("1 h", 1.0), ("2 h", 2.0), ("4 h", 4.0), ("8 h", 8.0)):
            if hours <= max_hours:
                self.duration.addItem(label, hours * 3600.0)
        self.duration.setCurrentIndex(1)
        self.form.insertRow(2, "Shelve for", self.duration)

    def until_ts(self) -> float:
        return time.time() + float(self.duration.currentData())


#: how history events read (the stored names are short codes)
EVENT_WORDS = {
    "transition": "state change",
    "ack": "acknowledge",
    "condition": "condition (while hidden)",
    "unsuppress": "lift suppression",
    "off_delay": "off-delay set",
    "out_of_service": "out of service",
    "return_to_service": "return to service",
}
SHIFT_S = 8 * 3600.0


def state_words(name: str | None) -> str:
    if not name:
        return ""
    return {
        "unack_active": "active, unacked",
        "ack_active": "active, acked",
        "unack_rtn": "cleared, unacked",
        "out_of_service": "out of service",
    }.get(name, name.replace("_", " "))


def detail_words(r: dict[str, Any]) -> str:
    """The event's detail as a sentence: shelve reason and expiry, suppression reason, ..."""
    d = r.get("detail")
    if not isinstance(d, dict):
        return ""
    parts = []
    if d.get("reason"):
        parts.append(str(d["reason"]))
    if isinstance(d.get("until"), (int, float)):
        parts.append(f"until {format_time(float(d['until']))}")
    if d.get("cause") and d.get("cause") != "condition":
        parts.append(str(d["cause"]))
    if "seconds" in d:
        parts.append(f"{d['seconds']:g} s")
    if "active" in d:
        parts.append("condition present" if d["active"] else "condition gone")
    return "; ".join(parts)


class AlarmHistory(QWidget):
    """Search the alarm event history (runs on a worker; the table fills when it returns).
    Opens on the last shift (8 h) without a click; the text box finds part of an alarm id,
    tag, device, actor or reason."""

    search_requested = Signal(dict)

    def __init__(self, parent: QWidget | None = None, units: Callable[[str], str] | None = None):
        super().__init__(parent)
        self._units = units or (lambda _aid: "")
        self._loaded = False
        self.tag = QLineEdit(placeholderText="search: part of a tag, alarm, actor or reason")
        self.priority = QComboBox()
        self.priority.addItems(["any", "urgent", "high", "medium", "low"])
        self.actor = QLineEdit(placeholderText="actor")
        self.since = QDateTimeEdit()
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.since.setDateTime(self.since.dateTime().currentDateTime().addSecs(-int(SHIFT_S)))
        self.go = QPushButton("Search")
        self.go.clicked.connect(self._search)
        self.tag.returnPressed.connect(self._search)
        self.result = QLabel("")
        self.result.setObjectName("muted")
        self.table = QTableWidget(0, 8)
        self.table.setHorizontalHeaderLabels(
            ["Time", "Alarm", "Priority", "Event", "From → to", "Value", "Actor", "Detail"]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        bar = QHBoxLayout()
        bar.addWidget(self.tag, 2)
        bar.addWidget(self.priority)
        bar.addWidget(self.actor, 1)
        bar.addWidget(QLabel("since"))
        bar.addWidget(self.since)
        bar.addWidget(self.go)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.result)

    def query(self) -> dict[str, Any]:
        q: dict[str, Any] = {"since": float(self.since.dateTime().toSecsSinceEpoch()), "limit": 2000}
        if self.tag.text().strip():
            q["text"] = self.tag.text().strip()
        if self.priority.currentText() != "any":
            q["priority"] = self.priority.currentText()
        if self.actor.text().strip():
            q["actor"] = self.actor.text().strip()
        return q

    def _search(self) -> None:
        self._loaded = True
        self.result.setText("searching…")
        self.search_requested.emit(self.query())

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._loaded:  # the last shift, without having to press Search
            self._search()

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        self.table.setRowCount(len(rows))
        for i, r in enumerate(reversed(rows)):  # newest first
            event = str(r.get("event", ""))
            value = r.get("value")
            unit = self._units(str(r.get("alarm_id", ""))) if isinstance(value, (int, float)) else ""
            moved = (f"{state_words(r.get('from_state'))} → {state_words(r.get('to_state'))}"
                     if r.get("to_state") and r.get("to_state") != r.get("from_state")
                     else state_words(r.get("from_state")))
            cells = [
                format_time(r.get("ts")),
                str(r.get("alarm_id", "")),
                str(r.get("priority", "")),
                EVENT_WORDS.get(event, event),
                moved,
                "" if value is None else format_value(value) + (f" {unit}" if unit else ""),
                str(r.get("actor") or ""),
                detail_words(r),
            ]
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.result.setText(f"{len(rows)} event(s)" + (" (limit reached)" if len(rows) >= 2000 else ""))

    def show_error(self, message: str) -> None:
        self.result.setText(f"history search failed: {message}")


class AlarmPanel(QWidget):
    """Current alarms (with actions) and the history search, in tabs."""

    acknowledge_requested = Signal(list)  # alarm ids
    shelve_requested = Signal(str)  # alarm id
    unshelve_requested = Signal(str)
    out_of_service_requested = Signal(str, bool)  # alarm id, True: take out / False: return
    off_delay_requested = Signal(str)  # alarm id

    def __init__(self, model: AlarmModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        #: asks the operator to confirm; replaced in tests (a modal box would wait for a click)
        self.confirm: Callable[[str], bool] = self._ask
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setShowGrid(False)
        self.view.setWordWrap(False)
        h = self.view.horizontalHeader()
        h.setHighlightSections(False)
        # Value fits "14,042× threshold" or "connection refused" in bold; Alarm takes the rest
        for col, w in ((0, 70), (1, 70), (2, 160), (3, 300), (4, 144), (5, 190), (6, 92)):
            h.resizeSection(col, w)
        h.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        h.setStretchLastSection(False)
        self.ack_btn = QPushButton("Acknowledge")
        self.ack_btn.setToolTip("Acknowledge the selected alarms")
        self.ack_page_btn = QPushButton("Acknowledge page")
        self.ack_page_btn.setToolTip("Acknowledge the alarms on screen (asks first, naming the count)")
        self.off_delay_btn = QPushButton("Off-delay…")
        self.off_delay_btn.setToolTip(
            "Give the selected (chattering) alarm an off-delay: it clears only after its condition "
            "has been gone that long"
        )
        self.off_delay_btn.clicked.connect(self._off_delay_selected)
        self.shelve_btn = QPushButton("Shelve…")
        self.shelve_btn.setToolTip("Hide the selected alarm for a while, with a reason and an expiry")
        self.unshelve_btn = QPushButton("Unshelve")
        self.unshelve_btn.setToolTip("Put the selected shelved alarm back on the list")
        self.oos_btn = QPushButton("Out of service…")
        self.oos_btn.setToolTip("Take the selected alarm out of service (maintenance), with a reason")
        self.in_service_btn = QPushButton("Return to service…")
        self.in_service_btn.setToolTip("Return the selected out-of-service alarm to service")
        self.show_box = QComboBox()
        self.show_box.addItems(["Alarms needing attention", "Shelved / suppressed"])
        self.show_box.currentIndexChanged.connect(lambda i: self._set_suppressed(i == 1))
        self.ack_btn.clicked.connect(self._ack_selected)
        self.ack_page_btn.clicked.connect(self._ack_page)
        self.shelve_btn.clicked.connect(self._shelve_selected)
        self.unshelve_btn.clicked.connect(self._unshelve_selected)
        self.oos_btn.clicked.connect(lambda: self._oos_selected(True))
        self.in_service_btn.clicked.connect(lambda: self._oos_selected(False))
        self.unshelve_btn.setVisible(False)
        self.in_service_btn.setVisible(False)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.show_box)
        bar.addStretch(1)
        for b in (
            self.ack_btn,
            self.ack_page_btn,
            self.shelve_btn,
            self.off_delay_btn,
            self.oos_btn,
            self.unshelve_btn,
            self.in_service_btn,
        ):
            bar.addWidget(b)
        current = QWidget()
        cl = QVBoxLayout(current)
        cl.setContentsMargins(4, 4, 4, 4)
        cl.addLayout(bar)
        cl.addWidget(self.view, 1)
        self.history = AlarmHistory(units=lambda aid: getattr(self.model.by_id(aid), "unit", "") or "")
        self.tabs = QTabWidget()
        self.tabs.addTab(current, "Current")
        self.tabs.addTab(self.history, "History")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)

    def _set_suppressed(self, on: bool) -> None:
        self.model.set_show_suppressed(on)
        self.ack_btn.setVisible(not on)
        self.ack_page_btn.setVisible(not on)
        self.shelve_btn.setVisible(not on)
        self.off_delay_btn.setVisible(not on)
        self.oos_btn.setVisible(not on)
        self.unshelve_btn.setVisible(on)
        self.in_service_btn.setVisible(on)

    def selected_ids(self) -> list[str]:
        rows = self.view.selectionModel().selectedRows()
        return [af.alarm_id(self.model.view(self.proxy.mapToSource(i).row())) for i in rows]

    def _ack_selected(self) -> None:
        ids = [i for i in self.selected_ids() if not af.is_acked(self.model.by_id(i))]
        if ids:
            self.acknowledge_requested.emit(ids)

    def rows_on_screen(self) -> list[int]:
        """Proxy rows wholly inside the list's viewport: the page the operator can read."""
        height = self.view.viewport().height()
        out = []
        for r in range(self.proxy.rowCount()):
            top = self.view.rowViewportPosition(r)
            if top >= 0 and top + self.view.rowHeight(r) <= height:
                out.append(r)
        return out

    def page_ids(self) -> list[str]:
        """Unacknowledged alarms on screen (what *Acknowledge page* acknowledges)."""
        ids = []
        for r in self.rows_on_screen():
            v = self.model.view(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
            if not af.is_acked(v):
                ids.append(af.alarm_id(v))
        return ids

    def _ack_page(self) -> None:
        ids = self.page_ids()
        if not ids:
            return
        src = self.proxy.mapToSource
        waiting = sum(1 for r in range(self.proxy.rowCount())
                      if not af.is_acked(self.model.view(src(self.proxy.index(r, 0)).row())))
        hidden = waiting - len(ids)
        more = f" ({hidden} more below are left as they are)" if hidden > 0 else ""
        if self.confirm(f"Acknowledge the {len(ids)} unacknowledged alarm(s) on screen?{more}"):
            self.acknowledge_requested.emit(ids)

    def _ask(self, text: str) -> bool:
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(self, "Acknowledge page", text)
        return answer == QMessageBox.StandardButton.Yes

    def _off_delay_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.off_delay_requested.emit(ids[0])

    def _shelve_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.shelve_requested.emit(ids[0])

    def _unshelve_selected(self) -> None:
        for i in self.selected_ids():
            self.unshelve_requested.emit(i)

    def _oos_selected(self, on: bool) -> None:
        ids = self.selected_ids()
        if len(ids) == 1:
            self.out_of_service_requested.emit(ids[0], on)

    def select(self, alarm_id: str) -> bool:
        for r in range(self.proxy.rowCount()):
            v = self.model.view(self.proxy.mapToSource(self.proxy.index(r, 0)).row())
            if af.alarm_id(v) == alarm_id:
                self.view.selectRow(r)
                return True
        return False


def run_actions(fn: Callable[[], None], on_error: Callable[[str], None]) -> None:
    try:
        fn()
    except Exception as e:  # a refused action is a message, not a crash
        on_error(str(e))
