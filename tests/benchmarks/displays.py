"""Process display benchmark (run by hand):
``QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/displays.py [--base-tree DIR]``.

On the real demo plant polled at 10 Hz over Modbus TCP:

1. **frames/s** of a display with 2,000 live bound elements (moving analog indicators and values
   bound round-robin to every numeric tag of the plant), when every element changes every
   frame (each frame: a batch of changed samples, one flush within its budget, the changed
   region painted; element repaints/s says how much of the display that kept current, and how
   long it takes until every element has been drawn with a newer value), beside the same-run
   baseline of the bare scene: 2,000 static items of the same kinds, painted whole each frame;
   and the time to draw the whole picture once (opening the display, a zoom, a palette change);
2. **worst GUI-thread block** (a 5 ms timer's worst lateness) with the same display on its
   normal timers for a while (bridge at 25 Hz, flush per frame), beside the same-run floor: the
   same timer with the core polling and no window;
3. **idle CPU** of the whole workstation (``vigil run``, a process of its own) on the demo plant
   with the overview shown and nothing happening, as % of one core over a fixed window after
   start-up, beside the headless core (``vigil run --headless``) and, with ``--base-tree DIR``
   (a git worktree of Vigil 0.1, e.g. commit 5ffe84b), the 0.1 window measured the same way.

Aims (issue 14): >= 30 frames/s, worst block <= 50 ms, idle CPU <= 4 % of a core.
Every figure is printed with the load average, because the machine is shared.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from process_cpu import load, process_cpu  # noqa: E402
from PySide6.QtCore import QEvent, QObject, QRectF, QTimer  # noqa: E402
from PySide6.QtWidgets import (  # noqa: E402
    QApplication,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

ELEMENTS = 2000
COLS = 40
CELL_W, CELL_H = 48.0, 30.0
FRAME_SECONDS = 6.0
LIVE_SECONDS = 10.0
IDLE_SETTLE_S = 20.0
IDLE_WINDOW_S = 30.0



class PaintCounter(QObject):
    def __init__(self, widget: QWidget):
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self.count += 1
        return False


class BlockMeter:
    """A 5 ms timer; its worst lateness is the longest the GUI thread could not respond."""

    def __init__(self, interval_ms: int = 5):
        self.interval = interval_ms / 1000.0
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last - self.interval)
        self._last = now

    def worst_ms(self) -> float:
        return max(self.gaps, default=0.0) * 1000.0

    def p99_ms(self) -> float:
        g = sorted(self.gaps)
        return g[int(len(g) * 0.99)] * 1000.0 if g else 0.0


def pump(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def big_display_svg(tags: list[str]) -> bytes:
    rows = -(-ELEMENTS // COLS)
    w, h = COLS * CELL_W, rows * CELL_H
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="https://vigil-scada.org/display/1" '
        f'viewBox="0 0 {w:g} {h:g}">\n'
    ]
    for i in range(ELEMENTS):
        x, y = (i % COLS) * CELL_W, (i // COLS) * CELL_H
        symbol = "indicator" if i % 2 else "value"
        tag = tags[i % len(tags)]
        out.append(
            f'<rect id="e{i}" x="{x:g}" y="{y:g}" width="{CELL_W - 4:g}" height="{CELL_H - 4:g}" '
            f'vigil:symbol="{symbol}" vigil:tag="{tag}" vigil:label="{tag.split(".")[1][:6]}"/>\n'
        )
    out.append("</svg>\n")
    return "".join(out).encode()


def bare_scene_fps(app: QApplication, size: tuple[int, int], seconds: float) -> tuple[float, float]:
    """Baseline: the same number of static items (a frame and a text each), painted only."""
    scene = QGraphicsScene()
    rows = -(-ELEMENTS // COLS)
    scene.setSceneRect(QRectF(0, 0, COLS * CELL_W, rows * CELL_H))
    for i in range(ELEMENTS):
        x, y = (i % COLS) * CELL_W, (i // COLS) * CELL_H
        scene.addItem(QGraphicsRectItem(x, y + 14, CELL_W - 4, 6))
        t = QGraphicsSimpleTextItem(f"{i % 1000}.0")
        t.setPos(x, y)
        scene.addItem(t)
    view = QGraphicsView(scene)
    view.resize(*size)
    view.show()
    view.fitInView(scene.sceneRect())
    pump(app, 0.3)
    paints = PaintCounter(view.viewport())
    t0, c0 = time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        view.viewport().repaint()
        app.processEvents()
    fps = paints.count / (time.perf_counter() - t0)
    cpu_ms = (time.thread_time() - c0) * 1000.0 / max(1, paints.count)
    view.close()
    return fps, cpu_ms


def display_figures() -> None:
    from app.core.displays import DisplayCatalogue, parse_display
    from app.core.model import Sample
    from app.core.users import Role
    from app.station import Core, LocalStation
    from app.ui.app import ensure_app, settle_memory
    from app.ui.bridge import CoreBridge
    from app.ui.displays.scene import DisplayScene
    from app.ui.displays.view import DisplayView
    from app.ui.palette import LIGHT

    app = ensure_app()
    tmp = Path(tempfile.mkdtemp(prefix="vigil-displaybench-"))
    core = Core(tmp / "data", demo_interval_ms=100, plugins_enabled=False)
    core.start()
    try:
        core.users.add(None, "admin", "admin-password-1", Role.ADMINISTRATOR)
        core.login("admin", "admin-password-1")
        station = LocalStation(core)
        floor = BlockMeter()
        floor.start()
        pump(app, 4.0)
        floor.stop()

        tags = [
            f"{d.name}.{p.name}"
            for d in core.plant.enabled_devices()
            for p in core.plant.profiles[d.name].points
            if str(p.type) not in ("bool", "string")
        ]
        display = parse_display(big_display_svg(tags), "<benchmark>", "bench")
        assert display.ok and len(display.bindings) == ELEMENTS, display.problems[:3]
        view = DisplayView(station, DisplayCatalogue(station.plant), LIGHT)
        view.resize(1600, 960)
        view.show()
        scene = DisplayScene(display, view.live, view.points, LIGHT, view.canvas.visible_scene_rect)
        view.scene = scene
        view.canvas.setScene(scene)
        view.canvas.resetTransform()
        view.canvas.fitInView(scene.sceneRect())
        collector = settle_memory()
        pump(app, 1.0)
        size = (view.canvas.viewport().width(), view.canvas.viewport().height())

        # 1. every element changes every frame
        latest = dict(station.latest())
        paints = PaintCounter(view.canvas.viewport())
        frames = 0
        repaints_before = sum(i.repaints for i in scene.symbols)
        t0, c0 = time.perf_counter(), time.thread_time()
        k = 0
        while time.perf_counter() - t0 < FRAME_SECONDS:
            k += 1
            now = time.time()
            batch = [
                Sample(t, float(s.value) + (k % 7) * 0.37, s.quality, now)
                for t, s in latest.items()
                if t in view.points and isinstance(s.value, (int, float)) and not isinstance(s.value, bool)
            ]
            view.on_samples(batch)
            scene.flush()
            app.processEvents()  # Qt paints the region that changed, as it does live
            frames += 1
        elapsed = time.perf_counter() - t0
        display_cpu_ms = (time.thread_time() - c0) * 1000.0 / max(1, paints.count)
        display_fps = paints.count / elapsed
        element_rate = (sum(i.repaints for i in scene.symbols) - repaints_before) / elapsed
        # the whole picture drawn again, as on opening the display or a zoom (median of 5)
        whole = []
        for _ in range(5):
            t = time.perf_counter()
            scene.layer.invalidate()
            view.canvas.viewport().repaint()
            whole.append((time.perf_counter() - t) * 1000.0)
        bare_fps, bare_cpu_ms = bare_scene_fps(app, size, FRAME_SECONDS)

        # 2. on its normal timers with the real 10 Hz plant
        bridge = CoreBridge(station)
        bridge.samples.connect(view.on_samples)
        bridge.alarms_changed.connect(view.on_alarms)
        bridge.diagnostics.connect(view.on_diagnostics)
        bridge.start()
        pump(app, 1.0)
        meter = BlockMeter()
        live_paints = PaintCounter(view.canvas.viewport())
        repaints0 = sum(i.repaints for i in scene.symbols)
        meter.start()
        c0 = time.thread_time()
        pump(app, LIVE_SECONDS)
        live_cpu = (time.thread_time() - c0) / LIVE_SECONDS * 100.0
        meter.stop()
        live_fps = live_paints.count / LIVE_SECONDS
        repaint_rate = (sum(i.repaints for i in scene.symbols) - repaints0) / LIVE_SECONDS
        bridge.stop()
        view.stop()
        collector.timer.stop()

        print(f"display of {ELEMENTS} live bound elements ({len(tags)} numeric tags of the demo plant), "
              f"viewport {size[0]}x{size[1]}:")
        print(f"  frames/s, every element changing every frame: {display_fps:.1f} fps (aim >= 30), "
              f"{element_rate:.0f} element repaints/s (every element drawn anew within "
              f"{ELEMENTS / max(element_rate, 1e-9):.2f} s), GUI-thread CPU {display_cpu_ms:.1f} ms a frame "
              f"(bare scene of {ELEMENTS} static items, paint only: {bare_fps:.1f} fps, "
              f"{bare_cpu_ms:.1f} ms a frame; "
              f"ratio {display_fps / bare_fps:.2f})  [load {load()}]")
        print(f"  whole picture drawn (open, zoom, palette): median {statistics.median(whole):.0f} ms, "
              f"worst {max(whole):.0f} ms of 5  [load {load()}]")
        print(f"  live at 10 Hz for {LIVE_SECONDS:.0f} s: {live_fps:.1f} paints/s, "
              f"{repaint_rate:.0f} element repaints/s, GUI thread busy {live_cpu:.0f} % "
              f"(incl. the 5 ms probe and 1 ms polling loop); worst GUI block {meter.worst_ms():.1f} ms "
              f"(aim <= 50), p99 {meter.p99_ms():.1f} ms (floor, core polling and no window: worst "
              f"{floor.worst_ms():.1f} ms, p99 {floor.p99_ms():.1f} ms)  [load {load()}]")
    finally:
        core.stop()



def idle_figures(base_tree: Path | None) -> None:
    py = sys.executable
    duration = str(IDLE_SETTLE_S + IDLE_WINDOW_S + 15)
    runs: list[tuple[str, Path, list[str]]] = [
        ("0.2 window, overview shown", ROOT, ["run", "--duration", duration]),
        ("headless core (no window)", ROOT, ["run", "--headless", "--duration", duration]),
    ]
    if base_tree is not None:
        runs.append(("0.1 window (base tree)", base_tree, ["run", "--duration", duration]))
    results: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    for _round in range(2):  # alternate, so load drifts hit every variant alike
        for name, tree, args in runs:
            with tempfile.TemporaryDirectory(prefix="vigil-idle-") as data:
                env = dict(os.environ, QT_QPA_PLATFORM="offscreen", VIGIL_DATA_DIR=data)
                cmd = [py, "-c", "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))", *args]
                results[name].append(process_cpu(cmd, tree, env, IDLE_SETTLE_S, IDLE_WINDOW_S))
    print(f"idle CPU, demo plant at its own poll intervals, {IDLE_WINDOW_S:.0f} s window after "
          f"{IDLE_SETTLE_S:.0f} s start-up (% of one core, two runs each, alternating):")
    for name, values in results.items():
        runs_text = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name}: {runs_text} % (median {statistics.median(values):.1f} %)")
    print(f"  [load {load()}]")


def main() -> int:
    base = None
    if "--base-tree" in sys.argv:
        base = Path(sys.argv[sys.argv.index("--base-tree") + 1]).resolve()
    if "--idle-only" not in sys.argv:
        display_figures()
    if "--frames-only" not in sys.argv:
        idle_figures(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
