"""Plugins and configuration problems, visible on screen.

A plugin that failed or was rejected, a device profile that was refused, a device whose
discovery failed, a model file the journal does not vouch for: the app goes on without them, so
the operator must be told, calmly and persistently, why something is missing. The status bar
shows an amber indicator while any such problem exists; it opens a list of every problem with
its reason. Help → Plugins… lists every plugin found, whatever its state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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

_BAD_PLUGIN_STATES = ("failed", "rejected")
PLUGIN_COLUMNS = ("Plugin", "Version", "Source", "State", "Reason")
PLUGIN_KEYS = ("id", "version", "source", "state", "reason")
PROBLEM_COLUMNS = ("Kind", "What", "Reason")


@dataclass(frozen=True)
class Problem:
    kind: str  # "plugin", "device profile", "configuration"
    what: str  # plugin id, profile file... ('' when the text names it already)
    reason: str


def plugin_rows(core: Any) -> list[dict[str, str]]:
    """Every plugin the host found, as text (``core.plugins`` may be None: plugins unavailable)."""
    host = getattr(core, "plugins", None)
    if host is None:
        return []
    rows = []
    for rec in host.records():
        d = rec.as_dict() if hasattr(rec, "as_dict") else dict(vars(rec))
        rows.append({k: str(d.get(k, "") or "") for k in PLUGIN_KEYS})
    return rows


def collect_problems(core: Any) -> list[Problem]:
    """Failed or rejected plugins, refused device profiles and the core's configuration
    problems, in that order."""
    out = [
        Problem("plugin", r["id"], r["reason"] or r["state"])
        for r in plugin_rows(core)
        if r["state"] in _BAD_PLUGIN_STATES
    ]
    for err in list(getattr(core, "profile_errors", None) or []):
        source = str(getattr(err, "source", ""))
        problems = getattr(err, "problems", None)
        reason = "; ".join(str(p) for p in problems) if problems else str(err)
        out.append(Problem("device profile", source, reason))
    for text in list(getattr(core, "config_problems", None) or []):
        out.append(Problem("configuration", "", str(text)))
    return out


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

    def __init__(self, core: Any, parent: QWidget | None = None):
        rows = plugin_rows(core)
        if getattr(core, "plugins", None) is None:
            intro = "The plugin host is not available in this build: only built-in drivers are used."
        else:
            bad = sum(1 for r in rows if r["state"] in _BAD_PLUGIN_STATES)
            intro = f"{len(rows)} plugin(s) found" + (f", {bad} not usable (see Reason)." if bad else ".")
        super().__init__(
            "Plugins",
            intro,
            _table(PLUGIN_COLUMNS, [tuple(r[k] for k in PLUGIN_KEYS) for r in rows]),
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
