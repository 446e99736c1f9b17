"""Plugins and configuration problems, visible on screen.

A plugin that failed or was rejected, a device profile that was refused, a device whose
discovery failed, a model file the journal does not vouch for: the app goes on without them, so
the operator must be told, calmly and persistently, why something is missing. The status bar
shows an amber indicator while any such problem exists; it opens a list of every problem with
its reason. Help → Plugins… lists every plugin found, whatever its state.
"""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.station.interface import ConfigProblem, PluginRow, Station

PLUGIN_COLUMNS = ("Plugin", "Version", "Source", "State", "Reason")
PROBLEM_COLUMNS = ("Kind", "What", "Reason")


#: what the station reports as missing (the dialog and the status-bar chip show these)
Problem = ConfigProblem


def _table(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> QTableWidget:
    t = QTableWidget(len(rows), len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.verticalHeader().setVisible(False)
    t.setWordWrap(True)
    for i, row in enumerate(rows):
        for j, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setToolTip(text)
            t.setItem(i, j, item)
    h = t.horizontalHeader()
    h.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    h.setSectionResizeMode(len(columns) - 1, QHeaderView.ResizeMode.Stretch)
    t.resizeRowsToContents()
    return t


class _ListDialog(QDialog):
    def __init__(self, title: str, intro: str, table: QTableWidget, parent: QWidget | None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumSize(760, 320)
        self.table = table
        self.intro = label = QLabel(intro)
        label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(label)
        lay.addWidget(table, 1)
        lay.addWidget(buttons)

    def cell(self, row: int, col: int) -> str:
        item = self.table.item(row, col)
        return item.text() if item is not None else ""


class PluginsDialog(_ListDialog):
    """Help → Plugins…: id, version, source, state and the reason for any failure.

    With a station, a plugin awaiting approval can be approved here: *Approve…* (administrator;
    greyed out otherwise, with the role named), then a confirmation showing its id and the
    SHA-256 of its files, where Cancel is the default. The station checks the role again through
    the same core action as ``vigil plugins approve`` and refuses files that changed since."""

    def __init__(
        self,
        plugins: list[PluginRow] | None,
        parent: QWidget | None = None,
        *,
        station: Station | None = None,
        may_approve: bool = False,
        refusal: str = "",
    ):
        rows = plugins or []
        if plugins is None:
            intro = "The plugin host is not available in this build: only built-in drivers are used."
        else:
            bad = sum(1 for r in rows if not r.usable)
            intro = f"{len(rows)} plugin(s) found" + (f", {bad} not usable (see Reason)." if bad else ".")
        super().__init__(
            "Plugins",
            intro,
            _table(PLUGIN_COLUMNS, [tuple(r)[: len(PLUGIN_COLUMNS)] for r in rows]),
            parent,
        )
        self.rows = rows
        self.station = station
        self.may_approve = may_approve
        self.refusal = refusal
        #: ids approved in this dialog (they load from the next start; the row still waits)
        self.approved: set[str] = set()
        self.confirm_box: QMessageBox | None = None
        self.approve_button = QPushButton("Approve…")
        self.result_label = QLabel("")
        self.result_label.setWordWrap(True)
        if station is not None and any(r.awaiting_approval for r in rows):
            bar = QHBoxLayout()
            bar.addWidget(self.approve_button)
            bar.addWidget(self.result_label, 1)
            lay = self.layout()
            assert isinstance(lay, QVBoxLayout)
            lay.insertLayout(2, bar)
        self.approve_button.clicked.connect(self._ask)
        self.table.itemSelectionChanged.connect(self._update_button)
        self._update_button()

    def selected(self) -> PluginRow | None:
        picked = self.table.selectionModel().selectedRows()
        return self.rows[picked[0].row()] if picked else None

    def _update_button(self) -> None:
        row = self.selected()
        ok = row is not None and row.awaiting_approval and row.id not in self.approved
        if not self.may_approve:
            self.approve_button.setEnabled(False)
            self.approve_button.setToolTip(f"Approving a plugin {self.refusal}")
            return
        self.approve_button.setEnabled(ok)
        self.approve_button.setToolTip("Approve the selected plugin, as its files are now, "
                                       "to load from the next start" if ok
                                       else "Select a plugin awaiting approval")

    def _ask(self) -> None:
        row = self.selected()
        if row is None or not row.awaiting_approval or not self.may_approve:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Approve plugin")
        box.setText(f"Approve plugin <b>{escape(row.id)}</b> {escape(row.version)}?")
        box.setInformativeText(
            f"SHA-256 of its files:<br><tt>{row.sha256}</tt><br><br>Its code will run inside Vigil "
            "from the next start, with the station's rights. Approve only a plugin whose source "
            "and digest you have checked. The approval is recorded in the signed journal.")
        approve = box.addButton("Approve", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)  # Enter never approves
        box.setEscapeButton(cancel)
        box.setProperty("plugin_id", row.id)
        box.setProperty("sha256", row.sha256)
        self.confirm_box = box
        box.buttonClicked.connect(lambda b: self._confirmed(row) if b is approve else None)
        box.open()

    def _confirmed(self, row: PluginRow) -> None:
        assert self.station is not None
        try:
            who = self.station.approve_plugin(row.id, row.sha256)
        except Exception as e:  # refused (role, changed files, journal): said, never raised
            self.result_label.setText(f"Not approved: {e}")
            return
        self.approved.add(row.id)
        self.result_label.setText(f"{row.id} approved by {who} (SHA-256 {row.sha256[:16]}…); "
                                  "it loads from the next start.")
        self._update_button()


class ProblemsDialog(_ListDialog):
    """Every configuration problem found at start, with its reason."""

    def __init__(self, problems: list[Problem], parent: QWidget | None = None):
        intro = (
            "Vigil runs without the parts listed here. Fix the file or plugin named, then restart."
            if problems
            else "No configuration problems."
        )
        super().__init__(
            "Configuration problems",
            intro,
            _table(PROBLEM_COLUMNS, [(p.kind, p.what, p.reason) for p in problems]),
            parent,
        )


class ProblemsIndicator(QPushButton):
    """A calm amber status-bar chip, shown only while problems exist; click to list them."""

    open_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("problems")
        self.setFlat(True)
        self.problems: list[Problem] = []
        self.setVisible(False)
        self.clicked.connect(self.open_requested.emit)

    def show_problems(self, problems: list[Problem]) -> None:
        if problems == self.problems and self.isVisible() == bool(problems):
            return  # touch the widget only when something changed
        self.problems = list(problems)
        n = len(problems)
        self.setText(f"{n} configuration problem{'s' if n != 1 else ''}…")
        lines = [f"{p.kind}: {p.what + ': ' if p.what else ''}{p.reason}" for p in problems[:10]]
        self.setToolTip("\n".join(lines))
        self.setVisible(bool(problems))
