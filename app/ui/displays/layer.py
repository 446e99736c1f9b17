"""The picture of one display as one image at the view's resolution, kept current symbol by
symbol.

A display of thousands of symbols cannot be composed by the scene item by item on every frame:
each item costs Qt a cache look-up, a transform and a blit, and each Python item costs
virtual calls besides, which for 2,000 elements is more than a frame. Here the scene holds a
single painted item. It owns two images of the whole display at the view's scale: the *base*
(the static SVG picture, drawn when the display opens, the zoom changes or the palette changes)
and the *picture* (the base with every symbol on it, in the order of the file), and a third
with every symbol's unchanging parts (scale, label, a tile's body), a cell each: about three
times the display's area at the view's scale in memory, 4 bytes a pixel. A symbol whose look
changed is drawn again into the picture alone: its rectangle is restored from the base, and
the symbols whose rectangles overlap it are drawn again in order (unchanging parts blitted,
live parts drawn), clipped to it. A repaint of the view is then one blit of the exposed
rectangle.

The symbols stay in the scene as items without contents, for clicks, tooltips and cursors.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRect, QRectF, QSizeF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QTransform
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

if TYPE_CHECKING:
    from app.ui.displays.symbols import SymbolItem


class SymbolLayer(QGraphicsItem):
    def __init__(self, size: QSizeF, renderer: QSvgRenderer, window: QColor):
        super().__init__()
        self._rect = QRectF(QPointF(0, 0), size)
        self.renderer = renderer
        self.paper = window
        self.symbols: list[SymbolItem] = []
        self._order: dict[SymbolItem, int] = {}
        self._reach: dict[SymbolItem, list[SymbolItem]] = {}
        #: per symbol at the current scale: its rectangle on the picture, its transform there
        #: and where its unchanging parts are in ``statics`` (physical pixels; None: none)
        self._placement: dict[SymbolItem, tuple[QRect, QTransform, QRect | None]] = {}
        #: every symbol's unchanging parts, each alone in a cell of its own (one image, so
        #: drawing the whole display costs one allocation and one painter for them)
        self.statics: QImage | None = None
        self.base: QImage | None = None
        self.picture: QImage | None = None
        #: (x scale, y scale, device pixel ratio) the images were drawn at
        self._scale: tuple[float, float, float] | None = None
        #: symbols changed outside a batch, drawn before the next blit
        self._pending: dict[SymbolItem, None] = {}
        self._painter: QPainter | None = None
        self._batch_rect = QRectF()
        self.rebuilds = 0  # how often the whole picture was drawn (tests read it)
        self.draws = 0  # how often a changed symbol was drawn into the picture (tests read it)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setZValue(-1)

    def set_symbols(self, symbols: Sequence[SymbolItem]) -> None:
        self.symbols = list(symbols)
        self._order = {s: i for i, s in enumerate(self.symbols)}
        self._reach.clear()
        self.invalidate()

    def set_background(self, renderer: QSvgRenderer, window: QColor) -> None:
        self.renderer = renderer
        self.paper = window
        self.invalidate()

    def invalidate(self) -> None:
        """Draw everything again at the next paint (palette or symbols changed)."""
        self._scale = None
        self._pending.clear()
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    # -- changes ---------------------------------------------------------------------------
    def changed(self, symbol: SymbolItem) -> None:
        """``symbol``'s look changed: draw it now when a batch is open, else before the next
        blit."""
        if self._scale is None:
            return  # the whole picture is drawn at the next paint anyway
        if self._painter is not None:
            self._draw_symbol(self._painter, symbol)
            return
        self._pending[symbol] = None
        self.update(symbol.scene_bounds)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Symbols changed within are drawn with one painter and shown with one update."""
        if self._scale is None or self.picture is None or self._painter is not None:
            yield
            return
        self._painter = self._begin(self.picture)
        self._batch_rect = QRectF()
        try:
            self._draw_pending(self._painter)
            yield
        finally:
            self._painter.end()
            self._painter = None
            if not self._batch_rect.isEmpty():
                self._show(self._batch_rect)

    def _show(self, rect: QRectF) -> None:
        """Have the views repaint ``rect`` (scene coordinates) of the picture.

        Each view's viewport is told directly: an item's ``update()`` makes the scene queue a
        pass over its dirty items, one more event per drawing on the GUI thread that ends in
        the same viewport update, and this item is the only one the scene paints."""
        scene = self.scene()
        views = scene.views() if scene is not None else []
        if not views:
            self.update(rect)
            return
        for view in views:
            # a pixel around it: the blit is aligned outwards from fractional view coordinates
            area = view.mapFromScene(rect).boundingRect().adjusted(-1, -1, 1, 1)
            view.viewport().update(area)

    # -- drawing ---------------------------------------------------------------------------
    def _begin(self, image: QImage) -> QPainter:
        p = QPainter(image)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        return p

    def _rebuild(self, sx: float, sy: float, dpr: float) -> None:
        self._scale = (sx, sy, dpr)
        self._placement.clear()
        w = max(1, math.ceil(self._rect.width() * sx * dpr))
        h = max(1, math.ceil(self._rect.height() * sy * dpr))
        base = QImage(w, h, QImage.Format.Format_RGB32)
        base.setDevicePixelRatio(dpr)
        base.fill(self.paper)
        p = self._begin(base)
        p.scale(sx, sy)
        self.renderer.render(p, QRectF(QPointF(0, 0), QSizeF(self.renderer.defaultSize())))
        p.end()
        picture = base.copy()
        picture.setDevicePixelRatio(dpr)
        self.base, self.picture = base, picture
        self._draw_statics(sx, sy, dpr)
        p = self._begin(picture)
        for s in self.symbols:
            self._draw_one(p, s)
        p.end()
        self._pending.clear()
        self.rebuilds += 1

    def _draw_pending(self, p: QPainter) -> None:
        pending, self._pending = self._pending, {}
        for s in pending:
            self._draw_symbol(p, s)

    def _reaching(self, symbol: SymbolItem) -> list[SymbolItem]:
        """The symbols (``symbol`` among them) whose rectangles overlap its own, in drawing
        order; worked out once per symbol. Rectangles that only touch do not count: a symbol
        keeps a margin inside its rectangle, so the pixel they may share is background."""
        found = self._reach.get(symbol)
        if found is None:
            area = symbol.scene_bounds
            scene = self.scene()
            candidates = (
                self.symbols
                if scene is None
                else scene.items(area, Qt.ItemSelectionMode.IntersectsItemBoundingRect)
            )
            near = {s for s in candidates if s in self._order and s.scene_bounds.intersects(area)}
            near.add(symbol)
            found = sorted(near, key=self._order.__getitem__)
            self._reach[symbol] = found
        return found

    def _place(self, symbol: SymbolItem) -> tuple[QRect, QTransform, QRect | None]:
        placed = self._placement.get(symbol)
        if placed is None:
            assert self._scale is not None
            sx, sy, _ = self._scale
            pos = symbol.pos()
            device = QTransform.fromScale(sx, sy).mapRect(symbol.scene_bounds).toAlignedRect()
            placed = (device, QTransform(sx, 0, 0, sy, sx * pos.x(), sy * pos.y()), None)
            self._placement[symbol] = placed
        return placed

    def _draw_statics(self, sx: float, sy: float, dpr: float) -> None:
        """Every symbol's unchanging parts into ``statics``, shelf by shelf, each clipped to its
        cell and on the same pixel grid as its place on the picture."""
        assert self.picture is not None
        width = self.picture.width()
        cells: list[tuple[SymbolItem, QRect]] = []
        x = y = shelf = 0
        for s in self.symbols:
            if not s.has_static():
                continue
            device = self._place(s)[0]
            w, h = _physical(device, dpr).size().toTuple()
            if w <= 0 or h <= 0:
                continue
            if x + w > width and x > 0:
                x, y, shelf = 0, y + shelf, 0
            cells.append((s, QRect(x, y, w, h)))
            x += w
            shelf = max(shelf, h)
        self.statics = None
        if not cells:
            return
        statics = QImage(max(width, max(c.right() + 1 for _, c in cells)), y + shelf,
                         QImage.Format.Format_ARGB32_Premultiplied)
        statics.setDevicePixelRatio(dpr)
        statics.fill(Qt.GlobalColor.transparent)
        p = self._begin(statics)
        for s, cell in cells:
            device, transform, _ = self._place(s)
            p.setWorldTransform(QTransform())
            p.setClipRect(QRectF(cell.x() / dpr, cell.y() / dpr, cell.width() / dpr, cell.height() / dpr))
            p.setWorldTransform(
                transform * QTransform.fromTranslate(cell.x() / dpr - device.x(), cell.y() / dpr - device.y())
            )
            p.save()
            s.draw_static(p)
            p.restore()
            self._placement[s] = (device, transform, cell)
        p.end()
        self.statics = statics

    def _draw_one(self, p: QPainter, s: SymbolItem, area: QRectF | None = None) -> None:
        """``s`` over what is already there: its unchanging parts, then its live parts unless
        they stay outside ``area``."""
        device, transform, cell = self._place(s)
        if cell is not None and self.statics is not None:
            p.setWorldTransform(QTransform())
            p.drawImage(QPointF(device.topLeft()), self.statics, QRectF(cell))
        if area is not None and not s.scene_live_area().intersects(area):
            return
        p.save()
        p.setWorldTransform(transform)
        s.draw(p, s.current_look())
        p.restore()

    def _draw_symbol(self, p: QPainter, symbol: SymbolItem) -> None:
        assert self.base is not None and self._scale is not None
        self.draws += 1
        device = self._place(symbol)[0]
        p.setWorldTransform(QTransform())
        p.setClipping(False)
        # the base is opaque: drawing it over the old picture replaces it
        p.drawImage(device, self.base, _physical(device, self._scale[2]))
        p.setClipRect(device)
        area = symbol.scene_bounds
        for s in self._reaching(symbol):
            self._draw_one(p, s, area)
        p.setClipping(False)
        self._batch_rect = self._batch_rect.united(symbol.scene_bounds)

    # -- the item --------------------------------------------------------------------------
    def prepare(self, sx: float, sy: float, dpr: float = 1.0) -> QImage:
        """The picture at this scale, current: drawn whole when the scale changed (or the
        palette), else with the symbols changed since the last batch drawn into it."""
        if self._scale != (sx, sy, dpr) or self.picture is None:
            self._rebuild(sx, sy, dpr)
        elif self._pending:
            p = self._begin(self.picture)
            self._draw_pending(p)
            p.end()
        assert self.picture is not None
        return self.picture

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        t = painter.worldTransform()
        device = painter.device()
        dpr = device.devicePixelRatioF() if device is not None else 1.0
        picture = self.prepare(t.m11(), t.m22(), dpr)
        # the picture's pixels land on the device's: one blit of the exposed part, unscaled
        origin = t.map(QPointF(0, 0))
        ox, oy = round(origin.x()), round(origin.y())
        whole = QRect(0, 0, math.ceil(self._rect.width() * t.m11()), math.ceil(self._rect.height() * t.m22()))
        source = t.mapRect(option.exposedRect).toAlignedRect().translated(-ox, -oy).intersected(whole)
        if source.isEmpty():
            return
        painter.save()
        painter.setWorldTransform(QTransform())
        painter.drawImage(source.translated(ox, oy), picture, _physical(source, dpr))
        painter.restore()


def _physical(rect: QRect, dpr: float) -> QRect:
    if dpr == 1.0:
        return rect
    return QRect(
        math.floor(rect.x() * dpr),
        math.floor(rect.y() * dpr),
        math.ceil(rect.width() * dpr),
        math.ceil(rect.height() * dpr),
    )
