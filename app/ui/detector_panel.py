"""The detector panel: each anomaly detector's severity, why it last fired, and "learn normal".

Severity is one bounded figure, 0-100 with the alarm threshold at 50 (the same figure the alarm
row, "last anomaly" and ``vigil detect replay`` quote), drawn as a bar with the threshold as a
tick at the middle, so "how close to alarming" is read at a glance; the bar takes an alarm
colour only while the detector is over its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.ui.formatting import format_time
from app.ui.palette import LIGHT, Scheme

RunAsync = Callable[[Callable[[], Any], Callable[[Any], None], Callable[[str], None]], Any]


def finite(x: Any) -> float | None:
    """A number worth drawing: None for missing, NaN (untrained) or infinite values."""
    if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x):
        return float(x)
    return None


SEVERITY_AT_THRESHOLD = 50.0


def severity_of(score: Any, threshold: Any) -> float | None:
    """The core's severity (``100 r / (1 + r)``, r = score / threshold), for status rows that
    carry only the raw score: the same formula, so the same figure."""
    s, t = finite(score), finite(threshold)
    if s is None or t is None or t <= 0:
        return None
    r = max(s / t, 0.0)
    return 100.0 * r / (1.0 + r)


def severity_label(sev: float | None) -> str:
    """'severity 43 (alarm at 50)'; a finite score never reads as 100, a positive one never 0."""
    if sev is None:
        return "no severity yet"
    shown = 99 if 99 < sev < 100 else (1 if 0 < sev < 1 else round(sev))
    return f"severity {shown:.0f} (alarm at {SEVERITY_AT_THRESHOLD:.0f})"


def number_text(x: float) -> str:
    """Scores span decades (0.3 when calm, 30,000 during an overflow): 3 significant digits,
    thousands grouped, never scientific notation."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}" if x != 0 else "0"


def score_text(score: Any, threshold: Any) -> str:
    """'score 0.42 / threshold 1 (42 %)': how close to alarming, in words as well as the bar.
    Far above the threshold a ratio reads better than a percentage ('3,272x threshold')."""
    s, t = finite(score), finite(threshold)
    if t is None:
        return "not trained"
    if s is None:
        return f"no score yet / threshold {number_text(t)}"
    ratio = ""
    if t > 0:
        r = s / t
        ratio = f" ({100.0 * r:.0f} %)" if r < 10 else f" ({r:,.0f}× threshold)"
    return f"score {number_text(s)} / threshold {number_text(t)}{ratio}"


def _field(obj: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        if isinstance(obj, dict) and n in obj:
            return obj[n]
        if hasattr(obj, n):
            return getattr(obj, n)
    return default


class ScoreBar(QWidget):
    """Severity as a bar from 0 to 100, the alarm threshold (50) as a vertical tick at the
    middle. ``set_values(score, threshold)`` still accepts raw scores (converted)."""

    def __init__(self, scheme: Scheme = LIGHT, parent: QWidget | None = None):
        super().__init__(parent)
        self.scheme = scheme
        self.score: float | None = None  # the severity drawn, 0-100
        self.threshold: float | None = SEVERITY_AT_THRESHOLD
        self.setMinimumSize(120, 14)

    def set_values(self, score: float | None, threshold: float | None) -> None:
        self.set_severity(severity_of(score, threshold))

    def set_severity(self, sev: float | None) -> None:
        sev = finite(sev)
        if sev != self.score:
            self.score = sev
            self.update()

    def paintEvent(self, _event: Any) -> None:
        s = self.scheme
        p = QPainter(self)
        r = QRectF(self.rect()).adjusted(0.5, 2.5, -0.5, -2.5)
        p.setPen(QPen(QColor(s.border)))
        p.setBrush(QColor(s.base))
        p.drawRect(r)
        if self.score is not None:
            frac = max(0.0, min(1.0, self.score / 100.0))
            over = self.score > SEVERITY_AT_THRESHOLD
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(s.alarm["high"]) if over else QColor(s.muted))
            p.drawRect(QRectF(r.left(), r.top(), r.width() * frac, r.height()))
            p.setPen(QPen(QColor(s.text), 2))
            x = r.left() + r.width() / 2
            p.drawLine(int(x), int(r.top() - 2), int(x), int(r.bottom() + 2))
        p.end()


