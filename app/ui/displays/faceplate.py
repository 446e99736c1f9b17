"""Level 3: the faceplate of one object (a symbol's tags, or a whole device).

Its values with unit and quality, a short trend of the main value (the last five minutes from
the historian, then live), the alarms on its tags, the setpoint button (the existing two-step
setpoint dialog, greyed by the role there), and its device's communication diagnostics.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QGraphicsScene,
    QGraphicsView,
    QGridLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.displays import Binding, Box
from app.core.model import Quality, Sample
from app.core.profiles import Point
from app.station.interface import DeviceDiagnostics, Series
from app.ui.device_tree import diag_fields
from app.ui.displays.live import LiveModel
from app.ui.displays.symbols import Context, SparklineItem, SymbolStyle
from app.ui.formatting import format_age, format_value, quality_text
from app.ui.palette import Scheme

TREND_S = 300.0


class Faceplate(QDialog):
    def __init__(
        self,
        tags: list[str],
        device: str | None,
        live: LiveModel,
        points: dict[str, Point],
        scheme: Scheme,
        *,
        history: Callable[[list[str], float, float, int], dict[str, Series]] | None = None,
        run_async: Callable[..., Any] | None = None,
        open_setpoint: Callable[[str], Any] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.tags = [t for t in dict.fromkeys(tags) if t in points]
        self.device = device or (self.tags[0].split(".", 1)[0] if self.tags else "")
        self.live = live
        self.points = points
        main = next(
            (t for t in self.tags if points[t].type not in ("bool", "string")),
            self.tags[0] if self.tags else "",
        )
        self.main_tag = main
        title = points[main].description if main else self.device
        self.setWindowTitle(f"Faceplate — {main or self.device}")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        head = QLabel(f"<b>{title}</b> <span style='color:gray'>{main or self.device}</span>")
        layout.addWidget(head)

        values = QGroupBox("Values")
        grid = QGridLayout(values)
        self.value_labels: dict[str, QLabel] = {}
        self.quality_labels: dict[str, QLabel] = {}
        for row, tag in enumerate(self.tags[:16]):
            p = points[tag]
            grid.addWidget(QLabel(p.description or p.name), row, 0)
            v = QLabel("—")
            v.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            grid.addWidget(v, row, 1)
            grid.addWidget(QLabel(p.unit), row, 2)
            q = QLabel("")
            grid.addWidget(q, row, 3)
            self.value_labels[tag] = v
            self.quality_labels[tag] = q
        layout.addWidget(values)

        self.trend_scene = QGraphicsScene(self)
        self.style_ = SymbolStyle(scheme)
        self.spark: SparklineItem | None = None
        if main and points[main].type not in ("bool", "string"):
            b = Binding(
                "faceplate_trend",
                0,
                "sparkline",
                Box(0, 0, 420, 110),
                {"tag": main, "label": "last 5 minutes"},
            )
            self.spark = SparklineItem(b, Context(live, points, self.style_))
            self.trend_scene.addItem(self.spark)
            self.trend_scene.setSceneRect(QRectF(-4, -4, 428, 118))
            view = QGraphicsView(self.trend_scene)
            view.setFixedHeight(130)
            view.setFrameShape(QGraphicsView.Shape.NoFrame)
            layout.addWidget(view)

        alarms = QGroupBox("Alarms")
        al = QVBoxLayout(alarms)
        self.alarm_list = QListWidget()
        self.alarm_list.setMaximumHeight(90)
        al.addWidget(self.alarm_list)
        layout.addWidget(alarms)

        self.setpoint_buttons: dict[str, QPushButton] = {}
        writable = [t for t in self.tags if points[t].writable]
        if writable:
            row_w = QWidget()
            rl = QGridLayout(row_w)
            rl.setContentsMargins(0, 0, 0, 0)
            for i, tag in enumerate(writable):
                btn = QPushButton(f"Setpoint: {points[tag].description or points[tag].name}…")
                btn.clicked.connect(lambda _=False, t=tag: open_setpoint(t) if open_setpoint else None)
                rl.addWidget(btn, i // 2, i % 2)
                self.setpoint_buttons[tag] = btn
            layout.addWidget(row_w)

        diag_box = QGroupBox(f"Diagnostics — {self.device}")
        dl = QVBoxLayout(diag_box)
        self.diag_label = QLabel("waiting for the first poll")
        self.diag_label.setWordWrap(True)
        dl.addWidget(self.diag_label)
        layout.addWidget(diag_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.set_diagnostics(live.diagnostics)
        self.refresh()
        if self.spark is not None and history is not None and run_async is not None:
            tag = main
            t1 = time.time()
            spark = self.spark
            run_async(
                lambda: history([tag], t1 - TREND_S, t1, 300), lambda s: self._history(spark, s.get(tag))
            )

    def _history(self, spark: SparklineItem, series: Series | None) -> None:
        from app.ui.displays.view import fill_from_series

        # the history arrives from a worker: the operator may have closed the faceplate already
        if series is not None and shiboken6.isValid(spark):
            fill_from_series(spark, series)
            spark._look = None
            spark.refresh()

    def on_samples(self, batch: list[Sample]) -> None:
        if any(s.tag in self.value_labels for s in batch):
            self.refresh()

    def refresh(self) -> None:
        st = self.style_
        for tag, label in self.value_labels.items():
            v = self.live.view(tag)
            text = format_value(v.value, 2) if v.quality is not None else "—"
            bad = v.quality is not None and v.quality is not Quality.GOOD
            label.setText(f"<s>{text}</s>" if bad else text)
            label.setStyleSheet(
                f"background:{st.bad.name()}; color:{st.bad_text.name()}; padding:0 4px;" if bad else ""
            )
            q = self.quality_labels[tag]
            q.setText(
                f"{quality_text(v.quality)} · {format_age(v.t, self.live.now)}"
                if v.quality is not None
                else "no value yet"
            )
        self.alarm_list.clear()
        for a in sorted(self.live.alarms.values(), key=lambda a: a.id):
            if a.source in self.tags and a.state.annunciating:
                self.alarm_list.addItem(f"{a.priority.upper()} · {a.id} · {a.state.value} · {a.description}")
        if self.alarm_list.count() == 0:
            self.alarm_list.addItem("no alarms")
        if self.spark is not None:
            self.spark.refresh()

    def set_diagnostics(self, diags: dict[str, DeviceDiagnostics]) -> None:
        d = diags.get(self.device)
        if d is None:
            return
        fields = diag_fields(d)
        self.diag_label.setText(" · ".join(f"{k}: {v}" for k, v in fields.items()))

    def set_scheme(self, scheme: Scheme) -> None:
        self.style_ = SymbolStyle(scheme)
        if self.spark is not None:
            self.spark.ctx.style = self.style_
            self.spark._look = None
        self.refresh()
