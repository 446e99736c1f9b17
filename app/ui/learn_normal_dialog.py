"""*Learn normal*, asked and checked before anything changes.

The engineer picks the training window (the range selected on the trend, or the last 10 min /
30 min / 1 h / 4 h), sees exactly which time range that is, and gets the candidate model judged
before it goes into service: coverage warnings (too short, too few operating states, tags that
never moved) and a backtest of how often it would have alarmed on recent history. Only then
*Enable* (which needs the engineer role, like before) fits, saves and journals the model.

The dialog only talks to two callables (``preview`` and ``enable``, both run off the GUI
thread through ``run_async``), so it works the same against an in-process core or a remote
station, and tests drive it with a real detector engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.formatting import format_time
from app.ui.palette import LIGHT, Scheme

RunAsync = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], Any]

#: the choices offered besides the trend selection: label, seconds back from now
RECENT_WINDOWS: tuple[tuple[str, float], ...] = (
    ("Last 10 minutes", 600.0),
    ("Last 30 minutes", 1800.0),
    ("Last hour", 3600.0),
    ("Last 4 hours", 4 * 3600.0),
)
SELECTED = "Range selected on the trend"


class BacktestLike(Protocol):
    def summary(self) -> str: ...


class ReportLike(Protocol):
    """What ``preview`` returns (`app.core.detection.candidate.CandidateReport`)."""

    rows: int
    tags: list[str]
    warnings: list[str]
    backtest: Any


def duration_text(seconds: float) -> str:
    if seconds >= 7200:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def range_text(t0: float, t1: float) -> str:
    """'2026-12-06 01:10:00 – 01:40:00 (30 min)': the date once when both ends share it."""
    a, b = format_time(t0), format_time(t1)
    if a[:10] == b[:10]:
        b = b[11:]
    return f"{a} – {b} ({duration_text(t1 - t0)})"


class LearnNormalDialog(QDialog):
    """Choose a window, check the candidate, then enable it (engineer role)."""

    learned = Signal(object)  # the ModelInfo of the model put into service

    def __init__(
        self,
        group: str,
        *,
        preview: Callable[[float, float], ReportLike],
        enable: Callable[[float, float], Any],
        run_async: RunAsync,
        now: Callable[[], float] = time.time,
        selected: tuple[float, float] | None = None,
        can_enable: bool = True,
        refusal: str = "",
        scheme: Scheme = LIGHT,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle(f"Learn normal: {group}")
        self.setMinimumWidth(520)
        self.group = group
        self._preview, self._enable, self._run = preview, enable, run_async
        self._now = now
        self._selected = selected
        self._can_enable = can_enable
        self._refusal = refusal
        self._token = 0  # results of an older window are ignored
        self.report: ReportLike | None = None
        self.window_range: tuple[float, float] | None = None

        self.choice = QComboBox()
        if selected is not None:
            self.choice.addItem(SELECTED)
        for label, _ in RECENT_WINDOWS:
            self.choice.addItem(label)
        self.range_label = QLabel("")
        self.range_label.setObjectName("range")
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.warning = QLabel("")
        self.warning.setObjectName("coverageWarning")
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(
            f"QLabel {{ border-left: 6px solid {scheme.notice}; padding: 4px 8px; "
            f"background: {scheme.base}; color: {scheme.text}; }}")
        self.warning.hide()
        self.backtest = QLabel("")
        self.backtest.setWordWrap(True)
        self.tags_label = QLabel("")
        self.tags_label.setObjectName("muted")
        self.tags_label.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Training window", self.choice)
        form.addRow("Time range", self.range_label)
        form.addRow("Tags", self.tags_label)
        self.buttons = QDialogButtonBox()
        self.enable_btn = QPushButton("Enable model")
        self.enable_btn.setEnabled(False)
        self.buttons.addButton(self.enable_btn, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.rejected.connect(self.reject)
        self.enable_btn.clicked.connect(self._on_enable)

        lay = QVBoxLayout(self)
        intro = QLabel(f"Vigil learns what normal running of '{group}' looks like from the window "
                       "below. Check the result before enabling it: a model learned from too "
                       "little of normal operation alarms for the wrong reasons.")
        intro.setWordWrap(True)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.warning)
        lay.addWidget(self.backtest)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self.choice.currentIndexChanged.connect(lambda _i: self.check())
        self.check()

    # ------------------------------------------------------------------ window and preview

    def current_range(self) -> tuple[float, float]:
        label = self.choice.currentText()
        if label == SELECTED and self._selected is not None:
            return self._selected
        seconds = dict(RECENT_WINDOWS)[label]
        t1 = self._now()
        return t1 - seconds, t1

    def check(self) -> None:
        """Fit the candidate for the chosen window off the GUI thread and show the verdict."""
        t0, t1 = self.window_range = self.current_range()
        self.range_label.setText(range_text(t0, t1))
        self.report = None
        self.enable_btn.setEnabled(False)
        self.warning.hide()
        self.backtest.setText("")
        self.tags_label.setText("")
        self.status.setText("checking the window and backtesting on recent history…")
        self._token += 1
        token = self._token

        def done(report: ReportLike) -> None:
            if token == self._token:
                self.show_report(report)

        def failed(message: str) -> None:
            if token == self._token:
                self.status.setText(f"cannot learn from this window: {message}")

        self._run(lambda: self._preview(t0, t1), done, failed)

    def show_report(self, report: ReportLike) -> None:
        self.report = report
        self.tags_label.setText(
            f"{len(report.tags)} tags, {report.rows:,} rows: "
            + ", ".join(t.rsplit(".", 1)[-1] for t in report.tags))
        if report.warnings:
            self.warning.setText("Warning:\n" + "\n".join(f"• {w}" for w in report.warnings))
            self.warning.show()
        else:
            self.warning.hide()
        bt = report.backtest
        self.backtest.setText("Backtest: the candidate model " + bt.summary() if bt is not None else "")
        self.status.setText("")
        self.enable_btn.setText("Enable anyway" if report.warnings else "Enable model")
        self.enable_btn.setEnabled(self._can_enable)
        self.enable_btn.setToolTip("" if self._can_enable else self._refusal)
        if not self._can_enable:
            self.status.setText(self._refusal or "enabling a model needs the engineer role")
        self.adjustSize()

    @property
    def warnings(self) -> Sequence[str]:
        return list(self.report.warnings) if self.report is not None else []

    # ------------------------------------------------------------------ enable

    def _on_enable(self) -> None:
        if self.report is None or self.window_range is None or not self._can_enable:
            return
        t0, t1 = self.window_range
        self.enable_btn.setEnabled(False)
        self.choice.setEnabled(False)
        self.status.setText("learning normal and putting the model into service…")

        def done(info: Any) -> None:
            self.learned.emit(info)
            self.accept()

        def failed(message: str) -> None:
            self.choice.setEnabled(True)
            self.enable_btn.setEnabled(True)
            self.status.setText(f"learn normal failed: {message}")

        self._run(lambda: self._enable(t0, t1), done, failed)
