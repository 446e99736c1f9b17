"""The setpoint dialog: the only way an operator changes a value on a device from the screen.

It shows what is there now (value, unit, quality, limits), refuses anything outside the write
limits before it can be sent, asks for an explicit second action that restates the change, runs
the write on a worker thread (the core checks the role, writes with priority, reads back and
journals old/new/read-back), and shows the read-back. Polling updates only the "current value"
label; the entry the operator is typing into is never touched by live data.

Two rules learnt the hard way:
- The Enter key never writes. No button is a default button, none is auto-default, and the
  dialog swallows Enter: a key press that asked for the confirmation must not also give it.
- A read-back of the setpoint register proves only that the register holds the number. When
  the profile names the point's ``feedback`` (the valve's position for a valve setpoint), the
  dialog shows that process value and warns when it has not followed within the profile's
  ``feedback_time_s``; the alarm engine raises the FEEDBACK alarm for the same condition.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent
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
        feedback: tuple[str, Any, Sample | None] | None = None,
    ):
        """``feedback``: (tag, point, latest sample) of the process value this setpoint drives."""
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
        self.write_btn.clicked.connect(self._write_clicked)
        self.confirm_btn = QPushButton("")
        self.confirm_btn.setVisible(False)
        self.confirm_btn.clicked.connect(self._confirmed)
        self.cancel_btn = QPushButton("Close")
        self.cancel_btn.clicked.connect(self._cancel)
        for b in (self.write_btn, self.confirm_btn, self.cancel_btn):
            b.setAutoDefault(False)  # Enter must never press a button here (see module doc)
            b.setDefault(False)

        # the process value the setpoint drives (e.g. a valve's position), when the profile says
        self.feedback_tag: str | None = None
        self.feedback_unit = ""
        self.feedback_tolerance = 0.0
        self.feedback_time_s = 0.0
        self.feedback_value: float | None = None
        self.feedback_label = QLabel("—")
        self.feedback_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.follow_warning = QLabel("")
        self.follow_warning.setObjectName("warning")
        self.follow_warning.setWordWrap(True)
        self._follow_timer = QTimer(self)
        self._follow_timer.setSingleShot(True)
        self._follow_timer.timeout.connect(self._check_follow)
        self._written: float | None = None
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.write_btn)
        buttons.addWidget(self.confirm_btn)
        buttons.addWidget(self.cancel_btn)

        form = QFormLayout()
        form.addRow("Tag", QLabel(f"<b>{tag}</b>  {point.description}"))
        form.addRow("Current value", self.current)
        form.addRow("", self.quality)
        if feedback is not None:
            from app.core.alarms.definitions import feedback_tolerance

            fb_tag, fb_point, fb_sample = feedback
            self.feedback_tag = fb_tag
            self.feedback_unit = fb_point.unit or ""
            self.feedback_tolerance = feedback_tolerance(point)
            self.feedback_time_s = float(point.feedback_time_s)
            form.addRow(f"Process value ({fb_point.description or fb_tag})", self.feedback_label)
            self.update_feedback(fb_sample)
        form.addRow("Write limits", self.limits)
        form.addRow("New value", entry_row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.problem)
        lay.addWidget(self.outcome)
        lay.addWidget(self.follow_warning)
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

    def update_feedback(self, sample: Sample | None) -> None:
        """The process value the setpoint drives (never touches the entry)."""
        if sample is None or sample.value is None:
            self.feedback_value = None
            self.feedback_label.setText("—")
            return
        u = f" {self.feedback_unit}" if self.feedback_unit else ""
        text = format_value(sample.value) + u
        if not sample.quality.is_good:
            self.feedback_value = None
            self.feedback_label.setText(f"<s>{text}</s> ({quality_text(sample.quality)})")
            return
        self.feedback_value = float(sample.value)
        self.feedback_label.setText(text)
        if self._written is not None and self.follows():
            self._follow_timer.stop()
            self.follow_warning.setText(f"The process value follows: {text}.")

    def follows(self) -> bool:
        """Is the process value within the tolerance of what was written?"""
        if self._written is None or self.feedback_value is None:
            return False
        return abs(self.feedback_value - self._written) <= self.feedback_tolerance

    def _check_follow(self) -> None:
        if self._written is None or self.follows():
            return
        u = f" {self.feedback_unit}" if self.feedback_unit else ""
        now = "no good value" if self.feedback_value is None else format_value(self.feedback_value) + u
        self.follow_warning.setText(
            f"<b>Not following:</b> the process value reads {now} {self.feedback_time_s:g} s after "
            f"writing {format_value(self._written)}{u}. Check the equipment (stuck valve?)."
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter and Return do nothing here: writing takes two explicit actions, always."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            event.accept()
            return
        super().keyPressEvent(event)

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
        self.confirm_btn.setVisible(True)  # focus stays where it was: no key can confirm by accident
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
            f"Written. The setpoint register reads back <b>{format_value(rb)}{u}</b> "
            f"(was {format_value(old)}{u}).{verdict}"
        )
        if self.feedback_tag is not None and isinstance(self.pending, (int, float)):
            self._written = float(self.pending)
            self.follow_warning.setText(
                f"Watching the process value: it should follow within {self.feedback_time_s:g} s."
            )
            self._follow_timer.start(int(self.feedback_time_s * 1000))
        self._reset_confirm()
        self.confirm_btn.setEnabled(True)
        self.entry.setEnabled(True)

    def _failed(self, message: str) -> None:
        self.outcome.setText(f"<b>Not written:</b> {message}")
        self._reset_confirm()
        self.confirm_btn.setEnabled(True)
        self.entry.setEnabled(True)
