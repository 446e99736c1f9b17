"""Plugins and configuration problems, visible on screen.

A plugin that failed or was rejected, a device profile that was refused, a device whose
discovery failed, a model file the journal does not vouch for: the app goes on without them, so
the operator must be told, calmly and persistently, why something is missing. The status bar
shows an amber indicator while any such problem exists; it opens a list of every problem with
its reason. Help → Plugins… lists every plugin found, whatever its state.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.station.interface import ConfigProblem, PluginRow

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
    """Help → Plugins…: id, version, source, state and the reason for any failure."""

    def __init__(self, plugins: list[PluginRow] | None, parent: QWidget | None = None):
        rows = plugins or []
        if plugins is None:
            intro = "The plugin host is not available in this build: only built-in drivers are used."
        else:
            bad = sum(1 for r in rows if not r.usable)
            intro = f"{len(rows)} plugin(s) found" + (f", {bad} not usable (see Reason)." if bad else ".")
        super().__init__(
            "Plugins",
            intro,
            _table(PLUGIN_COLUMNS, [tuple(r) for r in rows]),
            parent,
        )


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
