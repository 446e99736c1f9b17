"""The display's picture (`SymbolLayer`): samples are coalesced to one look and one drawing per
symbol per frame, a change that does not show at the displayed precision draws nothing, and a
symbol drawn again alone leaves exactly the picture that drawing everything would give,
symbols under and over it included."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from app.core.alarms.types import AlarmState, AlarmView
from app.core.displays import Display, parse_display
from app.core.model import Quality, Sample
from app.core.staleness import StaleRule
from app.ui.displays.live import LiveModel
from app.ui.displays.scene import DisplayScene
from app.ui.displays.symbols import SymbolItem
from app.ui.palette import LIGHT

HEAD = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="https://vigil-scada.org/display/1" '
    'viewBox="0 0 400 200">\n<rect x="0" y="0" width="400" height="200" fill="#d4d4d4"/>\n'
    '<line x1="0" y1="100" x2="400" y2="100" stroke="#505050" stroke-width="3"/>\n'
)


def display(body: str) -> Display:
    d = parse_display((HEAD + body + "</svg>\n").encode(), "t.svg", "t")
    assert d.ok, d.problems
    return d


def scene_of(d: Display) -> tuple[DisplayScene, LiveModel]:
    live = LiveModel(StaleRule({}))
    return DisplayScene(d, live, {}, LIGHT), live


def feed(scene: DisplayScene, live: LiveModel, values: dict[str, float]) -> None:
    now = time.time()
    live.now = now
    batch = [Sample(tag, v, Quality.GOOD, now) for tag, v in values.items()]
    scene.mark(live.apply_samples(batch))


def settle(scene: DisplayScene) -> None:
    """Flush frame after frame until every mark is drawn (a flush stops at its time budget)."""
    for _ in range(100):
        if not scene.pending():
            return
        scene.flush()
    raise AssertionError("marks left after 100 frames")


def symbol(scene: DisplayScene, ident: str) -> SymbolItem:
    return next(s for s in scene.symbols if s.binding.id == ident)


GRID = "".join(
    f'<rect id="v{i}" x="{10 + (i % 4) * 90}" y="{10 + (i // 4) * 40}" width="80" height="30" '
    f'vigil:symbol="{"value" if i % 2 else "indicator"}" vigil:tag="dev.t{i % 3}" vigil:label="t{i}"/>\n'
    for i in range(12)
)


def test_a_burst_of_samples_is_one_look_and_one_drawing_per_symbol_per_frame(qtbot: Any) -> None:
    scene, live = scene_of(display(GRID))
    scene.layer.prepare(1.0, 1.0)
    feed(scene, live, {"dev.t0": 1.0, "dev.t1": 2.0, "dev.t2": 3.0})
    settle(scene)
    repaints = {s: s.repaints for s in scene.symbols}
    draws = scene.layer.draws
    for k in range(50):  # fifty batches of samples arriving before the next frame
        feed(scene, live, {"dev.t0": 10.0 + k, "dev.t1": 20.0 + k})
    assert scene.pending() == 8  # the symbols of t0 and t1, each marked once
    settle(scene)
    changed = [s for s in scene.symbols if s.tag in ("dev.t0", "dev.t1")]
    assert all(s.repaints == repaints[s] + 1 for s in changed)  # the last value only
    assert all(s.repaints == repaints[s] for s in scene.symbols if s.tag == "dev.t2")
    assert scene.layer.draws == draws + len(changed)
    assert symbol(scene, "v1").current_look()[0] == "69.0"  # dev.t1: its last sample


def test_a_change_below_the_displayed_precision_draws_nothing(qtbot: Any) -> None:
    scene, live = scene_of(display(GRID))
    feed(scene, live, {"dev.t0": 42.01, "dev.t1": 7.0, "dev.t2": 7.0})
    settle(scene)
    picture = QImage(scene.layer.prepare(1.0, 1.0))
    repaints = {s: s.repaints for s in scene.symbols}
    draws = scene.layer.draws
    feed(scene, live, {"dev.t0": 42.04})  # 42.0 either way, the pointer on the same pixel
    settle(scene)
    assert {s: s.repaints for s in scene.symbols} == repaints
    assert scene.layer.draws == draws
    assert scene.layer.prepare(1.0, 1.0) == picture
    feed(scene, live, {"dev.t0": 42.06})  # now it shows: 42.1
    settle(scene)
    assert scene.layer.draws == draws + 4
    assert scene.layer.prepare(1.0, 1.0) != picture


OVERLAP = (
    # a device tile under all; a navigation button under a value, an indicator over part of both,
    # a vessel beside them
    '<rect id="tile" x="5" y="5" width="280" height="185" vigil:symbol="tile" vigil:device="dev"/>\n'
    '<rect id="nav" x="20" y="20" width="200" height="60" vigil:symbol="nav" vigil:goto="other"/>\n'
    '<rect id="val" x="40" y="30" width="120" height="40" vigil:symbol="value" vigil:tag="dev.a" '
    'vigil:label="flow"/>\n'
    '<rect id="ind" x="130" y="50" width="150" height="40" vigil:symbol="indicator" vigil:tag="dev.b"/>\n'
    '<rect id="low" x="30" y="120" width="100" height="40" vigil:symbol="value" vigil:tag="dev.b"/>\n'
    '<rect id="ves" x="290" y="10" width="90" height="150" vigil:symbol="vessel" vigil:tag="dev.c"/>\n'
    '<rect id="alm" x="300" y="165" width="24" height="24" vigil:symbol="alarm" vigil:tag="dev.c"/>\n'
)


def test_a_symbol_drawn_alone_leaves_the_picture_drawing_everything_gives(qtbot: Any) -> None:
    for scale in ((1.0, 1.0, 1.0), (0.75, 0.75, 1.0), (1.3, 0.9, 1.0), (1.0, 1.0, 2.0), (0.8, 0.8, 1.5)):
        scene, live = scene_of(display(OVERLAP))
        feed(scene, live, {"dev.a": 12.0, "dev.b": 30.0, "dev.c": 40.0})
        settle(scene)
        scene.layer.prepare(*scale)
        rebuilds = scene.layer.rebuilds
        for k, (a, b, c) in enumerate([(13.5, 31.0, 55.0), (99.9, 31.0, 56.0), (0.0, 80.0, 5.0)]):
            feed(scene, live, {"dev.a": a, "dev.b": b, "dev.c": c})
            settle(scene)
            drawn_alone = QImage(scene.layer.prepare(*scale))
            assert scene.layer.rebuilds == rebuilds, "drawn symbol by symbol, not whole"
            scene.layer.invalidate()
            drawn_whole = scene.layer.prepare(*scale)
            rebuilds = scene.layer.rebuilds
            assert drawn_alone == drawn_whole, f"scale {scale}, step {k}"


def test_the_picture_shows_each_symbol_as_the_symbol_paints_itself(qtbot: Any) -> None:
    scene, live = scene_of(display(OVERLAP))
    feed(scene, live, {"dev.a": 12.0, "dev.b": 30.0, "dev.c": 40.0})
    settle(scene)
    picture = scene.layer.prepare(1.0, 1.0)
    # the same display painted the plain way: the SVG, then each item painting itself in turn
    plain = QImage(picture.size(), QImage.Format.Format_RGB32)
    plain.fill(QColor(LIGHT.window))
    p = QPainter(plain)
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    assert scene.renderer is not None
    scene.renderer.render(p, QRectF(0, 0, 400, 200))
    for s in scene.symbols:
        p.save()
        p.translate(s.pos())
        s.paint(p, None, None)  # type: ignore[arg-type]
        p.restore()
    p.end()
    worst = 0
    for y in range(plain.height()):
        for x in range(plain.width()):
            a, b = picture.pixelColor(x, y), plain.pixelColor(x, y)
            worst = max(worst, abs(a.red() - b.red()), abs(a.green() - b.green()), abs(a.blue() - b.blue()))
    # the labels are kept as images of their own, so their anti-aliased edges may round apart
    assert worst <= 2, worst


def alarm(ident: str, priority: str, state: AlarmState, tag: str = "dev.a") -> AlarmView:
    return AlarmView(
        id=ident, kind="HI", priority=priority, state=state, condition=True, source=tag,
        device=tag.split(".")[0], description="", unit="", value=99.0, limit=90.0,
        activated_at=1.0, last_change=1.0,
    )


def test_the_alarm_a_symbol_shows_follows_every_alarm_change(qtbot: Any) -> None:
    scene, live = scene_of(display(OVERLAP))
    feed(scene, live, {"dev.a": 12.0, "dev.b": 30.0, "dev.c": 40.0})
    settle(scene)
    val, ind = symbol(scene, "val"), symbol(scene, "ind")
    assert val.current_look()[2] is None

    def change(*views: AlarmView) -> None:
        scene.mark(live.apply_alarms(views))
        settle(scene)

    change(alarm("a:HI", "low", AlarmState.UNACK_ACTIVE))
    assert val.current_look()[2] == ("low", True)
    change(alarm("a:HIHI", "high", AlarmState.UNACK_ACTIVE))  # the more important one shows
    assert val.current_look()[2] == ("high", True)
    change(alarm("a:HIHI", "high", AlarmState.ACK_ACTIVE))
    assert val.current_look()[2] == ("high", False)
    change(alarm("a:HIHI", "high", AlarmState.NORMAL), alarm("a:HI", "low", AlarmState.NORMAL))
    assert val.current_look()[2] is None
    assert ind.current_look()[2] is None  # another tag's symbol never took the alarm
    assert live.device_alarm("dev") is None



def test_a_changed_symbol_is_repainted_on_the_view(qtbot: Any) -> None:
    """The picture's changed rectangle is handed to the view's viewport directly (no queued
    pass of the scene over its dirty items): the view gets a paint that covers the changed
    symbol, and shows the picture there, at a scale that is not a whole number."""
    from PySide6.QtCore import QEvent, QObject, QPoint
    from PySide6.QtGui import QPaintEvent, QRegion

    from app.ui.displays.view import DisplayCanvas

    class Paints(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.regions: list[QRegion] = []

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if isinstance(event, QPaintEvent):
                self.regions.append(QRegion(event.region()))
            return False

    scene, live = scene_of(display(GRID))
    canvas = DisplayCanvas()
    qtbot.addWidget(canvas)
    canvas.setScene(scene)
    canvas.resize(530, 270)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.fit()
    feed(scene, live, {"dev.t0": 1.0, "dev.t1": 2.0, "dev.t2": 3.0})
    settle(scene)
    qtbot.wait(100)
    paints = Paints()
    canvas.viewport().installEventFilter(paints)
    v1 = symbol(scene, "v1")
    where = canvas.mapFromScene(v1.scene_bounds).boundingRect()
    feed(scene, live, {"dev.t1": 88.0})
    settle(scene)
    qtbot.waitUntil(lambda: any(r.contains(where) for r in paints.regions), timeout=3000)
    canvas.viewport().removeEventFilter(paints)
    shown = canvas.viewport().grab().toImage()
    t = canvas.viewportTransform()
    assert t.m11() not in (1.0, 2.0)
    picture = scene.layer.prepare(t.m11(), t.m22())
    assert v1.current_look()[0] == "88.0"
    corner = canvas.mapFromScene(0, 0)
    inner = where.adjusted(1, 1, -1, -1)
    for y in range(inner.top(), inner.bottom(), 3):
        for x in range(inner.left(), inner.right(), 3):
            assert shown.pixel(x, y) == picture.pixel(QPoint(x, y) - corner), (x, y)
