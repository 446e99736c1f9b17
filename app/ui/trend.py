"""Live trends: several pens, one Y axis per engineering unit, scrolling, pause, zoom/pan,
a cursor readout, and scroll-back into the historian.

This is the pyqtgraph view; what the trend knows and decides (pens, live window, which pens to
redraw, what history to fetch, readout, setups) is the Qt-free `TrendModel` (trend_model.py).

Pens that share a unit share an axis (two temperatures on one scale are comparable; a
temperature and a flow are not). An axis spans its pens' fixed engineering ranges (the profile's
``range``, else one derived from its limits), so a calm plant looks calm instead of autoscaled
onto noise; only an axis with no range to go on autoscales, and its label says "auto". Each pen's
alarm limits are drawn as thin lines in its colour, labelled. Axes exist only while a pen of their
unit does, and take the colour of their first pen.

The live part comes from in-memory ring buffers fed by the bridge; anything older than the buffer
is fetched from the historian (min/max downsampled to the plot's width) on a worker thread, so
scrolling back never freezes the screen, and a pen added to a live trend gets its past the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QHideEvent, QPen, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.model import Sample
from app.core.profiles import Point
from app.station.interface import Series
from app.ui.decimate import minmax_decimate
from app.ui.formatting import format_time, format_value
from app.ui.palette import LIGHT, Scheme
from app.ui.trend_buffer import RingSeries
from app.ui.trend_model import (
    MIN_LIVE_WINDOW_S,
    GridKey,
    PenData,
    PenScale,
    TrendModel,
    axis_span,
    grid_key,
    read_setup,
)

SPANS = {"1 min": 60.0, "2 min": 120.0, "10 min": 600.0, "1 h": 3600.0, "8 h": 8 * 3600.0, "24 h": 86400.0}


#: a frame's decimation: the window drawn, its bucket count, and the grid key (see draw_frame)
_FrameGrid = tuple[tuple[float, float], int, GridKey]
#: pens re-decimated per event-loop turn in a paced live frame (see TrendWidget.draw_frame)
PENS_PER_TURN = 5
__all__ = ["MIN_LIVE_WINDOW_S", "PENS_PER_TURN", "SPANS", "PenInfo", "TrendWidget"]


#: labels of the limit lines, by profile field
LIMIT_LABELS = {"lolo": "LOLO", "lo": "LO", "hi": "HI", "hihi": "HIHI"}


@dataclass
class PenInfo(PenData):
    """A pen as drawn: its data (`PenData`), the pyqtgraph curve that shows it, and its limit
    lines."""

    curve: pg.PlotDataItem = field(kw_only=True)
    limit_lines: list[pg.InfiniteLine] = field(default_factory=list, kw_only=True)


class _UnitAxis:
    """A ViewBox + AxisItem pair for one engineering unit."""

    def __init__(self, unit: str, vb: pg.ViewBox, axis: pg.AxisItem):
        self.unit = unit
        self.vb = vb
        self.axis = axis
        #: the fixed Y range shown while live (None: autoscaled)
        self.span: tuple[float, float] | None = None
        #: what this axis's view holds (curves, limit lines), removed when the axes are rebuilt
        self.items: list[pg.GraphicsObject] = []


class TrendWidget(QWidget):
    """A trend chart. Feed it with ``add_samples``; ask it for history through ``history``
    (a callable ``(tags, t0, t1, max_points) -> dict[tag, series]`` run on ``run_async``)."""

    paused_changed = Signal(bool)
    history_loaded = Signal(int)  # points received from the historian
    status = Signal(str)

    def __init__(
        self,
        *,
        history: Callable[[list[str], float, float, int], Mapping[str, Series]] | None = None,
        run_async: Callable[..., Any] | None = None,
        units: Callable[[str], str] | None = None,
        points: Callable[[str], Point | None] | None = None,
        capacity: int = 36_000,
        fps: float = 30.0,
        scheme: Scheme = LIGHT,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self._history = history
        self._run_async = run_async
        self._units = units or (lambda tag: "")
        self._points = points or (lambda tag: None)
        self._capacity = capacity
        self.scheme = scheme
        self.model: TrendModel[PenInfo] = TrendModel()
        #: the same dict as the model's (tag -> pen), for callers that look pens up
        self.pens = self.model.pens
        self._axes: dict[str, _UnitAxis] = {}
        self.paused = False
        self.frames = 0
        self._hist_busy = False
        self._hist_again = False
        self._last_range: tuple[float, float] | None = None

        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
        self.item = self.plot.getPlotItem()
        self.item.setMenuEnabled(False)
        self.item.hideButtons()
        self.item.showGrid(x=True, y=True, alpha=0.35)
        self.item.getAxis("left").setWidth(56)
        self.item.vb.sigResized.connect(self._sync_views)
        self.item.vb.sigRangeChangedManually.connect(self._user_moved)
        self.item.vb.sigXRangeChanged.connect(self._x_changed)
        self.cursor_line = pg.InfiniteLine(angle=90, movable=False)
        self.cursor_line.setVisible(False)
        self.item.addItem(self.cursor_line, ignoreBounds=True)
        self.region = pg.LinearRegionItem(movable=True)
        self.region.setVisible(False)
        self.item.addItem(self.region, ignoreBounds=True)
        self._mouse = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._mouse_moved)

        self.span_box = QComboBox()
        self.span_box.addItems(list(SPANS))
        self.span_box.setCurrentText("2 min")
        self.span_box.currentTextChanged.connect(lambda t: self.set_span(SPANS[t]))
        self.pause_btn = QPushButton("Pause")
        self.pause_btn.setCheckable(True)
        self.pause_btn.toggled.connect(self.set_paused)
        self.live_btn = QPushButton("Back to live")
        self.live_btn.clicked.connect(lambda: self.set_paused(False))
        self.mode_label = QLabel("LIVE")
        self.mode_label.setObjectName("muted")
        self.readout = QLabel("")
        self.readout.setTextFormat(pg.QtCore.Qt.TextFormat.RichText)
        self.readout.setWordWrap(True)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Span"))
        bar.addWidget(self.span_box)
        bar.addWidget(self.pause_btn)
        bar.addWidget(self.live_btn)
        bar.addStretch(1)
        bar.addWidget(self.mode_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.readout)

        self._frame_s = 1.0 / fps
        self._last_frame = 0.0
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / fps)))
        self._timer.timeout.connect(self.draw_frame)  # runs only while shown (showEvent)
        # a paced frame's remaining pens, drawn one event-loop turn at a time (see draw_frame)
        self._frame_pens: list[PenInfo] = []
        self._frame_window: _FrameGrid = ((0.0, 1.0), 100, (0, 0, 0))
        self._frame_turn = QTimer(self)
        self._frame_turn.setSingleShot(True)
        self._frame_turn.setInterval(0)
        self._frame_turn.timeout.connect(self._draw_some)
        self._hist_timer = QTimer(self)
        self._hist_timer.setSingleShot(True)
        self._hist_timer.setInterval(150)
        self._hist_timer.timeout.connect(self._fetch_history)
        self.apply_scheme(scheme)
        self._update_readout(None)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:
        """A trend behind another tab or in a closed dock draws nothing, so it does not wake
        up 30 times a second to find that out; shown again, its first frame catches up."""
        super().hideEvent(event)
        self._timer.stop()

    # -- pens -------------------------------------------------------------------------------
    def add_pen(self, tag: str, unit: str | None = None) -> PenInfo:
        if tag in self.pens:
            return self.pens[tag]
        unit = self._units(tag) if unit is None else unit
        # decimated here (min/max per pixel column), so pyqtgraph's own per-paint downsampling
        # and clipping are left off: they would redo the work on every frame
        curve = pg.PlotDataItem(connect="finite", name=tag)
        pen = PenInfo(
            tag, unit, self._free_colour(), RingSeries(self._capacity), curve=curve,
            scale=PenScale.of(self._points(tag)),
        )
        pen.curve.setPen(self._qpen(pen))
        self.model.add(pen)
        self._layout_axes()
        self._request_history(now=True)
        self._update_readout(None)
        return pen

    def remove_pen(self, tag: str) -> None:
        if self.model.remove(tag) is None:
            return
        self._layout_axes()
        self._update_readout(None)

    def clear_pens(self) -> None:
        for tag in list(self.pens):
            self.remove_pen(tag)

    def _free_colour(self) -> str:
        """The first scheme colour no pen uses, so a pen added after a removal never takes a
        colour already on screen (until all of them are)."""
        used = {p.color for p in self.pens.values()}
        for i in range(len(self.scheme.pens)):
            if self.scheme.pen(i) not in used:
                return self.scheme.pen(i)
        return self.scheme.pen(len(self.pens))

    def _qpen(self, pen: PenInfo) -> QPen:
        return pg.mkPen(color=pen.color, width=1)

    def _layout_axes(self) -> None:
        """Give every unit with pens one axis, and nothing else one: axes of units without pens
        go (with their view), the rest are rebuilt in pen order, coloured by their first pen and
        set to their fixed span. Rebuilding is a handful of items, done only when pens change;
        keeping stale axes is what once left a 75 px plot beside eight empty scales."""
        scene = self.item.scene()
        for ax in self._axes.values():
            for item in ax.items:
                ax.vb.removeItem(item)
            if ax.vb is not self.item.vb:
                self.item.layout.removeItem(ax.axis)
                ax.axis.unlinkFromView()
                scene.removeItem(ax.axis)
                ax.vb.setXLink(None)
                scene.removeItem(ax.vb)
        self._axes = {}
        for unit in self.model.units():
            ax = self._axis_for(unit)
            for pen in self.model.pens_of(unit):
                ax.vb.addItem(pen.curve)
                ax.items.append(pen.curve)
                pen.limit_lines = self._limit_lines(pen)
                for line in pen.limit_lines:
                    ax.vb.addItem(line, ignoreBounds=True)
                    ax.items.append(line)
        if not self._axes:  # no pens: the bare left axis, neutral
            left = self.item.getAxis("left")
            left.setLabel("")
            self._style_axis(left)
        self._apply_spans()
        self._sync_views()

    def _limit_lines(self, pen: PenInfo) -> list[pg.InfiniteLine]:
        """The pen's alarm limits as thin lines in its colour (HIHI/LOLO solid, HI/LO dashed; a
        handful of single segments, so the dash costs nothing), each labelled at the left."""
        lines = []
        colour = QColor(pen.color)
        colour.setAlpha(170)
        index = list(self.pens).index(pen.tag) if pen.tag in self.pens else 0
        column = 0.01 + 0.13 * (index % 7)
        for name, value in pen.scale.limits:
            style = Qt.PenStyle.SolidLine if name in ("hihi", "lolo") else Qt.PenStyle.DashLine
            line = pg.InfiniteLine(
                pos=value,
                angle=0,
                movable=False,
                pen=pg.mkPen(colour, width=1, style=style),
                label=f"{LIMIT_LABELS[name]} {value:g}",
                # each pen's labels in a column of their own, so two pens' limits at the same
                # height do not print over each other
                labelOpts={"position": column, "color": colour, "anchors": [(0, 1), (0, 1)]},
            )
            line.setZValue(-5)  # under the curves
            lines.append(line)
        return lines

    def _axis_for(self, unit: str) -> _UnitAxis:
        if unit in self._axes:
            return self._axes[unit]
        if not self._axes:
            ax = _UnitAxis(unit, self.item.vb, self.item.getAxis("left"))
        else:
            vb = pg.ViewBox()
            vb.setMouseEnabled(x=False, y=False)  # the main view pans and zooms; these follow in x
            axis = pg.AxisItem("right")
            axis.setWidth(56)
            col = 2 + len(self._axes)  # 0 left axis, 1 the plot, 2 pyqtgraph's own (hidden) right axis
            self.item.layout.addItem(axis, 2, col)
            self.item.scene().addItem(vb)
            axis.linkToView(vb)
            vb.setXLink(self.item.vb)
            ax = _UnitAxis(unit, vb, axis)
        # the tick numbers are the unit's own: no "x1000" prefix scaling. pyqtgraph 0.14's
        # enableAutoSIPrefix(False) still computes a scale for a visible label (0-0.5 g was
        # drawn as 0-500), so scaling is also switched off for every range
        ax.axis.setSIPrefixEnableRanges(())
        ax.axis.enableAutoSIPrefix(False)
        self._axes[unit] = ax
        pens = self.model.pens_of(unit)
        ax.span = axis_span(p.scale for p in pens)
        self._label_axis(ax, pens[0].color if pens else self.scheme.plot_axis)
        return ax

    def _label_axis(self, ax: _UnitAxis, colour: str) -> None:
        """Each unit axis is labelled with its unit in the colour of its first pen, so a reader
        can tell which scale a curve is read against; an axis with no engineering range to go on
        says it is autoscaled, so a wide swing on it is not taken at face value."""
        name = ax.unit or "value"
        ax.axis.setLabel(name if ax.span is not None else f"{name} (auto)", color=colour)
        ax.axis.setPen(pg.mkPen(colour))
        ax.axis.setTextPen(pg.mkPen(colour))

    def _apply_spans(self) -> None:
        """Fixed spans on axes that have one, autoscale on the others."""
        for ax in self._axes.values():
            if ax.span is not None:
                ax.vb.disableAutoRange(axis=pg.ViewBox.YAxis)
                ax.vb.setYRange(*ax.span, padding=0.02)
            else:
                ax.vb.enableAutoRange(axis=pg.ViewBox.YAxis)

    def _sync_views(self) -> None:
        rect = self.item.vb.sceneBoundingRect()
        for ax in self._axes.values():
            if ax.vb is not self.item.vb:
                ax.vb.setGeometry(rect)
                ax.vb.linkedViewChanged(self.item.vb, ax.vb.XAxis)

    # -- data -------------------------------------------------------------------------------
    def add_samples(self, batch: Iterable[Sample]) -> None:
        self.model.add_samples(batch)

    @property
    def span_s(self) -> float:
        return self.model.span_s

    @span_s.setter
    def span_s(self, seconds: float) -> None:
        self.model.span_s = seconds

    # -- view -------------------------------------------------------------------------------
    def set_span(self, seconds: float) -> None:
        self.span_s = float(seconds)
        if not self.paused:
            self.draw_frame(force=True)
        else:
            t0, t1 = self.x_range()
            mid = (t0 + t1) / 2
            self.show_range(mid - seconds / 2, mid + seconds / 2)

    def set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        self.pause_btn.blockSignals(True)
        self.pause_btn.setChecked(paused)
        self.pause_btn.blockSignals(False)
        self.mode_label.setText("PAUSED — drag to pan, wheel to zoom" if paused else "LIVE")
        if not paused:
            self._apply_spans()  # whatever the operator zoomed to, live shows the fixed spans
            self.draw_frame(force=True)
        self.paused_changed.emit(paused)

    def show_range(self, t0: float, t1: float) -> None:
        """Look at a fixed window (pauses the live scroll); history is fetched if needed."""
        self.set_paused(True)
        self.item.vb.setXRange(t0, t1, padding=0)
        self._request_history()

    def x_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.item.vb.viewRange()
        return float(x0), float(x1)

    def _user_moved(self, *_: Any) -> None:
        self.set_paused(True)
        self._request_history()

    def _x_changed(self, *_: Any) -> None:
        if self.paused:
            self._request_history()

    def draw_frame(self, force: bool = False) -> None:
        """One frame: when live, scroll to now; redraw pens whose data or window changed.

        A live trend moves one pixel every span/width seconds (5 s for an hour on 700 px);
        redrawing faster than that, or than ``fps``, changes nothing the eye can see and only
        takes time from the rest of the screen, so live frames are paced to the pixel (but at
        least twice a second, so the newest value is always on screen).

        A paced frame re-decimates its pens ``PENS_PER_TURN`` at a time, one event-loop turn
        each, with the plot's updates held until the last one, so the screen still changes in
        one piece: 20 pens x an hour cost ~10-30 ms of decimation and ``setData`` and, done in
        one go together with the paint that follows, blocked the GUI thread for 50-70 ms
        (measured with a 5 ms heartbeat, tests/benchmarks/ui.py). ``force`` (a span, pause or
        history change, the benchmark's frame loop) draws every pen at once.
        """
        if not self.isVisible() and not force:
            return
        if self._frame_pens and not force:
            return  # the previous frame is still being drawn, turn by turn
        now = time.time()
        window = self.x_range() if self.paused else self.model.live_window(now)
        buckets = max(100, int(self.item.vb.width()))
        width = (window[1] - window[0]) / buckets
        if not force and not self.paused:
            pace = min(max(width, self._frame_s), 0.5)
            if time.monotonic() - self._last_frame < pace:
                return
        self._last_frame = time.monotonic()
        key = grid_key(window, buckets)
        due = self.model.due(key, force=force, paused=self.paused)
        self._frame_window = (window, buckets, key)
        if force or len(due) <= PENS_PER_TURN:
            self._frame_pens = []
            self._frame_turn.stop()
            for pen in due:
                self._draw_pen(pen, window, buckets, key)
            self._finish_frame(now)
            return
        self._frame_pens = due
        self.plot.setUpdatesEnabled(False)
        self._draw_some()

    def _draw_some(self) -> None:
        """One turn of a paced frame: the next few pens; the last turn shows the frame."""
        window, buckets, key = self._frame_window
        batch, self._frame_pens = self._frame_pens[:PENS_PER_TURN], self._frame_pens[PENS_PER_TURN:]
        for pen in batch:
            if self.pens.get(pen.tag) is pen:  # not removed since the frame began
                self._draw_pen(pen, window, buckets, key)
        if self._frame_pens:
            self._frame_turn.start()
        else:
            self._finish_frame(time.time())

    def _draw_pen(self, pen: PenInfo, window: tuple[float, float], buckets: int, key: GridKey) -> None:
        t, v = self.model.compose(pen)
        pen.curve.setData(*minmax_decimate(t, v, window[0], window[1], buckets))
        pen.drawn_version = pen.live.version
        pen.drawn_key = key

    def _finish_frame(self, now: float) -> None:
        window = self._frame_window[0]
        if not self.plot.updatesEnabled():
            self.plot.setUpdatesEnabled(True)
        if not self.paused:
            self.item.vb.setXRange(window[0], window[1], padding=0)
            if self.model.needs_backfill(now):
                self._request_history()
        self.frames += 1

    # -- history ----------------------------------------------------------------------------
    def _request_history(self, now: bool = False) -> None:
        """Fetch history soon. The operator's moves restart the short wait (a drag asks once,
        when it stops); a live trend's back-fill, asked on every frame while a pen lacks its
        past, must not: restarting the wait at 30 frames/s kept it from ever firing, so a pen
        added to a live trend showed no history. ``now``: fetch at the next turn (a new pen)."""
        if self._history is None or self._run_async is None or not self.pens:
            return
        if now:
            self._hist_timer.start(0)
        elif self.paused or not self._hist_timer.isActive():
            self._hist_timer.start(150)

    def _needed_range(self) -> tuple[float, float] | None:
        if self.paused:
            t0, t1 = self.x_range()
        else:
            t1 = time.time()
            t0 = t1 - self.span_s
        return self.model.needed_range(t0, t1)

    def _fetch_history(self) -> None:
        if self._hist_busy:
            self._hist_again = True
            return
        need = self._needed_range()
        if need is None:
            return
        t0, t1 = need
        tags = list(self.pens)
        width = max(200, int(self.item.vb.width()))
        history = self._history
        if history is None or self._run_async is None:
            return  # history was switched off after the fetch was scheduled (the UI benchmark)
        self._hist_busy = True
        if self.paused:  # the operator asked for it; live back-fill stays silent
            self.status.emit("loading history…")
        self._run_async(
            lambda: history(tags, t0, t1, width),
            lambda result: self._history_done(result, t0, t1),
            self._history_failed,
        )

    def _history_done(self, result: Mapping[str, Series] | None, t0: float, t1: float) -> None:
        self._hist_busy = False
        points = self.model.apply_history(result or {}, t0, t1)
        self.history_loaded.emit(points)
        if self.paused:
            self.status.emit(f"history: {points} points for {format_time(t0)} – {format_time(t1)}")
        self.draw_frame(force=True)
        if self._hist_again:
            self._hist_again = False
            self._request_history()

    def _history_failed(self, message: str) -> None:
        self._hist_busy = False
        self.status.emit(f"history unavailable: {message}")

    # -- cursor -----------------------------------------------------------------------------
    def _mouse_moved(self, evt: tuple[QPointF]) -> None:
        pos = evt[0]
        if not self.item.sceneBoundingRect().contains(pos):
            self.cursor_line.setVisible(False)
            self._update_readout(None)
            return
        t = float(self.item.vb.mapSceneToView(pos).x())
        self.cursor_line.setPos(t)
        self.cursor_line.setVisible(True)
        self._update_readout(t)

    def readout_at(self, t: float) -> dict[str, float | None]:
        return self.model.readout_at(t)

    def _update_readout(self, t: float | None) -> None:
        if not self.pens:
            self.readout.setText("<i>No pens. Right-click a tag → Add to trend.</i>")
            return
        values = self.readout_at(t) if t is not None else {}
        parts = []
        for tag, pen in self.pens.items():
            val = ""
            if t is not None:
                v = values.get(tag)
                val = f" {format_value(v)}" if v is not None else " (no good value)"
            unit = f" {pen.unit}" if pen.unit and val and values.get(tag) is not None else ""
            parts.append(f'<span style="color:{pen.color}">&#9632;</span>&nbsp;{tag}{val}{unit}')
        head = f"<b>{format_time(t)}</b>&nbsp;&nbsp; " if t is not None else ""
        self.readout.setText(head + " &nbsp;&nbsp; ".join(parts))

    # -- selection for "learn normal" --------------------------------------------------------
    def show_selection(self, on: bool) -> None:
        if on:
            t0, t1 = self.x_range()
            w = t1 - t0
            self.region.setRegion((t0 + 0.25 * w, t0 + 0.75 * w))
        self.region.setVisible(on)

    def selected_range(self) -> tuple[float, float] | None:
        if not self.region.isVisible():
            return None
        a, b = self.region.getRegion()
        return float(a), float(b)

    # -- setups -----------------------------------------------------------------------------
    def setup(self) -> dict[str, Any]:
        return self.model.setup()

    def save_setup(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.setup(), indent=2), encoding="utf-8")

    def load_setup(self, path: str | Path, known_tags: Iterable[str] | None = None) -> list[str]:
        """Load a saved setup; returns the tags it names that this plant does not have."""
        pens, span = read_setup(path)
        known = set(known_tags) if known_tags is not None else None
        missing = [t for t in pens if known is not None and t not in known]
        self.clear_pens()
        for tag in pens:
            if tag not in missing:
                self.add_pen(tag)
        self.set_span(span)
        return missing

    # -- looks ------------------------------------------------------------------------------
    def _style_axis(self, axis: pg.AxisItem) -> None:
        s = self.scheme
        axis.setPen(pg.mkPen(s.plot_axis))
        axis.setTextPen(pg.mkPen(s.plot_axis))

    def apply_scheme(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.plot.setBackground(scheme.plot_bg)
        for name in ("left", "bottom", "right", "top"):
            self._style_axis(self.item.getAxis(name))
        self.item.getAxis("bottom").enableAutoSIPrefix(False)
        self.cursor_line.setPen(pg.mkPen(scheme.muted, width=1))
        self.region.setBrush(pg.mkBrush(QColorAlpha(scheme.highlight, 60)))
        for i, pen in enumerate(self.pens.values()):
            pen.color = scheme.pen(i)
            pen.curve.setPen(self._qpen(pen))
        self._layout_axes()  # axes and limit lines in the new pens' colours
        self._update_readout(None)


def QColorAlpha(colour: str, alpha: int) -> QColor:
    c = pg.mkColor(colour)
    c.setAlpha(alpha)
    return c