class DetectorPanel(QWidget):
    learn_requested = Signal(str)  # group; the main window opens the learn-normal dialog

    def __init__(
        self,
        *,
        status: Callable[[], list[Any]],
        devices: list[str] | None = None,
        scheme: Scheme = LIGHT,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._status = status
        self.devices = list(devices or [])
        self.scheme = scheme
        self.grid = QGridLayout()
        self.grid.setColumnStretch(1, 1)
        self.rows: dict[str, tuple[QLabel, ScoreBar, QLabel, QLabel]] = {}
        self.group = QComboBox()
        self.group.setMinimumWidth(120)
        self.group.setToolTip("The device whose numeric points the detector learns")
        self.group.addItems(self.devices)
        self.learn_btn = QPushButton("Learn normal…")
        self.learn_btn.setToolTip(
            "Choose a training window (or select a range on the trend first), check the model "
            "and enable it; needs the engineer role"
        )
        self.learn_btn.clicked.connect(lambda: self.learn_requested.emit(self.group.currentText()))
        self.dialog: Any = None  # the learn-normal dialog last opened
        self.message = QLabel("")
        self.message.setObjectName("muted")
        self.message.setWordWrap(True)
        self.empty = QLabel("No detector trained yet. Press Learn normal and pick a calm stretch.")
        self.empty.setWordWrap(True)
        self.empty.setObjectName("muted")
        learn = QHBoxLayout()
        learn.addWidget(self.group, 1)
        learn.addWidget(self.learn_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addWidget(self.empty)
        lay.addLayout(self.grid)
        lay.addStretch(1)
        lay.addLayout(learn)
        lay.addWidget(self.message)

    def refresh(self) -> None:
        try:
            groups = list(self._status())
        except Exception as e:  # a failing detector engine is reported, not fatal
            self.message.setText(f"detector status unavailable: {e}")
            return
        self.show_status(groups)

    def show_status(self, groups: list[Any]) -> None:
        self.empty.setVisible(not groups)
        names = [str(_field(g, "name", "group", "id", default="?")) for g in groups]
        choices = list(dict.fromkeys([*self.devices, *names]))
        if choices != [self.group.itemText(i) for i in range(self.group.count())]:
            current = self.group.currentText()
            self.group.clear()
            self.group.addItems(choices)
            if current in choices:
                self.group.setCurrentText(current)
        for name, g in zip(names, groups, strict=True):
            if name not in self.rows:
                r = len(self.rows)
                label, bar, value, why = QLabel(name), ScoreBar(self.scheme), QLabel(""), QLabel("")
                why.setObjectName("muted")
                why.setWordWrap(True)
                self.grid.addWidget(label, 2 * r, 0)
                self.grid.addWidget(bar, 2 * r, 1)
                self.grid.addWidget(value, 2 * r, 2)
                self.grid.addWidget(why, 2 * r + 1, 0, 1, 3)
                self.rows[name] = (label, bar, value, why)
            label, bar, value, why = self.rows[name]
            sev = finite(_field(g, "severity"))
            if sev is None:
                sev = severity_of(_field(g, "score"), _field(g, "threshold"))
            state = _field(g, "state", default=None)
            trained = _field(g, "trained", default=True) and finite(_field(g, "threshold")) is not None
            bar.set_severity(sev if trained else None)
            text = severity_label(sev) if trained else "not trained"
            if value.text() != text:
                value.setText(text)
            expl = _field(g, "explanation", "last_explanation", default=None)
            when = _field(g, "last_anomaly_at", "last_anomaly", default=None)
            parts = []
            if state:
                parts.append(str(state))
            if expl:
                at = f" at {format_time(when)}" if isinstance(when, (int, float)) else ""
                parts.append(f"last anomaly{at}: {expl}")
            why.setText(" · ".join(parts))

    def open_learn_dialog(
        self,
        group: str,
        *,
        preview: Callable[[float, float], Any],
        enable: Callable[[float, float], Any],
        run_async: RunAsync,
        selected: tuple[float, float] | None,
        can_enable: bool,
        refusal: str = "",
        now: Callable[[], float] | None = None,
    ) -> Any:
        """Open the learn-normal dialog for ``group`` (non-modal; kept in ``self.dialog``)."""
        from app.ui.learn_normal_dialog import LearnNormalDialog

        if self.dialog is not None:
            self.dialog.close()
        kw: dict[str, Any] = {"now": now} if now is not None else {}
        dlg = LearnNormalDialog(group, preview=preview, enable=enable, run_async=run_async,
                                selected=selected, can_enable=can_enable, refusal=refusal,
                                scheme=self.scheme, parent=self, **kw)
        dlg.learned.connect(lambda info, g=group: self._learned(g, info))
        self.dialog = dlg
        self.message.setText(f"learn normal for '{group}': check the window, then enable")
        dlg.show()
        return dlg

    def _learned(self, group: str, info: Any) -> None:
        tags = ", ".join(t.rsplit(".", 1)[-1] for t in (getattr(info, "tags", []) or []))
        self.message.setText(f"learned normal for '{group}' ({getattr(info, 'detector', '?')}) "
                             f"from {tags}")
        self.refresh()

    def set_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        for _, bar, _, _ in self.rows.values():
            bar.scheme = scheme
            bar.update()

