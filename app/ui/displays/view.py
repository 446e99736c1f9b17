"""The display area: a process display in one QGraphicsView, with Home, Back and a breadcrumb.

Level 1 is the generated overview (the first thing shown), Level 2 the unit displays, Level 3 a
faceplate opened by clicking a symbol. A display with problems is not drawn half-broken: its
problems are listed instead, each with the element and the line. The view talks to the
`Station` only, through the main window's bridge signals and task runner.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QMouseEvent, QPainter, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.core.displays import OVERVIEW, Display, DisplayCatalogue, goto_target
from app.core.errors import VigilError
from app.core.model import Quality, Sample
from app.core.profiles import Point
from app.station.interface import AlarmView, DeviceDiagnostics, Station
from app.ui.displays.faceplate import Faceplate
from app.ui.displays.live import LiveModel
from app.ui.displays.scene import DisplayScene
from app.ui.displays.symbols import SparklineItem, SymbolItem
from app.ui.palette import Scheme

#: a display is drawn at least this large (smaller windows scroll) and at most this zoomed
MIN_SCALE, MAX_SCALE = 0.5, 1.6


class DisplayCanvas(QGraphicsView):
    """The view of one scene: fitted to the widget, clicks on symbols reported."""

    activated = Signal(object)  # SymbolItem

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState, True)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.moved: Callable[[], None] | None = None

    def fit(self) -> None:
        scene = self.scene()
        if scene is None:
            return
        r = scene.sceneRect()
        if r.width() <= 0 or r.height() <= 0:
            return
        vw, vh = max(1, self.viewport().width() - 4), max(1, self.viewport().height() - 4)
        s = max(MIN_SCALE, min(MAX_SCALE, vw / r.width(), vh / r.height()))
        self.resetTransform()
        self.scale(s, s)

    def visible_scene_rect(self) -> QRectF:
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()
        if self.moved:
            self.moved()

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self.moved:
            self.moved()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        item = self.itemAt(event.position().toPoint())
        while item is not None and not isinstance(item, SymbolItem):
            item = item.parentItem()
        if isinstance(item, SymbolItem) and event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit(item)
            event.accept()
            return
        super().mousePressEvent(event)


class DisplayView(QWidget):
    """Navigation (home, back, breadcrumb, chooser) over one display at a time."""

    #: the display now shown: (name, title)
    shown = Signal(str, str)
    #: a message for the status bar
    status = Signal(str)

    def __init__(
        self,
        station: Station,
        catalogue: DisplayCatalogue,
        scheme: Scheme,
        *,
        run_async: Callable[..., Any] | None = None,
        open_setpoint: Callable[[str], Any] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.station = station
        self.catalogue = catalogue
        self.scheme = scheme
        self.run_async = run_async
        self.open_setpoint = open_setpoint
        self.live = LiveModel(station.stale_rule())
        plant = station.plant
        self.points: dict[str, Point] = {
            f"{d.name}.{p.name}": p
            for d in plant.devices
            if d.name in plant.profiles
            for p in plant.profiles[d.name].points
        }
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.display: Display | None = None
        self.scene: DisplayScene | None = None
        self.faceplates: list[Faceplate] = []
        self._shown_quality: dict[str, Quality | None] = {}

        bar = QHBoxLayout()
        bar.setContentsMargins(6, 4, 6, 4)
        self.home_btn = QToolButton()
        self.home_btn.setText("⌂ Overview")
        self.home_btn.setToolTip("Level 1: the whole plant")
        self.home_btn.clicked.connect(self.home)
        self.back_btn = QToolButton()
        self.back_btn.setText("‹ Back")
        self.back_btn.clicked.connect(self.back)
        self.crumbs = QHBoxLayout()
        self.crumbs.setSpacing(2)
        self.chooser = QComboBox()
        self.chooser.setMinimumContentsLength(16)
        self.chooser.activated.connect(self._chosen)
        bar.addWidget(self.home_btn)
        bar.addWidget(self.back_btn)
        bar.addSpacing(12)
        bar.addLayout(self.crumbs)
        bar.addStretch(1)
        bar.addWidget(QLabel("Display:"))
        bar.addWidget(self.chooser)

        self.canvas = DisplayCanvas()
        self.canvas.activated.connect(self._activated)
        self.canvas.moved = self._view_moved
        self.problems = QListWidget()
        self.problems_title = QLabel("")
        self.problems_title.setWordWrap(True)
        problems_page = QWidget()
        pl = QVBoxLayout(problems_page)
        pl.addWidget(self.problems_title)
        pl.addWidget(self.problems, 1)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.canvas)
        self.pages.addWidget(problems_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(self.pages, 1)
        self._fill_chooser()
        self._second = QTimer(self)
        self._second.setInterval(1000)
        self._second.timeout.connect(self._each_second)
        self._second.start()
        self.live.apply_samples(sorted(station.latest().values(), key=lambda s: s.t))
        self.live.apply_alarms(station.alarms())

    # ------------------------------------------------------------------ navigation
    def _fill_chooser(self) -> None:
        self.chooser.clear()
        for goto, title in self.catalogue.entries():
            self.chooser.addItem(title, goto)

    def _title_of(self, name: str) -> str:
        if name == OVERVIEW:
            return "Overview"
        return name.replace("_", " ").capitalize()

    def _chosen(self, index: int) -> None:
        name = self.chooser.itemData(index)
        if name:
            self.open(str(name))

    def home(self) -> None:
        self.stack.clear()
        self.open(OVERVIEW)

    def back(self) -> None:
        if len(self.stack) > 1:
            self.stack.pop()
            name, params = self.stack[-1]
            self._show(name, params)

    def open(self, name: str, params: dict[str, str] | None = None) -> Display:
        """Open a display (pushed on the navigation path). A name with '?key=value' carries
        its parameters, as a goto does."""
        if "?" in name:
            name, extra = goto_target(name)
            params = {**extra, **(params or {})}
        params = dict(params or {})
        if name == OVERVIEW:
            self.stack.clear()
        if not self.stack or self.stack[-1] != (name, params):
            self.stack.append((name, params))
        return self._show(name, params)

    def _show(self, name: str, params: dict[str, str],
              record: Callable[[list[str]], bool] | None = None) -> Display:
        display = self.catalogue.load(name, params)
        self.display = display
        old = self.scene
        if display.problems:
            self.scene = None
            self.problems.clear()
            for p in display.problems:
                self.problems.addItem(str(p))
            self.problems_title.setText(
                f"The display '{name}' has {len(display.problems)} problem(s) and is not drawn, so "
                "nothing on it can be mistaken for the plant. Fix the file (vigil display validate) "
                "or choose another display."
            )
            self.pages.setCurrentIndex(1)
            self.status.emit(f"display {name}: {len(display.problems)} problem(s)")
        else:
            self.live.now = time.time()
            self.scene = DisplayScene(
                display, self.live, self.points, self.scheme, self.canvas.visible_scene_rect
            )
            self.canvas.setScene(self.scene)
            self.canvas.fit()
            self.pages.setCurrentIndex(0)
            self._fill_sparklines(self.scene)
        if old is not None:
            old.deleteLater()
        self._shown_quality = {}
        self._update_nav(display)
        goto = name + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
        idx = self.chooser.findData(goto)
        if idx >= 0:
            self.chooser.setCurrentIndex(idx)
        devices = sorted(display.devices())
        medical = [d for d in devices if self._is_medical(d)]
        if medical and (record is None or record(medical)):
            self._record_display_opened(name, medical)
        self.shown.emit(name, display.title)
        return display

    def _is_medical(self, device: str) -> bool:
        prof = self.station.plant.profiles.get(device)
        return prof is not None and prof.device.alarm_signals == "medical"

    def _record_display_opened(self, name: str, devices: list[str]) -> None:
        """A display showing a vital-signs device was opened (``devices``: those devices):
        journaled as ``access.display_opened`` with the user and the beds, never the values
        (HIPAA audit controls). Called on every open, back and home. Off the GUI thread when
        a task runner is there (a connected station asks its nodes over the broker)."""
        scope = f"{name}: {', '.join(devices)}"

        def record() -> None:
            self.station.record_access("display_opened", scope)

        def failed(e: object) -> None:
            self.status.emit(f"could not record who opened {name}: {e}")

        if self.run_async is not None:
            self.run_async(record, lambda _r: None, failed)
            return
        try:
            record()
        except VigilError as e:
            failed(e)

    def _update_nav(self, display: Display) -> None:
        while self.crumbs.count():
            taken = self.crumbs.takeAt(0)
            w = taken.widget() if taken is not None else None
            if w is not None:
                w.hide()  # gone now, not at the next event loop turn
                w.setParent(None)
                w.deleteLater()
        for i, (name, params) in enumerate(self.stack):
            if i:
                sep = QLabel("›")
                sep.setObjectName("muted")
                self.crumbs.addWidget(sep)
            title = display.title if i == len(self.stack) - 1 else self._title_of(name)
            if params and i < len(self.stack) - 1:
                title += " (" + ", ".join(params.values()) + ")"
            btn = QToolButton()
            btn.setText(title)
            btn.setAutoRaise(True)
            btn.setEnabled(i < len(self.stack) - 1)
            btn.clicked.connect(lambda _=False, depth=i: self._crumb(depth))
            self.crumbs.addWidget(btn)
        self.back_btn.setEnabled(len(self.stack) > 1)

    def _crumb(self, depth: int) -> None:
        del self.stack[depth + 1 :]
        name, params = self.stack[-1]
        self._show(name, params)

    def breadcrumb(self) -> list[str]:
        return [self._title_of(n) for n, _ in self.stack]

    def set_catalogue(self, catalogue: DisplayCatalogue) -> None:
        """The plant changed (a node joined or changed its plant): offer its displays, and if
        the overview is shown, show it as the plant is now (it is generated from the plant). A
        display someone drew is kept as it is; one that could not be drawn is tried again, since
        the tags it missed may have just arrived. Opening the overview again is journaled only
        when it now shows patients it did not (``access.display_opened``)."""
        before = self.display
        self.catalogue = catalogue
        plant = catalogue.plant
        # updated in place: the scene and the open faceplates hold this dict
        self.points.clear()
        self.points.update({
            f"{d.name}.{p.name}": p
            for d in plant.devices
            if d.name in plant.profiles
            for p in plant.profiles[d.name].points
        })
        self._fill_chooser()
        if not self.stack:
            return
        name, params = self.stack[-1]
        if name != OVERVIEW and (before is None or not before.problems):
            goto = name + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")
            idx = self.chooser.findData(goto)
            if idx >= 0:
                self.chooser.setCurrentIndex(idx)
            return
        medical_before = {d for d in before.devices() if self._is_medical(d)} if before else set()
        self._show(name, params, record=lambda medical: not set(medical) <= medical_before)

    # ------------------------------------------------------------------ clicks
    def _activated(self, item: SymbolItem) -> None:
        b = item.binding
        if b.goto:
            self.open(b.goto)
            return
        if b.symbol == "tile" and b.attrs.get("device"):
            self.open_faceplate(device=b.attrs["device"])
            return
        if b.tag:
            self.open_faceplate(binding_tags=b.tags(), device=b.device())

    def open_faceplate(
        self, *, binding_tags: list[str] | None = None, device: str | None = None
    ) -> Faceplate:
        """Level 3: the object's values, a short trend, its alarms, the setpoint button and
        its device's diagnostics."""
        tags = list(binding_tags or [])
        if not tags and device:
            tags = [t for t in self.points if t.split(".", 1)[0] == device]
        fp = Faceplate(
            tags,
            device,
            self.live,
            self.points,
            self.scheme,
            history=self.station.history,
            run_async=self.run_async,
            open_setpoint=self.open_setpoint,
            parent=self,
        )
        self.faceplates.append(fp)
        fp.finished.connect(lambda _=0, f=fp: self.faceplates.remove(f) if f in self.faceplates else None)
        fp.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        fp.show()
        return fp

    # ------------------------------------------------------------------ live data
    def on_samples(self, batch: list[Sample]) -> None:
        self.live.now = time.time()
        changed = self.live.apply_samples(batch)
        if self.scene is not None:
            self.scene.mark(changed)
        for fp in self.faceplates:
            fp.on_samples(batch)

    def flush(self) -> None:
        """Draw what the last drain marked now (the bridge's ``drained``), instead of a frame
        later: the display's repaint then joins the other views' in one pass to the screen."""
        if self.scene is not None:
            self.scene.flush()

    def on_alarms(self, views: list[AlarmView]) -> None:
        changed = self.live.apply_alarms(views)
        if self.scene is not None:
            self.scene.mark(changed)
        for fp in self.faceplates:
            fp.refresh()

    def on_diagnostics(self, diags: dict[str, DeviceDiagnostics]) -> None:
        changed = self.live.apply_diagnostics(diags)
        if self.scene is not None:
            self.scene.on_diagnostics(diags, changed)
        for fp in self.faceplates:
            fp.set_diagnostics(diags)

    def _each_second(self) -> None:
        """Values grow stale without a new sample: mark only the tags whose shown quality flips."""
        if self.scene is None:
            return
        self.live.now = time.time()
        flipped = []
        for tag in self.scene.items_by_key:
            if "." not in tag:
                continue
            q = self.live.view(tag).quality
            if self._shown_quality.get(tag, q) != q:
                flipped.append(tag)
            self._shown_quality[tag] = q
        if flipped:
            self.scene.mark(flipped)

    def _view_moved(self) -> None:
        if self.scene is not None and self.scene.pending():
            self.scene.mark(())
            self.scene._flush_timer.start()

    def _fill_sparklines(self, scene: DisplayScene) -> None:
        sparks = [i for i in scene.symbols if isinstance(i, SparklineItem) and i.tag]
        if not sparks or self.run_async is None:
            return
        tags = sorted({i.tag for i in sparks if i.tag})
        t1 = time.time()

        def fetch() -> dict[str, Any]:
            return dict(self.station.history(tags, t1 - 300.0, t1, 300))

        def done(series: dict[str, Any]) -> None:
            if self.scene is not scene:
                return
            for item in sparks:
                s = series.get(item.tag or "")
                if s is None:
                    continue
                fill_from_series(item, s)
                item._look = None
                item.refresh()

        self.run_async(fetch, done, lambda e: self.status.emit(f"display history: {e}"))

    def set_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        if self.scene is not None:
            self.scene.set_scheme(scheme)
        for fp in self.faceplates:
            fp.set_scheme(scheme)

    def stop(self) -> None:
        self._second.stop()
        if self.scene is not None:
            self.scene._flush_timer.stop()


def fill_from_series(item: SparklineItem, series: Any) -> None:
    """Put a historian `Series` (arrays t, value, quality) in front of the live points."""
    live = list(item.points)
    item.points.clear()
    item._last_t = None
    ts, vs = getattr(series, "t", None), getattr(series, "value", None)
    qs = getattr(series, "quality", None)
    if ts is None or vs is None:
        return
    for i in range(len(ts)):
        good = qs is None or int(qs[i]) == 0
        item.add(float(ts[i]), float(vs[i]) if good else None)
    for t, v in live:
        item.add(t, v)
