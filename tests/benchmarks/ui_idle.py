"""Idle CPU of the workstation (issue 14), run by hand:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/ui_idle.py [--base-tree DIR] [--rounds N]

``vigil run`` on the demo plant (a process of its own, its own data folder), the overview shown
and nothing happening but the plant's polling and noise; the process's CPU (user + system, all
threads) over ``WINDOW_S`` seconds after ``SETTLE_S`` of start-up, as % of one core. Beside it, in
the same run and alternating so load drifts hit every variant alike: the headless core
(``vigil run --headless``, the floor a window cannot go below) and, with ``--base-tree DIR`` (a
git worktree of an older commit), that tree's window measured the same way.

``--explain`` runs one window in this process instead and prints what the GUI thread did in the
window: its CPU, and events by kind and receiver (paints, timers, layout requests), which is
how the tag table's repaints were found to be the idle cost.

Aim (issue 14): <= 4 % of a core. The load average is printed with every figure.
"""

from __future__ import annotations

import collections
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from process_cpu import load, process_cpu

ROOT = Path(__file__).resolve().parents[2]
SETTLE_S = 20.0
WINDOW_S = 30.0




def measure(base_tree: Path | None, rounds: int) -> None:
    duration = str(SETTLE_S + WINDOW_S + 15)
    runs: list[tuple[str, Path, list[str]]] = [
        ("window, overview shown (this tree)", ROOT, ["run", "--duration", duration]),
        ("headless core (no window)", ROOT, ["run", "--headless", "--duration", duration]),
    ]
    if base_tree is not None:
        runs.append((f"window, base tree {base_tree.name}", base_tree, ["run", "--duration", duration]))
    results: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    loads: list[float] = []
    for _ in range(rounds):
        for name, tree, args in runs:
            with tempfile.TemporaryDirectory(prefix="vigil-idle-") as data:
                env = dict(os.environ, QT_QPA_PLATFORM="offscreen", VIGIL_DATA_DIR=data)
                env.pop("PYTHONPATH", None)
                entry = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"
                cmd = [sys.executable, "-c", entry, *args]
                results[name].append(process_cpu(cmd, tree, env, SETTLE_S, WINDOW_S))
                loads.append(os.getloadavg()[0])
                print(f"  {name}: {results[name][-1]:.1f} %  [load {load()}]", flush=True)
    print(f"\nidle CPU, demo plant at its own poll intervals, {WINDOW_S:.0f} s after {SETTLE_S:.0f} s of "
          f"start-up (% of one core; {rounds} runs each, alternating):")
    for name, values in results.items():
        runs_text = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name}: {runs_text} % (median {statistics.median(values):.1f} %)")
    mine = statistics.median(results[runs[0][0]])
    floor = statistics.median(results[runs[1][0]])
    print(f"  window minus headless core: {mine - floor:.1f} % of a core")
    if base_tree is not None:
        base = statistics.median(results[runs[2][0]])
        print(f"  this tree / base tree: {mine / base:.2f}")
    print(f"  load average during the runs: median {statistics.median(loads):.1f} "
          f"(min {min(loads):.1f}, max {max(loads):.1f})")


def explain() -> None:
    """One window in this process: GUI-thread CPU and its events over WINDOW_S."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEvent, QObject, QTimer

    from app.station import Core, LocalStation
    from app.ui.app import ensure_app, settle_memory
    from app.ui.main_window import MainWindow

    kinds = {QEvent.Type.Paint, QEvent.Type.Timer, QEvent.Type.LayoutRequest, QEvent.Type.MetaCall}

    class Events(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.count: collections.Counter[tuple[str, str, str]] = collections.Counter()

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            if event.type() in kinds:
                self.count[(event.type().name, type(obj).__name__, obj.objectName())] += 1
            return False

    app = ensure_app()
    with tempfile.TemporaryDirectory(prefix="vigil-idle-") as data:
        core = Core(Path(data), None, window=True)
        core.start()
        try:
            win = MainWindow(LocalStation(core))
            win.show()
            collector = settle_memory()
            settle_end = time.monotonic() + SETTLE_S
            while time.monotonic() < settle_end:
                app.processEvents()
                time.sleep(0.002)
            events = Events()
            app.installEventFilter(events)
            c0, t0 = time.thread_time(), time.monotonic()
            QTimer.singleShot(int(WINDOW_S * 1000), app.quit)
            app.exec()
            gui = 100.0 * (time.thread_time() - c0) / (time.monotonic() - t0)
            app.removeEventFilter(events)
            print(f"GUI thread {gui:.1f} % of a core over {WINDOW_S:.0f} s  [load {load()}]")
            for (kind, cls, name), n in events.count.most_common(25):
                print(f"  {n / WINDOW_S:7.1f}/s  {kind:14} {cls} {name}")
            win.shutdown()
            win.close()
            collector.timer.stop()
        finally:
            core.stop()


def main() -> int:
    if "--explain" in sys.argv:
        explain()
        return 0
    base = None
    if "--base-tree" in sys.argv:
        base = Path(sys.argv[sys.argv.index("--base-tree") + 1]).resolve()
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    if not 1 <= rounds <= 10:
        print("--rounds must be 1..10", file=sys.stderr)
        return 2
    measure(base, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
