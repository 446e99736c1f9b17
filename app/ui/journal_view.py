"""The journal viewer: read the signed event journal, filter it, verify it, export its head.

Reading and verifying touch SQLite and check signatures, so both run on a worker thread. The
verification verdict is shown in words; only a failed verification gets colour. Exporting the
signed head writes a small file the operator can keep on other media, which is what makes a
later truncation or rewrite of the journal detectable.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui.formatting import format_time

KIND_FILTERS = [
    "all kinds",
    "alarm",
    "setpoint",
    "user",
    "config",
    "plugin",
    "model",
    "detector",
    "note",
    "app",
    "system",
]
RunAsync = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], Any]


def _fields(body: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted name, text) for every leaf of a journal body, in the body's own order."""
    if isinstance(body, dict):
        out: list[tuple[str, str]] = []
        for key, value in body.items():
            out += _fields(value, f"{prefix}{key}." if isinstance(value, dict) else f"{prefix}{key}")
        return out
    if isinstance(body, list):
        text = ", ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in body)
        return [(prefix.rstrip("."), text or "none")]
    if body is None:
        return [(prefix.rstrip("."), "none")]
    if isinstance(body, bool):
        return [(prefix.rstrip("."), "yes" if body else "no")]
    return [(prefix.rstrip("."), str(body))]


def readable_body(body: Any) -> tuple[str, str]:
    """A journal event's body as people read it: one line of ``name value`` fields for the
    table (``alarm tank.level:HIHI · state unack_active``) and one ``name: value`` per line for
    the tooltip, instead of raw JSON. Text bodies are shown as they are."""
    if isinstance(body, str):
        return body, body
    fields = [(k.replace("_", " "), v) for k, v in _fields(body) if k]
    line = " · ".join(f"{k} {v}" for k, v in fields)
    full = "\n".join(f"{k}: {v}" for k, v in fields)
    return line, full


class JournalView(QWidget):
    verified = Signal(bool, str)

    def __init__(
        self,
        *,
        reader: Callable[[dict[str, Any]], list[dict[str, Any]]],
        verifier: Callable[[], tuple[bool, str]],
        exporter: Callable[[str], str],
        run_async: RunAsync,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._reader = reader
        self._verifier = verifier
        self._exporter = exporter
        self._run_async = run_async
        self._loading = False
        self.rows: list[dict[str, Any]] = []
        self.kind = QComboBox()
        self.kind.addItems(KIND_FILTERS)
        self.actor = QLineEdit(placeholderText="actor")
        self.text = QLineEdit(placeholderText="search text in events")
        self.refresh_btn = QPushButton("Refresh")
        self.verify_btn = QPushButton("Verify journal")
        self.export_btn = QPushButton("Export signed head…")
        self.state = QLabel("Not verified in this session")
        self.state.setObjectName("muted")
        self.count = QLabel("")
        self.count.setObjectName("muted")
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["Seq", "Time", "Kind", "Actor", "Details"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        for col, w in ((0, 60), (1, 140), (2, 130), (3, 90)):
            self.table.horizontalHeader().resizeSection(col, w)
        self.kind.currentIndexChanged.connect(self.refresh)
        for line in (self.actor, self.text):
            line.returnPressed.connect(self.refresh)
        self.refresh_btn.clicked.connect(self.refresh)
        self.verify_btn.clicked.connect(self.verify)
        self.export_btn.clicked.connect(self._export_clicked)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.kind)
        bar.addWidget(self.actor, 1)
        bar.addWidget(self.text, 2)
        bar.addWidget(self.refresh_btn)
        foot = QHBoxLayout()
        foot.setContentsMargins(0, 0, 0, 0)
        foot.addWidget(self.state, 1)
        foot.addWidget(self.count)
        foot.addWidget(self.verify_btn)
        foot.addWidget(self.export_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        lay.addLayout(foot)
        self._auto = QTimer(self)
        self._auto.setInterval(5000)
        self._auto.timeout.connect(self._auto_refresh)
        self._auto.start()

    def filters(self) -> dict[str, Any]:
        f: dict[str, Any] = {"limit": 500}
        if self.kind.currentIndex() > 0:
            f["kind"] = self.kind.currentText()
        if self.actor.text().strip():
            f["actor"] = self.actor.text().strip()
        if self.text.text().strip():
            f["text"] = self.text.text().strip()
        return f

    def _auto_refresh(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        if self._loading:
            return
        self._loading = True
        f = self.filters()
        self._run_async(lambda: self._reader(f), self._show, self._read_failed)

    def _show(self, rows: list[dict[str, Any]]) -> None:
        self._loading = False
        if rows == self.rows and self.table.rowCount() == len(rows):
            return  # the 5 s refresh found nothing new: 2,500 cells are not made again
        self.rows = rows
        self.table.setRowCount(len(rows))
        for i, r in enumerate(reversed(rows)):  # newest first
            body = r.get("body")
            details, full = readable_body(body)
            for j, text in enumerate(
                (
                    str(r.get("seq", "")),
                    format_time(r.get("ts")),
                    str(r.get("kind", "")),
                    str(r.get("actor", "")),
                    details,
                )
            ):
                item = QTableWidgetItem(text)
                if j == 4:
                    item.setToolTip(full)
                self.table.setItem(i, j, item)
        self.count.setText(f"{len(rows)} event(s) shown")

    def _read_failed(self, message: str) -> None:
        self._loading = False
        self.count.setText(f"cannot read the journal: {message}")

    def verify(self) -> None:
        self.verify_btn.setEnabled(False)
        self.state.setObjectName("muted")
        self.state.setText("Verifying…")
        self._run_async(self._verifier, self._verified, lambda m: self._verified((False, m)))

    def _verified(self, outcome: tuple[bool, str]) -> None:
        ok, message = outcome
        self.verify_btn.setEnabled(True)
        self.state.setObjectName("muted" if ok else "verifyBad")
        self.state.setText(("Verified: " if ok else "VERIFICATION FAILED: ") + message)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)
        self.verified.emit(ok, message)

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Export signed journal head", "journal-head.json", "JSON (*.json)"
        )
        if path:
            self.export_to(path)

    def export_to(self, path: str) -> None:
        self._run_async(
            lambda: self._exporter(path),
            lambda msg: self.state.setText(str(msg)),
            lambda m: self.state.setText(f"export failed: {m}"),
        )
