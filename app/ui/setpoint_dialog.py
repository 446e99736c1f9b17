"""The setpoint dialog: the only way an operator changes a value on a device from the screen.

It shows what is there now (value, unit, quality, limits), refuses anything outside the write
limits before it can be sent, asks for an explicit second click that restates the change, runs
the write on a worker thread (the core checks the role, writes with priority, reads back and
journals old/new/read-back), and shows the read-back. Polling updates only the "current value"
label; the entry the operator is typing into is never touched by live data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.model import Quality, Sample
from app.ui.formatting import format_value, quality_text

RunAsync = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], Any]


def _limits_text(lo: float | None, hi: float | None, unit: str) -> str:
    if lo is None and hi is None:
        return "no write limits in the profile"
    u = f" {unit}" if unit else ""
    return (
        f"{format_value(lo) if lo is not None else '−∞'} … {format_value(hi) if hi is not None else '+∞'}{u}"
    )


class SetpointDialog(QDialog):
    def __init__(
        self,
        tag: str,
        point: Any,
        current: Sample | None,
        write: Callable[[Any], Any],
        run_async: RunAsync,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle(f"Write setpoint — {tag}")
        self.setMinimumWidth(420)
        self.tag = tag
        self.point = point
        self._write = write
        self._run_async = run_async
        self.is_bool = str(point.type) == "bool"
        self.unit = point.unit or ""
        self.lo: float | None = point.min
        self.hi: float | None = point.max
        self.pending: Any = None
        self.result: Any = None
        #: set by the main window from the session; the core checks again when writing
        self.allowed = True
        self.refusal = ""

        self.current = QLabel("—")
        self.current.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.quality = QLabel("")
        self.quality.setObjectName("muted")
        self.limits = QLabel(_limits_text(self.lo, self.hi, self.unit))
        self.limits.setObjectName("muted")
        if self.is_bool:
            self.entry: QLineEdit | QComboBox = QComboBox()
            self.entry.addItems(["OFF", "ON"])
            self.entry.currentIndexChanged.connect(self._validate)
        else:
            self.entry = QLineEdit()
            self.entry.setPlaceholderText("new value")
            self.entry.textEdited.connect(self._validate)
            self.entry.returnPressed.connect(self._write_clicked)
        unit_label = QLabel(self.unit)
        entry_row = QHBoxLayout()
        entry_row.addWidget(self.entry, 1)
        entry_row.addWidget(unit_label)
        self.problem = QLabel("")
        self.problem.setObjectName("muted")
        self.problem.setWordWrap(True)
        self.outcome = QLabel("")
        self.outcome.setWordWrap(True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.write_btn = QPushButton("Write…")
        self.write_btn.setDefault(True)
        self.write_btn.clicked.connect(self._write_clicked)
        self.confirm_btn = QPushButton("")
        self.confirm_btn.setVisible(False)
        self.confirm_btn.clicked.connect(self._confirmed)
        self.cancel_btn = QPushButton("Close")
        self.cancel_btn.clicked.connect(self._cancel)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.write_btn)
        buttons.addWidget(self.confirm_btn)
        buttons.addWidget(self.cancel_btn)

        form = QFormLayout()
        form.addRow("Tag", QLabel(f"<b>{tag}</b>  {point.description}"))
        form.addRow("Current value", self.current)
        form.addRow("", self.quality)
        form.addRow("Write limits", self.limits)
        form.addRow("New value", entry_row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(self.outcome)
        lay.addLayout(buttons)
        self.update_current(current)
        self._validate()

    # -- live data (never touches the entry) --------------------------------------------------
    def update_current(self, sample: Sample | None) -> None:
        if sample is None:
            self.current.setText("—")
            self.quality.setText("no value received yet")
            return
        u = f" {self.unit}" if self.unit else ""
        text = format_value(sample.value) + u
        if not sample.quality.is_good:
            self.current.setText(f"<s>{text}</s>")
            self.quality.setText(f"quality {quality_text(sample.quality)}: this is the last value received")
        else:
            self.current.setText(text)
            self.quality.setText(f"quality {quality_text(Quality.GOOD)}")

    # -- validation -------------------------------------------------------------------------
    def parsed_value(self) -> tuple[Any, str | None]:
        """The entered value and, if it cannot be written, why."""
        if self.is_bool:
            assert isinstance(self.entry, QComboBox)
            return self.entry.currentIndex() == 1, None
        assert isinstance(self.entry, QLineEdit)
        text = self.entry.text().strip().replace(",", ".")
        if not text:
            return None, "enter a value"
        try:
            value = float(text)
        except ValueError:
            return None, f"'{self.entry.text()}' is not a number"
        if not math.isfinite(value):
            return None, "the value must be a finite number"
        if self.lo is not None and value < self.lo:
            return (
                None,
                f"{format_value(value)} is below the lowest allowed value "
                f"{format_value(self.lo)} {self.unit}",
            )
        if self.hi is not None and value > self.hi:
            return (
                None,
                f"{format_value(value)} is above the highest allowed value "
                f"{format_value(self.hi)} {self.unit}",
            )
        if str(self.point.type).startswith(("int", "uint")):
            # an integer register holds (value - offset) / scale: only whole steps are exact
            scale, offset = float(self.point.scale), float(self.point.offset)
            steps = (value - offset) / scale
            if abs(steps - round(steps)) > 1e-6:
                step = format_value(abs(scale), 6).rstrip("0").rstrip(".")
                return None, f"{self.tag} takes values in steps of {step} {self.unit}".rstrip()
            if scale == 1.0 and offset == 0.0:
                return round(value), None
        return value, None

    def _validate(self, *_: Any) -> bool:
        self._reset_confirm()
        _, problem = self.parsed_value()
        if problem is None and not self.allowed:
            problem = f"Writing is not allowed: {self.refusal}"
        self.problem.setText(problem or "")
        self.write_btn.setEnabled(problem is None)
        return problem is None

    def set_permission(self, allowed: bool, refusal: str = "") -> None:
        """Grey out writing for a session without the permission (view stays useful)."""
        self.allowed, self.refusal = allowed, refusal
        if not allowed and self.pending is not None:
            self._reset_confirm()
        self._validate()

    # -- write: two clicks, then off the GUI thread ---------------------------------------------
    def _write_clicked(self) -> None:
        if not self._validate():
            return
        value, _ = self.parsed_value()
        self.pending = value
        u = f" {self.unit}" if self.unit else ""
        self.write_btn.setVisible(False)
        self.confirm_btn.setText(f"Confirm: write {format_value(value)}{u} to {self.tag}")
        self.confirm_btn.setVisible(True)
        self.confirm_btn.setFocus()
        self.cancel_btn.setText("Cancel")

    def _reset_confirm(self) -> None:
        self.pending = None
        self.confirm_btn.setVisible(False)
        self.write_btn.setVisible(True)
        self.cancel_btn.setText("Close")

    def _cancel(self) -> None:
        if self.pending is not None:
            self._reset_confirm()
        else:
            self.reject()

    def _confirmed(self) -> None:
        value = self.pending
        if value is None:
            return
        self.confirm_btn.setEnabled(False)
        self.entry.setEnabled(False)
        self.outcome.setText("writing…")
        self._run_async(lambda: self._write(value), self._done, self._failed)

    def _done(self, result: Any) -> None:
        self.result = result
        u = f" {self.unit}" if self.unit else ""
        rb = getattr(result, "readback", None)
        old = getattr(result, "old", None)
        match = rb == self.pending or (
            isinstance(rb, float)
            and isinstance(self.pending, (int, float))
            and math.isclose(rb, self.pending, rel_tol=1e-6, abs_tol=1e-6)
        )
        verdict = "" if match else "  <b>The device reads back a different value.</b>"
        self.outcome.setText(
            f"Written. Device reads back <b>{format_value(rb)}{u}</b> (was {format_value(old)}{u}).{verdict}"
        )
        self._reset_confirm()
        self.confirm_btn.setEnabled(True)
        self.entry.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.outcome.setText(f"<b>Not written:</b> {message}")
        self._reset_confirm()
        self.confirm_btn.setEnabled(True)
        self.entry.setEnabled(True)
