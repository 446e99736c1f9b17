"""One display on one QGraphicsScene: the static picture from one shared SVG renderer and the
symbols, drawn together by one `SymbolLayer`, and a symbol item per bound element.

Updates arrive per bridge drain (samples, alarm changes, diagnostics) and only mark the items
whose tags changed; the marks are flushed when the drain that made them ends (so the display's
repaint and the tag table's reach the screen together), and marks made outside a drain once
per frame (coalesced on a single-shot timer). So however many samples arrive, an item is looked
at and drawn at most once per drain (at most 25 a second) or frame, and an item outside the
visible part of the view stays marked until it scrolls into sight. An item is drawn
again only when its look (the text, pixel positions and states it shows) changed, so a quiet
plant draws nothing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable

from PySide6.QtCore import QRectF, QSizeF, QTimer
from PySide6.QtGui import QColor
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QGraphicsScene

from app.core.displays import Display
from app.core.model import Sample
from app.core.profiles import Point
from app.station.interface import AlarmView, DeviceDiagnostics
from app.ui.displays.layer import SymbolLayer
from app.ui.displays.live import LiveModel
from app.ui.displays.symbols import SYMBOL_ITEMS, Context, SymbolItem, SymbolStyle
from app.ui.palette import LIGHT, Scheme

#: a frame at ~60 Hz: marks made within it are painted together
FRAME_MS = 16
#: after a flush that ran out of budget: the pause before the next one, long enough for the
#: window's other events and the paint of what was drawn
BACKLOG_MS = 4
#: the most one flush spends working out and drawing changed symbols; what is left waits for
#: the next frame, so the window answers within a frame however much changed
FLUSH_BUDGET_S = 0.008

#: the light palette's colours a display file may use, and what each one is, so the dark
#: palette can draw the same picture (a display is drawn in the light palette's colours)
THEME_COLOURS = {
    LIGHT.text: "text",
    LIGHT.muted: "muted",
    LIGHT.border: "border",
    LIGHT.panel: "panel",
    LIGHT.base: "base",
    LIGHT.window: "window",
    LIGHT.alt_base: "alt_base",
}


def themed_svg(svg: bytes, scheme: Scheme) -> bytes:
    """The SVG with the light palette's colours swapped for ``scheme``'s."""
    if scheme.name == LIGHT.name:
        return svg
    text = svg.decode("utf-8")
    for colour, role in THEME_COLOURS.items():
        target = getattr(scheme, role)
        text = text.replace(colour, target).replace(colour.upper(), target)
    return text.encode("utf-8")


class DisplayScene(QGraphicsScene):
    def __init__(
        self,
        display: Display,
        live: LiveModel,
        points: dict[str, Point],
        scheme: Scheme,
        visible_rect: Callable[[], QRectF] | None = None,
    ):
        super().__init__()
        self.display = display
        self.live = live
        self.points = points
        self.symbol_style = SymbolStyle(scheme, medical=display.style == "medical")
        self.ctx = Context(live, points, self.symbol_style)
        self.visible_rect = visible_rect
        self.setSceneRect(QRectF(0, 0, display.width, display.height))
        self.setBackgroundBrush(QColor(scheme.window))
        # symbols never move: the BSP index finds those under the mouse without asking every
        # one of them for its bounds
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.renderer = QSvgRenderer(themed_svg(display.background, scheme))
        self.layer = SymbolLayer(QSizeF(display.width, display.height), self.renderer, QColor(scheme.window))
        self.addItem(self.layer)
        self.items_by_key: dict[str, list[SymbolItem]] = defaultdict(list)
        self.symbols: list[SymbolItem] = []
        for b in display.bindings:
            factory = SYMBOL_ITEMS.get(b.symbol)
            if factory is None:
                continue
            item = factory(b, self.ctx)
            item.attach(self.layer)
            self.addItem(item)
            self.symbols.append(item)
            for key in {*b.tags(), *([b.attrs["device"]] if b.attrs.get("device") else [])}:
                self.items_by_key[key].append(item)
        #: per key, its items as a dict ready to merge into the marks
        self._marks = {key: dict.fromkeys(items) for key, items in self.items_by_key.items()}
        #: marked items in the order they were marked (a dict: ordered, no duplicates)
        self._dirty: dict[SymbolItem, None] = {}
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FRAME_MS)
        self._flush_timer.timeout.connect(self.flush)
        self.flushes = 0
        for item in self.symbols:
            item.refresh()
        self.layer.set_symbols(self.symbols)

    def set_scheme(self, scheme: Scheme) -> None:
        self.symbol_style = SymbolStyle(scheme, self.symbol_style.medical)
        self.ctx.style = self.symbol_style
        self.setBackgroundBrush(QColor(scheme.window))
        self.renderer = QSvgRenderer(themed_svg(self.display.background, scheme))
        for item in self.symbols:
            item.restyle()
        self.layer.set_background(self.renderer, QColor(scheme.window))

    # -- live ------------------------------------------------------------------------------
    def mark(self, keys: Iterable[str]) -> None:
        marks = self._marks
        for key in keys:
            items = marks.get(key)
            if items:
                self._dirty.update(items)
        if self._dirty and not self._flush_timer.isActive():
            self._flush_timer.start(FRAME_MS)

    def mark_all(self) -> None:
        self._dirty.update(dict.fromkeys(self.symbols))
        if self._dirty and not self._flush_timer.isActive():
            self._flush_timer.start(FRAME_MS)

    def on_samples(self, batch: list[Sample]) -> None:
        self.mark(self.live_tags(batch))

    @staticmethod
    def live_tags(batch: list[Sample]) -> set[str]:
        return {s.tag for s in batch}

    def on_alarms(self, views: list[AlarmView]) -> None:
        self.mark({v.source for v in views} | {v.device for v in views})

    def on_diagnostics(self, diags: dict[str, DeviceDiagnostics], changed: set[str]) -> None:
        if changed:
            # a device going down makes every value of it stale: its tags and its tiles
            keys = set(changed)
            keys.update(t for t in self.items_by_key if t.split(".", 1)[0] in changed)
            self.mark(keys)

    def flush(self) -> None:
        """Refresh the marked items that are in sight, oldest mark first, for at most one
        frame's budget; what is left is refreshed on the next frame, so a burst of changes is
        spread over frames instead of freezing the window. Items out of sight wait for the
        view to move."""
        self._flush_timer.stop()  # called directly (a drain ended): no second look this frame
        if not self._dirty:
            return
        self.flushes += 1
        visible = self.visible_rect() if self.visible_rect is not None else None
        t_end = time.perf_counter() + FLUSH_BUDGET_S
        left_in_sight = False
        with self.layer.batch():
            for item in list(self._dirty):
                if visible is not None and not visible.intersects(item.scene_bounds):
                    continue
                if time.perf_counter() > t_end:
                    left_in_sight = True
                    break
                del self._dirty[item]
                item.refresh()
        if left_in_sight:
            self._flush_timer.start(BACKLOG_MS)

    def pending(self) -> int:
        return len(self._dirty)
