"""The ISA-101 symbol library: grey and calm, colour only for abnormal.

Each symbol is one light `QGraphicsItem` drawn with QPainter (on a display, into the display's
picture by its `SymbolLayer`). Its ``look()`` boils the live state down to what is visible
(formatted text, pixel positions, state names); ``refresh()`` has it drawn again only when
that look changed, so a value that wanders inside one pixel or one digit costs nothing. Pens,
brushes and fonts come from one `SymbolStyle` shared by every item of a display (rebuilt only
when the palette changes): the shared renderer of each symbol kind.

Bad or stale quality is drawn the way the tag table draws it: the number struck through on the
violet quality colour with the quality named, and the symbol's own mark (pointer, fill, body)
hollow in that colour: never as a normal value.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QStaticText,
)
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from app.core.alarms.annunciation import Convention, pattern
from app.core.displays import Binding
from app.core.model import Quality
from app.core.profiles import Point
from app.ui.annunciator import SIGNAL_COLOURS
from app.ui.displays.live import LiveModel, TagView
from app.ui.formatting import format_value, quality_text
from app.ui.palette import Scheme

if TYPE_CHECKING:
    from app.ui.displays.layer import SymbolLayer

#: where a value is written in its box, per alignment asked for (flag arithmetic is slow in
#: Python, and a display writes thousands of values a second)
_H_ALIGN: dict[Qt.AlignmentFlag, str] = {}
PRIORITY_NUMBER = {"urgent": "1", "high": "2", "medium": "3", "low": "4"}
Look = tuple[Any, ...]


class SymbolStyle:
    """Pens, brushes and fonts of one palette, shared by every symbol of a display."""

    def __init__(self, scheme: Scheme, medical: bool = False):
        self.scheme = scheme
        self.medical = medical
        self.text = QColor(scheme.text)
        self.muted = QColor(scheme.muted)
        self.border = QColor(scheme.border)
        self.base = QColor(scheme.base)
        self.panel = QColor(scheme.panel)
        self.window = QColor(scheme.window)
        dark = scheme.name == "dark"
        #: the process itself (liquid, running machine, open valve): a darker or lighter grey
        self.fill = QColor("#8a8a8a" if not dark else "#7a7a7a")
        self.band = QColor("#c4c4c4" if not dark else "#454545")
        self.zone = QColor("#b0b0b0" if not dark else "#3a3a3a")
        self.bad = QColor(scheme.bad_quality)
        self.bad_text = QColor(scheme.bad_quality_text)
        self.pen_border = QPen(self.border, 1.5)
        self.pen_body = QPen(self.text, 2.0)
        self.pen_muted = QPen(self.muted, 1.0)
        self.pen_bad = QPen(self.bad, 2.5)
        self.pen_bad_dash = QPen(self.bad, 2.5, Qt.PenStyle.DashLine)
        self.pen_travel = QPen(self.text, 2.0, Qt.PenStyle.DashLine)
        self.brush_bad = QBrush(self.bad, Qt.BrushStyle.BDiagPattern)
        self.font = QFont("DejaVu Sans")
        self.font.setPixelSize(13)
        self.font_small = QFont(self.font)
        self.font_small.setPixelSize(11)
        self.font_bold = QFont(self.font)
        self.font_bold.setBold(True)
        self._fonts: dict[tuple[int, bool], QFont] = {}
        self._texts: dict[tuple[str, int], tuple[QStaticText, float, float, QFont]] = {}

    def sized(self, px: float, bold: bool = False) -> QFont:
        key = (max(6, int(px)), bold)
        f = self._fonts.get(key)
        if f is None:
            f = QFont(self.font)
            f.setPixelSize(key[0])
            f.setBold(bold)
            self._fonts[key] = f
        return f

    def static_text(self, text: str, font: QFont) -> tuple[QStaticText, float, float]:
        """``text`` laid out in ``font`` (one of this style's fonts), with its width and height.
        Kept per font object: the entry holds the font, so its id is not reused meanwhile."""
        key = (text, id(font))
        laid = self._texts.get(key)
        if laid is None:
            if len(self._texts) > 20_000:  # bounded: a long run of new numbers starts over
                self._texts.clear()
            st = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            st.prepare(font=font)
            size = st.size()
            laid = (st, size.width(), size.height(), font)
            self._texts[key] = laid
        return laid[0], laid[1], laid[2]

    def alarm_colour(self, priority: str) -> QColor:
        if self.medical:  # IEC 60601-1-8: high red, medium yellow, low cyan
            return QColor(SIGNAL_COLOURS[pattern(priority, Convention.MEDICAL).colour])
        return self.scheme.alarm_color(priority)

    def alarm_text_colour(self, priority: str) -> QColor:
        if self.medical:
            return QColor("#ffffff" if pattern(priority, Convention.MEDICAL).colour == "red" else "#000000")
        return self.scheme.alarm_text_color(priority)


class Context:
    """What symbols need besides their binding: the live state, the points, the style."""

    def __init__(self, live: LiveModel, points: dict[str, Point], style: SymbolStyle):
        self.live = live
        self.points = points
        self.style = style


def _bad(v: TagView) -> bool:
    return v.quality is not None and v.quality is not Quality.GOOD


def _number(v: TagView) -> float | None:
    if isinstance(v.value, bool):
        return 1.0 if v.value else 0.0
    if isinstance(v.value, (int, float)) and not (isinstance(v.value, float) and math.isnan(v.value)):
        return float(v.value)
    return None


class SymbolItem(QGraphicsItem):
    """One bound element. Subclasses give ``look()``, ``draw()`` and, where part of the symbol
    never changes, ``draw_static()``.

    On a display the item paints nothing itself: the display's `SymbolLayer` draws it into the
    display's picture when its look changes (`attach`), and the item is there for clicks,
    tooltips and the cursor. Alone in a scene (a faceplate's sparkline) it paints itself, kept
    by Qt as a pixmap of its current look."""

    kind = "symbol"
    #: how far the drawing may reach left and right of the box (a label wider than its symbol)
    margin = 2.0

    def __init__(self, binding: Binding, ctx: Context):
        super().__init__()
        self.binding = binding
        self.ctx = ctx
        self._tag = binding.tag
        b = binding.box
        self.rect = QRectF(0, 0, b.width, b.height)
        m = self.margin  # asked for thousands of times a second: worked out once
        self._bounds = self.rect.adjusted(-m, -2, m, 2)
        self.setPos(b.x, b.y)
        self._look: Look | None = None
        self.repaints = 0  # how often the look changed (tests and the benchmark read it)
        #: the item's rectangle on the scene (symbols never move), the area it draws into
        self.scene_bounds = self._bounds.translated(b.x, b.y)
        self._scene_live: QRectF | None = None
        self.layer: SymbolLayer | None = None
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        # what never changes while the display is open, worked out once
        self._point = self.point()
        rng = self._point.engineering_range if self._point is not None else None
        self._span: tuple[float, float] = rng if rng is not None else (0.0, 100.0)
        self._label = self.label()
        self._unit = self.unit()
        self._digits = self.digits()
        if binding.goto or binding.tag or binding.attrs.get("device"):
            self.setCursor(Qt.CursorShape.PointingHandCursor)
            tip = (binding.goto and f"open {binding.goto}") or binding.tag or binding.attrs.get("device", "")
            self.setToolTip(tip)

    # -- helpers -------------------------------------------------------------------------
    @property
    def tag(self) -> str | None:
        return self._tag

    def point(self, tag: str | None = None) -> Point | None:
        t = tag or self._tag
        return self.ctx.points.get(t) if t else None

    def view(self, tag: str | None = None) -> TagView:
        t = tag or self._tag
        return self.ctx.live.view(t) if t else TagView(None, None, None)

    def alarm_priority(self) -> tuple[str, bool] | None:
        t = self._tag
        a = self.ctx.live.tag_alarm(t) if t else None
        return (a.priority, a.state.needs_ack) if a is not None else None

    def label(self) -> str:
        if "label" in self.binding.attrs:
            return self.binding.attrs["label"]
        p = self.point()
        return (p.description or p.name) if p is not None else (self.binding.tag or "")

    def unit(self) -> str:
        p = self.point()
        return p.unit if p is not None else ""

    def digits(self) -> int:
        """``vigil:digits``, else enough decimals for the point's range to show movement."""
        try:
            return int(self.binding.attrs["digits"])
        except (KeyError, ValueError):
            pass
        p = self.point()
        rng = p.engineering_range if p is not None else None
        if rng is None:
            return 1
        span = abs(rng[1] - rng[0])
        return 3 if span < 2 else 2 if span < 20 else 1 if span < 2000 else 0

    def value_text(self, v: TagView) -> str:
        if v.quality is None:
            return "—"
        return format_value(v.value, self._digits)

    # -- the item ------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._bounds

    def refresh(self) -> bool:
        """Recompute the look; repaint only when it changed. Returns True when it did."""
        look = self.look()
        if look == self._look:
            return False
        self._look = look
        self.repaints += 1
        if self.layer is not None:
            self.layer.changed(self)
        else:
            self.update()
        return True

    def scene_live_area(self) -> QRectF:
        if self._scene_live is None:
            self._scene_live = self.live_area().translated(self.pos())
        return self._scene_live

    def current_look(self) -> Look:
        """The look last worked out (worked out now if there is none yet)."""
        if self._look is None:
            self._look = self.look()
        return self._look

    def attach(self, layer: SymbolLayer) -> None:
        """Be drawn by ``layer`` (the display's picture) instead of painting itself."""
        self.layer = layer
        self.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemHasNoContents, True)

    def look(self) -> Look:
        v = self.view()
        return (self.value_text(v), v.quality, self.alarm_priority())

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        self.draw_static(painter)
        self.draw(painter, self.current_look())

    def draw(self, painter: QPainter, look: Look) -> None:
        raise NotImplementedError

    def draw_static(self, painter: QPainter) -> None:
        """The parts that do not depend on the live state (overridden where there are any)."""

    def has_static(self) -> bool:
        """Whether ``draw_static`` draws anything (a display keeps that as an image)."""
        return type(self).draw_static is not SymbolItem.draw_static

    def live_area(self) -> QRectF:
        """Where ``draw`` may draw, in item coordinates: a symbol drawn again under a
        neighbour that changed is drawn only if this reaches the neighbour."""
        return self._bounds

    def restyle(self) -> None:
        """The palette changed: draw everything again."""
        self._look = None
        if self.layer is None:
            self.update()

    # -- shared drawing --------------------------------------------------------------------
    def draw_value_box(
        self,
        painter: QPainter,
        rect: QRectF,
        text: str,
        quality: Quality | None,
        alarm: tuple[str, bool] | None,
        font: QFont,
        align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignRight,
        unit: str = "",
    ) -> None:
        """A number the way every view writes it: plain when good, alarm colour behind it when
        in alarm, struck through on the quality colour when not to be trusted."""
        st = self.ctx.style
        painter.setFont(font)
        full = f"{text} {unit}".rstrip() if unit else text
        if quality is not None and quality is not Quality.GOOD:
            painter.fillRect(rect, st.bad)
            f = QFont(font)
            f.setStrikeOut(True)
            painter.setFont(f)
            painter.setPen(st.bad_text)
            painter.drawText(rect.adjusted(3, 0, -3, 0), align | Qt.AlignmentFlag.AlignVCenter, full)
            return
        if alarm is not None:
            painter.fillRect(rect, st.alarm_colour(alarm[0]))
            painter.setPen(st.alarm_text_colour(alarm[0]))
        else:
            painter.setPen(st.text)
        # the hot path of a live display: a laid-out text, shared by every symbol that shows the
        # same number in the same font, drawn without laying it out again
        static, w, h = st.static_text(full, font)
        where = _H_ALIGN.get(align)
        if where is None:
            where = _H_ALIGN[align] = (
                "right"
                if align & Qt.AlignmentFlag.AlignRight
                else "centre"
                if align & Qt.AlignmentFlag.AlignHCenter
                else "left"
            )
        if where == "right":
            x = rect.right() - 3 - w
        elif where == "centre":
            x = rect.center().x() - w / 2
        else:
            x = rect.left() + 3
        painter.drawStaticText(QPointF(x, rect.center().y() - h / 2), static)

    def draw_quality_note(self, painter: QPainter, rect: QRectF, quality: Quality | None) -> None:
        if quality is None or quality is Quality.GOOD:
            return
        st = self.ctx.style
        painter.setFont(st.font_small)
        painter.setPen(st.bad)
        painter.drawText(
            rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, quality_text(quality)
        )


# ---------------------------------------------------------------------- value
class ValueItem(SymbolItem):
    kind = "value"

    def __init__(self, binding: Binding, ctx: Context):
        super().__init__(binding, ctx)
        r = self.rect
        self._has_label = "label" in binding.attrs
        size = binding.attrs.get("size")
        self._px = float(size) if size else r.height() * (0.42 if self._has_label else 0.62)
        self._value_rect = QRectF(
            r.x(),
            r.y() + (r.height() * 0.3 if self._has_label else 0),
            r.width(),
            r.height() * (0.7 if self._has_label else 1.0),
        )

    def look(self) -> Look:
        v = self.view()
        return (self.value_text(v), v.quality, self.alarm_priority())

    def has_static(self) -> bool:
        return self._has_label

    def draw_static(self, painter: QPainter) -> None:
        if not self._has_label:
            return
        st = self.ctx.style
        r = self.rect
        head = QRectF(r.x() + 3, r.y(), r.width() - 6, r.height() * 0.3)
        label_font = st.sized(max(11, r.height() * 0.2), bold=True)
        unit_font = st.sized(max(11, r.height() * 0.16))
        painter.setFont(label_font)
        painter.setPen(st.muted)
        painter.drawText(head, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._label)
        label_w = QFontMetricsF(label_font).horizontalAdvance(self._label)
        unit_w = QFontMetricsF(unit_font).horizontalAdvance(self._unit)
        if self._unit and label_w + unit_w + 12 < r.width():
            painter.setFont(unit_font)
            painter.drawText(head, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self._unit)

    def draw(self, painter: QPainter, look: Look) -> None:
        text, quality, alarm = look
        st = self.ctx.style
        r = self.rect
        if not self._has_label:
            self.draw_value_box(
                painter, self._value_rect, text, quality, alarm, st.sized(self._px), unit=self._unit
            )
            return
        if alarm is not None:  # the label takes the alarm colour too, over the cached one
            painter.fillRect(QRectF(r.x(), r.y(), r.width() * 0.5, r.height() * 0.3), st.window)
            painter.setFont(st.sized(max(11, r.height() * 0.2), bold=True))
            painter.setPen(st.alarm_colour(alarm[0]))
            painter.drawText(
                QRectF(r.x() + 3, r.y(), r.width() * 0.5 - 3, r.height() * 0.3),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                self._label,
            )
        self.draw_value_box(painter, self._value_rect, text, quality, alarm, st.sized(self._px, bold=True))
        if quality is not None and quality is not Quality.GOOD:
            painter.setFont(st.sized(max(11, r.height() * 0.13)))
            painter.setPen(st.bad_text)
            painter.drawText(
                self._value_rect.adjusted(4, 2, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop,
                quality_text(quality),
            )


# ---------------------------------------------------------------------- moving analog indicator
class IndicatorItem(SymbolItem):
    """Pointer on the engineering range; the normal band between the inner limits, the alarm
    ranges beyond them shaded, the setpoint as a hollow marker under the scale. The scale is
    the cached static layer; a change repaints only the pointer and the number."""

    kind = "indicator"

    def __init__(self, binding: Binding, ctx: Context):
        super().__init__(binding, ctx)
        r = self.rect
        self._track = QRectF(r.x() + 2, r.y() + r.height() * 0.5, r.width() - 4, r.height() * 0.22)
        self._top = QRectF(r.x(), r.y(), r.width(), r.height() * 0.46)
        vw = r.width() * 0.4
        self._value_rect = QRectF(self._top.right() - vw, self._top.y() + 1, vw, self._top.height() - 2)
        self._sp_tag = binding.attrs.get("setpoint")
        self._pointers: dict[int, QPolygonF] = {}

    def _x(self, value: float) -> float:
        lo, hi = self._span
        f = (value - lo) / (hi - lo) if hi > lo else 0.0
        return self._track.left() + max(0.0, min(1.0, f)) * self._track.width()

    def look(self) -> Look:
        v = self.view()
        n = _number(v)
        px = round(self._x(n)) if n is not None else None
        sp = _number(self.view(self._sp_tag)) if self._sp_tag else None
        sp_px = round(self._x(sp)) if sp is not None else None
        off_scale = None
        if n is not None:
            lo, hi = self._span
            off_scale = "low" if n < lo else "high" if n > hi else None
        return (self.value_text(v), v.quality, self.alarm_priority(), px, sp_px, off_scale)

    def draw_static(self, painter: QPainter) -> None:
        st = self.ctx.style
        r = self.rect
        track = self._track
        font = st.font_small if r.height() < 40 else st.font
        painter.setFont(font)
        painter.setPen(st.muted)
        label_rect = self._top.adjusted(2, 0, -r.width() * 0.4 - 4, 0)
        label = QFontMetricsF(font).elidedText(self._label, Qt.TextElideMode.ElideRight, label_rect.width())
        painter.drawText(label_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label)
        painter.fillRect(track, st.zone)
        p = self._point
        if p is not None:
            lo_mark = next((m for m in (p.lo, p.lolo) if m is not None), None)
            hi_mark = next((m for m in (p.hi, p.hihi) if m is not None), None)
            x0 = self._x(lo_mark) if lo_mark is not None else track.left()
            x1 = self._x(hi_mark) if hi_mark is not None else track.right()
            painter.fillRect(QRectF(x0, track.y(), x1 - x0, track.height()), st.band)
            painter.setPen(st.pen_muted)
            for m in (p.lolo, p.hihi):
                if m is not None:
                    x = self._x(m)
                    painter.drawLine(QPointF(x, track.top()), QPointF(x, track.bottom()))
        painter.setPen(st.pen_border)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(track)

    def draw(self, painter: QPainter, look: Look) -> None:
        text, quality, alarm, px, sp_px, off_scale = look
        st = self.ctx.style
        r = self.rect
        track = self._track
        self.draw_value_box(
            painter,
            self._value_rect,
            text,
            quality,
            alarm,
            st.font_bold if r.height() >= 40 else st.font_small,
            unit=self._unit,
        )
        if sp_px is not None:  # setpoint: hollow triangle below the scale
            h = track.height()
            painter.setPen(st.pen_body)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPolygon(
                QPolygonF(
                    [
                        QPointF(sp_px, track.bottom()),
                        QPointF(sp_px - h * 0.6, track.bottom() + h),
                        QPointF(sp_px + h * 0.6, track.bottom() + h),
                    ]
                )
            )
        if px is None:
            return
        # pointer: a solid triangle above the scale (hollow violet when not to be trusted)
        tri = self._pointers.get(px)
        if tri is None:  # one per pixel of the scale at most, kept
            h = max(6.0, track.height())
            tri = self._pointers[px] = QPolygonF(
                [
                    QPointF(px, track.top() + h * 0.5),
                    QPointF(px - h * 0.6, track.top() - h * 0.6),
                    QPointF(px + h * 0.6, track.top() - h * 0.6),
                ]
            )
        if quality is not None and quality is not Quality.GOOD:
            painter.setPen(st.pen_bad)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        elif alarm is not None:
            painter.setPen(QPen(st.text, 1))
            painter.setBrush(st.alarm_colour(alarm[0]))
        else:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(st.text)
        painter.drawPolygon(tri)
        if off_scale:
            painter.setFont(st.font_small)
            painter.setPen(st.text)
            painter.drawText(
                QRectF(track.x(), track.bottom(), track.width(), r.bottom() - track.bottom()),
                (Qt.AlignmentFlag.AlignLeft if off_scale == "low" else Qt.AlignmentFlag.AlignRight)
                | Qt.AlignmentFlag.AlignVCenter,
                "◀ below range" if off_scale == "low" else "above range ▶",
            )


# ---------------------------------------------------------------------- vessel
class VesselItem(SymbolItem):
    kind = "vessel"

    def _body(self) -> QRectF:
        r = self.rect
        return QRectF(r.x() + 4, r.y() + 22, r.width() - 40, r.height() - 26)

    def _y(self, value: float, body: QRectF) -> float:
        p = self.point()
        rng = (p.engineering_range if p is not None else None) or (0.0, 100.0)
        lo, hi = rng
        f = (value - lo) / (hi - lo) if hi > lo else 0.0
        return body.bottom() - max(0.0, min(1.0, f)) * body.height()

    def look(self) -> Look:
        v = self.view()
        n = _number(v)
        py = round(self._y(n, self._body())) if n is not None else None
        return (self.value_text(v), v.quality, self.alarm_priority(), py)

    def draw(self, painter: QPainter, look: Look) -> None:
        text, quality, alarm, py = look
        st = self.ctx.style
        body = self._body()
        path = QPainterPath()
        path.addRoundedRect(body, 10, 10)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(st.base)
        painter.drawPath(path)
        if py is not None:
            painter.save()
            painter.setClipPath(path, Qt.ClipOperation.IntersectClip)
            fill = QRectF(body.left(), py, body.width(), body.bottom() - py)
            bad = quality is not None and quality is not Quality.GOOD
            painter.fillRect(fill, st.brush_bad if bad else QBrush(st.fill))
            painter.restore()
        painter.setPen(st.pen_body)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        # limit marks on the right wall: short ticks and their names
        p = self.point()
        painter.setFont(st.font_small)
        if p is not None:
            for name, m in (("LL", p.lolo), ("L", p.lo), ("H", p.hi), ("HH", p.hihi)):
                if m is None:
                    continue
                y = self._y(m, body)
                active = alarm is not None and (
                    (name.startswith("H") and py is not None and py <= y)
                    or (name.startswith("L") and py is not None and py >= y)
                )
                painter.setPen(QPen(st.alarm_colour(alarm[0]) if active and alarm else st.text, 2))
                painter.drawLine(QPointF(body.right() - 8, y), QPointF(body.right() + 6, y))
                painter.setPen(st.text)
                painter.drawText(
                    QRectF(body.right() + 8, y - 8, 30, 16),
                    Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                    name,
                )
        self.draw_value_box(
            painter,
            QRectF(body.x(), self.rect.y(), body.width(), 20),
            text,
            quality,
            alarm,
            st.font_bold,
            Qt.AlignmentFlag.AlignCenter,
            unit=self.unit(),
        )


# ---------------------------------------------------------------------- pump, motor
class PumpItem(SymbolItem):
    """Running: body filled; stopped: hollow; faulted (its fault tag, or commanded on and not
    running): the alarm colour; unknown (bad quality): hollow, violet, dashed, with '?'."""

    kind = "pump"
    margin = 24.0

    def look(self) -> Look:
        v = self.view()
        running = bool(v.value) if v.quality is not None and v.value is not None else None
        cmd_tag = self.binding.attrs.get("command")
        cmd = self.view(cmd_tag) if cmd_tag else None
        fault_tag = self.binding.attrs.get("fault")
        fault = self.view(fault_tag) if fault_tag else None
        faulted = bool(fault and fault.good and fault.value)
        mismatch = bool(cmd is not None and cmd.good and v.good and bool(cmd.value) != bool(v.value))
        state = (
            "unknown"
            if _bad(v) or running is None
            else "faulted"
            if faulted
            else "running"
            if running
            else "stopped"
        )
        return (
            state,
            v.quality,
            mismatch,
            self.alarm_priority(),
            cmd.value if cmd is not None and cmd.good else None,
        )

    def _shape(self, painter: QPainter, c: QPointF, rad: float) -> None:
        painter.drawEllipse(c, rad, rad)
        # the discharge: a tangential outlet on top, the ISA pump mark
        painter.drawLine(QPointF(c.x(), c.y() - rad), QPointF(c.x() + rad * 1.25, c.y() - rad))
        painter.drawLine(
            QPointF(c.x() + rad * 1.25, c.y() - rad), QPointF(c.x() + rad * 1.25, c.y() - rad * 0.55)
        )

    def draw(self, painter: QPainter, look: Look) -> None:
        state, quality, mismatch, alarm, cmd = look
        st = self.ctx.style
        r = self.rect
        label_h = 18.0
        rad = min(r.width() / 2.6, (r.height() - label_h) / 2.2)
        c = QPointF(r.center().x() - rad * 0.2, r.y() + (r.height() - label_h) / 2)
        if state == "unknown":
            painter.setPen(st.pen_bad_dash)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        elif state == "faulted":
            colour = st.alarm_colour(alarm[0] if alarm else "high")
            painter.setPen(QPen(st.text, 2))
            painter.setBrush(colour)
        elif state == "running":
            painter.setPen(st.pen_body)
            painter.setBrush(st.fill)
        else:
            painter.setPen(st.pen_travel if mismatch else st.pen_body)
            painter.setBrush(st.base)
        self._shape(painter, c, rad)
        self.mark(painter, c, rad, state)
        words = {
            "running": "RUNNING",
            "stopped": "STOPPED",
            "faulted": "FAULT",
            "unknown": quality_text(quality),
        }
        text = words[state] + (" · cmd " + ("ON" if cmd else "OFF") if mismatch else "")
        painter.setFont(st.font_small)
        painter.setPen(st.bad if state == "unknown" else st.text)
        painter.drawText(
            QRectF(r.x() - 20, r.bottom() - label_h, r.width() + 40, label_h),
            Qt.AlignmentFlag.AlignCenter,
            text,
        )

    def mark(self, painter: QPainter, c: QPointF, rad: float, state: str) -> None:
        if state == "unknown":
            painter.setFont(self.ctx.style.sized(rad, bold=True))
            painter.setPen(self.ctx.style.bad)
            painter.drawText(
                QRectF(c.x() - rad, c.y() - rad, 2 * rad, 2 * rad), Qt.AlignmentFlag.AlignCenter, "?"
            )


class MotorItem(PumpItem):
    kind = "motor"

    def _shape(self, painter: QPainter, c: QPointF, rad: float) -> None:
        painter.drawEllipse(c, rad, rad)

    def mark(self, painter: QPainter, c: QPointF, rad: float, state: str) -> None:
        if state == "unknown":
            super().mark(painter, c, rad, state)
            return
        st = self.ctx.style
        painter.setFont(st.sized(rad, bold=True))
        painter.setPen(st.base if state in ("running",) else st.text)
        painter.drawText(
            QRectF(c.x() - rad, c.y() - rad, 2 * rad, 2 * rad), Qt.AlignmentFlag.AlignCenter, "M"
        )


# ---------------------------------------------------------------------- valve
class ValveItem(SymbolItem):
    """Bow-tie valve. Open: filled; closed: hollow; between: the position as a number;
    travelling (command away from position by more than the profile's tolerance): dashed, with
    the commanded value beside the position."""

    kind = "valve"
    margin = 34.0

    def look(self) -> Look:
        v = self.view()
        pos = _number(v)
        cmd_tag = self.binding.attrs.get("command")
        cmd_v = self.view(cmd_tag) if cmd_tag else None
        cmd = _number(cmd_v) if cmd_v is not None and cmd_v.good else None
        tol = 5.0
        cp = self.point(cmd_tag) if cmd_tag else None
        if cp is not None and cp.feedback_tolerance is not None:
            tol = cp.feedback_tolerance
        travelling = cmd is not None and pos is not None and abs(cmd - pos) > tol
        if _bad(v) or pos is None:
            state = "unknown"
        else:
            state = "open" if pos >= 95 else "closed" if pos <= 5 else "partial"
        return (
            state,
            round(pos) if pos is not None else None,
            round(cmd) if cmd is not None else None,
            travelling,
            v.quality,
            self.alarm_priority(),
        )

    def draw(self, painter: QPainter, look: Look) -> None:
        state, pos, cmd, travelling, quality, alarm = look
        st = self.ctx.style
        r = self.rect
        label_h = 18.0
        body = QRectF(r.x() + r.width() * 0.15, r.y() + 2, r.width() * 0.7, r.height() - label_h - 4)
        c = body.center()
        left = QPolygonF([body.topLeft(), QPointF(c.x(), c.y()), body.bottomLeft()])
        right = QPolygonF([body.topRight(), QPointF(c.x(), c.y()), body.bottomRight()])
        if state == "unknown":
            painter.setPen(st.pen_bad_dash)
            painter.setBrush(Qt.BrushStyle.NoBrush)
        else:
            painter.setPen(st.pen_travel if travelling else st.pen_body)
            painter.setBrush(st.fill if state == "open" else st.base)
        painter.drawPolygon(left)
        if state == "partial":
            painter.setBrush(st.base)
        painter.drawPolygon(right)
        if state == "partial" and pos is not None:
            # the open share of the right half, from the centre outwards
            f = pos / 100.0
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(st.fill)
            x = c.x() + (body.right() - c.x()) * f
            dy = (body.height() / 2) * f
            painter.drawPolygon(
                QPolygonF([QPointF(c.x(), c.y()), QPointF(x, c.y() - dy), QPointF(x, c.y() + dy)])
            )
        if state == "unknown":
            text = quality_text(quality)
        else:
            text = f"{pos} %" + (f" → {cmd} %" if travelling else "")
        rect = QRectF(r.x() - 30, r.bottom() - label_h, r.width() + 60, label_h)
        if state == "unknown":
            painter.setFont(st.font_small)
            painter.setPen(st.bad)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        else:
            self.draw_value_box(
                painter, rect, text, quality, alarm, st.font_small, Qt.AlignmentFlag.AlignCenter
            )


# ---------------------------------------------------------------------- pipe
class PipeItem(SymbolItem):
    kind = "pipe"

    def look(self) -> Look:
        if not self.binding.tag:
            return ("static",)
        v = self.view()
        n = _number(v)
        return ("unknown" if _bad(v) else "flow" if n and n > 0 else "still",)

    def draw(self, painter: QPainter, look: Look) -> None:
        st = self.ctx.style
        r = self.rect
        horizontal = (
            self.binding.attrs.get("orientation", "horizontal" if r.width() >= r.height() else "vertical")
            == "horizontal"
        )
        state = look[0]
        colour = st.bad if state == "unknown" else st.muted if state == "flow" else st.border
        width = (r.height() if horizontal else r.width()) * 0.5
        pen = QPen(
            colour,
            max(2.0, width),
            Qt.PenStyle.DashLine if state == "unknown" else Qt.PenStyle.SolidLine,
            Qt.PenCapStyle.FlatCap,
        )
        painter.setPen(pen)
        if horizontal:
            painter.drawLine(QPointF(r.left(), r.center().y()), QPointF(r.right(), r.center().y()))
        else:
            painter.drawLine(QPointF(r.center().x(), r.top()), QPointF(r.center().x(), r.bottom()))


# ---------------------------------------------------------------------- sparkline
class SparklineItem(SymbolItem):
    """The last few minutes of one tag against its normal band (history filled in by the view)."""

    kind = "sparkline"
    capacity = 300

    def __init__(self, binding: Binding, ctx: Context):
        super().__init__(binding, ctx)
        self.points: deque[tuple[float, float | None]] = deque(maxlen=self.capacity)
        self._last_t: float | None = None

    def add(self, t: float, value: float | None) -> None:
        if self._last_t is not None and t <= self._last_t:
            return
        self._last_t = t
        self.points.append((t, value))

    def look(self) -> Look:
        v = self.view()
        if v.t is not None and v.quality is not None:
            self.add(v.t, _number(v) if v.good else None)
        return (self.value_text(v), v.quality, self.alarm_priority(), self._last_t, len(self.points))

    def draw(self, painter: QPainter, look: Look) -> None:
        text, quality, alarm, _, _ = look
        st = self.ctx.style
        r = self.rect
        plot = QRectF(r.x(), r.y() + 16, r.width() - 2, r.height() - 18)
        p = self.point()
        rng = (p.engineering_range if p is not None else None) or (0.0, 100.0)
        lo, hi = rng

        def y(val: float) -> float:
            f = (val - lo) / (hi - lo) if hi > lo else 0.0
            return plot.bottom() - max(0.0, min(1.0, f)) * plot.height()

        painter.fillRect(plot, st.zone)
        if p is not None:
            b0 = next((m for m in (p.lo, p.lolo) if m is not None), lo)
            b1 = next((m for m in (p.hi, p.hihi) if m is not None), hi)
            painter.fillRect(QRectF(plot.x(), y(b1), plot.width(), y(b0) - y(b1)), st.band)
        painter.setFont(st.font_small)
        painter.setPen(st.muted)
        painter.drawText(
            QRectF(r.x(), r.y(), r.width() * 0.6, 16),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.label(),
        )
        self.draw_value_box(
            painter,
            QRectF(r.right() - r.width() * 0.4, r.y(), r.width() * 0.4, 16),
            text,
            quality,
            alarm,
            st.font_small,
            unit=self.unit(),
        )
        if len(self.points) >= 2:
            t0 = self.points[-1][0] - 300.0
            span = 300.0
            path = QPainterPath()
            drawing = False
            for t, val in self.points:
                if val is None or t < t0:
                    drawing = False
                    continue
                pt = QPointF(plot.x() + (t - t0) / span * plot.width(), y(val))
                if drawing:
                    path.lineTo(pt)
                else:
                    path.moveTo(pt)
                    drawing = True
            painter.setPen(QPen(st.text, 1.5))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        painter.setPen(st.pen_border)
        painter.drawRect(plot)


# ---------------------------------------------------------------------- alarm indicator
class AlarmItem(SymbolItem):
    """Shape, colour and priority number (1 urgent diamond, 2 high square, 3 medium triangle,
    4 low inverted triangle); drawn only while an alarm is on the operator's list. Unacknowledged:
    a heavy outline; acknowledged: none."""

    kind = "alarm"

    def look(self) -> Look:
        dev = self.binding.attrs.get("device")
        a = (
            self.ctx.live.tag_alarm(self.binding.tag)
            if self.binding.tag
            else self.ctx.live.device_alarm(dev or "")
        )
        return (a.priority, a.state.needs_ack) if a is not None else (None, False)

    def draw(self, painter: QPainter, look: Look) -> None:
        priority, unacked = look
        if priority is None:
            return
        st = self.ctx.style
        r = self.rect
        s = min(r.width(), r.height())
        b = QRectF(r.center().x() - s / 2, r.center().y() - s / 2, s, s)
        c = b.center()
        shapes = {
            "urgent": [
                QPointF(c.x(), b.top()),
                QPointF(b.right(), c.y()),
                QPointF(c.x(), b.bottom()),
                QPointF(b.left(), c.y()),
            ],
            "high": [
                b.topLeft() + QPointF(s * 0.1, s * 0.1),
                b.topRight() + QPointF(-s * 0.1, s * 0.1),
                b.bottomRight() + QPointF(-s * 0.1, -s * 0.1),
                b.bottomLeft() + QPointF(s * 0.1, -s * 0.1),
            ],
            "medium": [QPointF(c.x(), b.top()), b.bottomRight(), b.bottomLeft()],
            "low": [b.topLeft(), b.topRight(), QPointF(c.x(), b.bottom())],
        }
        painter.setBrush(st.alarm_colour(priority))
        painter.setPen(QPen(st.text, 2.5) if unacked else Qt.PenStyle.NoPen)
        painter.drawPolygon(QPolygonF(shapes.get(priority, shapes["low"])))
        painter.setPen(st.alarm_text_colour(priority))
        painter.setFont(st.sized(s * 0.45, bold=True))
        text_rect = (
            b.adjusted(0, s * 0.15, 0, 0)
            if priority == "medium"
            else b.adjusted(0, 0, 0, -s * 0.15)
            if priority == "low"
            else b
        )
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, PRIORITY_NUMBER.get(priority, "?"))


# ---------------------------------------------------------------------- navigation button
class NavItem(SymbolItem):
    kind = "nav"

    def look(self) -> Look:
        return ("nav",)

    def draw(self, painter: QPainter, look: Look) -> None:
        st = self.ctx.style
        r = self.rect.adjusted(1, 1, -1, -1)
        painter.setPen(st.pen_border)
        painter.setBrush(st.panel)
        painter.drawRoundedRect(r, 4, 4)
        painter.setPen(st.text)
        painter.setFont(st.font)
        label = self.binding.attrs.get("label") or (self.binding.goto or "").split("?")[0]
        painter.drawText(
            r.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, label
        )
        painter.drawText(
            r.adjusted(8, 0, -8, 0), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "›"
        )


# ---------------------------------------------------------------------- overview tile
class TileItem(SymbolItem):
    kind = "tile"

    def look(self) -> Look:
        dev = self.binding.attrs.get("device", "")
        counts = self.ctx.live.alarm_counts(dev)
        return (self.ctx.live.comm_state(dev), tuple(sorted(counts.items())))

    def _row(self) -> QRectF:
        r = self.rect
        return QRectF(r.x() + 12, r.y() + 54, r.width() - 24, 24)

    def live_area(self) -> QRectF:
        return self._row()

    def draw_static(self, painter: QPainter) -> None:
        """The tile, its device and description: the indicators on it are drawn over these."""
        st = self.ctx.style
        r = self.rect
        dev = self.binding.attrs.get("device", "")
        painter.setPen(st.pen_border)
        painter.setBrush(st.base)
        painter.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4)
        painter.setFont(st.sized(17, bold=True))
        painter.setPen(st.text)
        painter.drawText(
            QRectF(r.x() + 12, r.y() + 8, r.width() - 24, 24),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            dev,
        )
        if self.binding.goto:
            painter.drawText(
                QRectF(r.x() + 12, r.y() + 8, r.width() - 24, 24),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                "›",
            )
        painter.setFont(st.font_small)
        painter.setPen(st.muted)
        fm = QFontMetricsF(st.font_small)
        label = fm.elidedText(
            self.binding.attrs.get("label", ""), Qt.TextElideMode.ElideRight, r.width() - 24
        )
        painter.drawText(
            QRectF(r.x() + 12, r.y() + 32, r.width() - 24, 16),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            label,
        )

    def draw(self, painter: QPainter, look: Look) -> None:
        comm, counts = look
        st = self.ctx.style
        # communication: plain words when online, the quality colour otherwise
        row = self._row()
        painter.setFont(st.font)
        if comm == "online":
            painter.setPen(st.muted)
            painter.drawText(row, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "comm online")
        else:
            fm2 = QFontMetricsF(st.font)
            w = fm2.horizontalAdvance(f"comm {comm.upper()}") + 12
            painter.fillRect(QRectF(row.x(), row.y() + 2, w, row.height() - 4), st.bad)
            painter.setPen(st.bad_text)
            painter.drawText(
                row.adjusted(6, 0, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"comm {comm.upper()}",
            )
        # alarms by priority: a chip per priority that has any, nothing when calm
        x = row.right()
        present = dict(counts)
        if not present:
            painter.setPen(st.muted)
            painter.drawText(row, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "no alarms")
            return
        painter.setFont(st.font_bold)
        for prio in ("low", "medium", "high", "urgent"):
            n = present.get(prio)
            if not n:
                continue
            text = f"{PRIORITY_NUMBER[prio]}:{n}"
            w = QFontMetricsF(st.font_bold).horizontalAdvance(text) + 12
            x -= w
            chip = QRectF(x, row.y() + 2, w, row.height() - 4)
            painter.fillRect(chip, st.alarm_colour(prio))
            painter.setPen(st.alarm_text_colour(prio))
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
            x -= 4


# ---------------------------------------------------------------------- bed banner
class BannerItem(SymbolItem):
    """A patient monitor's banner: the bed (a pseudonymous label from the device, never a
    name), whether it is measuring, and its communication state."""

    kind = "banner"

    def look(self) -> Look:
        dev = self.binding.attrs.get("device", "")
        v = self.view()
        bed = str(v.value) if v.good and v.value not in (None, "") else None
        monitoring = self.view(f"{dev}.monitoring")
        mon = bool(monitoring.value) if monitoring.good else None
        return (
            bed,
            v.quality,
            mon,
            self.ctx.live.comm_state(dev),
            self.ctx.live.device_alarm(dev) is not None,
        )

    def draw(self, painter: QPainter, look: Look) -> None:
        bed, _quality, mon, comm, _ = look
        st = self.ctx.style
        r = self.rect
        painter.fillRect(r, st.panel)
        painter.setPen(st.pen_border)
        painter.drawLine(r.bottomLeft(), r.bottomRight())
        painter.setFont(st.sized(r.height() * 0.45, bold=True))
        painter.setPen(st.text)
        label = self.binding.attrs.get("label", "Bed")
        left = QRectF(r.x() + 14, r.y(), r.width() * 0.5, r.height())
        if bed is None:
            painter.drawText(left, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{label} —")
        else:
            painter.drawText(
                left, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{label} {bed}"
            )
        right = QRectF(r.x() + r.width() * 0.45, r.y(), r.width() * 0.55 - 14, r.height())
        painter.setFont(st.sized(r.height() * 0.32))
        if comm != "online":
            text = f"monitor {comm.upper()} — values not current"
            fm = QFontMetricsF(painter.font())
            w = fm.horizontalAdvance(text) + 16
            chip = QRectF(right.right() - w, r.y() + r.height() * 0.18, w, r.height() * 0.64)
            painter.fillRect(chip, st.bad)
            painter.setPen(st.bad_text)
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, text)
            return
        painter.setPen(st.muted)
        state = "measuring" if mon else "STANDBY" if mon is False else "state unknown"
        painter.drawText(right, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, state)


SYMBOL_ITEMS: dict[str, Callable[[Binding, Context], SymbolItem]] = {
    "value": ValueItem,
    "indicator": IndicatorItem,
    "vessel": VesselItem,
    "pump": PumpItem,
    "motor": MotorItem,
    "valve": ValveItem,
    "pipe": PipeItem,
    "sparkline": SparklineItem,
    "alarm": AlarmItem,
    "nav": NavItem,
    "tile": TileItem,
    "banner": BannerItem,
}
