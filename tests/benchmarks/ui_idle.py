"""Idle CPU of the workstation (issue 14), run by hand:

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/ui_idle.py [--base-tree DIR] [--rounds N]
    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/ui_idle.py --explain [--profile]
        [--hide-docks] [--by-event] [--profile-out FILE]

``vigil run`` on the demo plant (a process of its own, its own data folder), the overview shown
and nothing happening but the plant's polling and noise; the process's CPU (user + system, all
threads) over ``WINDOW_S`` seconds after ``SETTLE_S`` of start-up, as % of one core. Beside it, in
the same run and alternating so load drifts hit every variant alike: the headless core
(``vigil run --headless``, the floor a window cannot go below) and, with ``--base-tree DIR`` (a
git worktree of an older commit), that tree's window and headless core measured the same way.

``--explain`` runs one window in this process instead and prints where the CPU went in the
window: each thread's share (from /proc/self/task), the GUI thread's events by kind and
receiver (timers by owner and interval, paints by widget and parent, layout requests), which is
how the tag table's repaints were found to be the idle cost; ``--profile`` adds the GUI thread's
Python calls (cProfile, cumulative, Vigil's own functions); ``--by-event`` adds the GUI thread's
CPU time spent handling each kind of event, by receiver (exclusive: a paint sent while an update
request is handled counts for the paint, not for the request), which tells the tag table's share
from the display's without a sampling profiler (each event then passes through Python once, so
the GUI thread's total grows a little).

Aim (issue 14): <= 4 % of a core. The load average is printed with every figure.
"""

from __future__ import annotations

import collections
import contextlib
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import threading
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
        runs.append((f"headless core, base tree {base_tree.name}", base_tree,
                     ["run", "--headless", "--duration", duration]))
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
        base_floor = statistics.median(results[runs[3][0]])
        print(f"  base tree: window minus headless core {base - base_floor:.1f} % of a core")
        print(f"  this tree / base tree: window {mine / base:.2f}, headless core {floor / base_floor:.2f}, "
              f"window minus headless {(mine - floor) / (base - base_floor):.2f}")
    print(f"  load average during the runs: median {statistics.median(loads):.1f} "
          f"(min {min(loads):.1f}, max {max(loads):.1f})")


def thread_cpu() -> dict[int, float]:
    """CPU seconds (user + system) of each thread of this process, by native thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def thread_names() -> dict[int, str]:
    """Python's thread names by native id; Qt's threads by their kernel name."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    for tid in os.listdir("/proc/self/task"):
        if int(tid) not in names:
            with contextlib.suppress(OSError):
                names[int(tid)] = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
    return names


class TimedApplication:
    """Makes the QApplication a subclass whose ``notify`` adds up the GUI thread's CPU time
    per (event kind, receiver), exclusive of the events sent while one is handled."""

    @staticmethod
    def make() -> TimedApplication:
        from PySide6.QtCore import QEvent, QObject
        from PySide6.QtWidgets import QApplication

        record = TimedApplication()

        class App(QApplication):
            def notify(self, receiver: QObject, event: QEvent) -> bool:
                if not record.on:
                    return super().notify(receiver, event)
                stack = record.stack
                now = time.thread_time()
                if stack:
                    stack[-1][1] += now - record.mark
                key = (event.type().name, record.name(receiver))
                stack.append([key, 0.0])
                record.mark = now
                try:
                    return super().notify(receiver, event)
                finally:
                    end = time.thread_time()
                    key, own = stack.pop()
                    record.spent[key] += own + end - record.mark
                    record.mark = end

        sys.setswitchinterval(0.0005)  # as ensure_app() sets it
        record.app = App(sys.argv[:1])
        return record

    @staticmethod
    def name(obj: object) -> str:
        """A receiver as --explain names it: a timer by its interval and parent, a widget by
        its class, object name and parent's class."""
        from PySide6.QtCore import QObject, QTimer

        assert isinstance(obj, QObject)
        parent = obj.parent()
        where = f" in {type(parent).__name__}" if parent is not None else ""
        if isinstance(obj, QTimer):
            return f"QTimer {obj.interval()} ms{' single-shot' if obj.isSingleShot() else ''}{where}"
        return f"{type(obj).__name__} {obj.objectName()}".strip() + where

    def __init__(self) -> None:
        self.on = False
        self.spent: collections.Counter[tuple[str, str]] = collections.Counter()
        self.stack: list[list] = []
        self.mark = 0.0
        self.app: object = None


def explain(profile: bool, hide_docks: bool, by_event: bool = False) -> None:
    """One window in this process: CPU per thread, the GUI thread's events over WINDOW_S (timers
    by owner and interval, paints by widget and parent), and with ``profile`` its Python calls.
    ``hide_docks``: only the process display shown (tags, trend and panels closed), to tell the
    display's share from theirs."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEvent, QObject, QTimer

    from app.station import Core, LocalStation
    from app.ui.app import ensure_app, settle_memory
    from app.ui.main_window import MainWindow

    kinds = {QEvent.Type.Paint, QEvent.Type.Timer, QEvent.Type.LayoutRequest, QEvent.Type.MetaCall,
             QEvent.Type.UpdateRequest}

    def owner(obj: QObject | None) -> str:
        return "-" if obj is None else f"{type(obj).__name__} {obj.objectName()}".strip()

    class Events(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.count: collections.Counter[tuple[str, str, str]] = collections.Counter()

        def eventFilter(self, obj: QObject, event: QEvent) -> bool:
            kind = event.type()
            if kind in kinds:
                what = owner(obj)
                if isinstance(obj, QTimer):
                    what = f"QTimer {obj.interval()} ms{' single-shot' if obj.isSingleShot() else ''}"
                self.count[(kind.name, what, f"in {owner(obj.parent())}")] += 1
            return False

    timed = TimedApplication.make() if by_event else None
    app = ensure_app()
    with tempfile.TemporaryDirectory(prefix="vigil-idle-") as data:
        core = Core(Path(data), None, window=True)
        core.start()
        try:
            win = MainWindow(LocalStation(core))
            win.show()
            if hide_docks:
                for dock in win.docks.values():
                    dock.hide()
            collector = settle_memory()
            settle_end = time.monotonic() + SETTLE_S
            while time.monotonic() < settle_end:
                app.processEvents()
                time.sleep(0.002)
            events = Events()
            app.installEventFilter(events)
            if timed is not None:
                timed.spent.clear()
                timed.on = True
            prof = cProfile.Profile() if profile else None
            cpu0, c0, t0 = thread_cpu(), time.thread_time(), time.monotonic()
            QTimer.singleShot(int(WINDOW_S * 1000), app.quit)
            if prof is not None:
                prof.enable()
            app.exec()
            if prof is not None:
                prof.disable()
            elapsed = time.monotonic() - t0
            gui = 100.0 * (time.thread_time() - c0) / elapsed
            cpu1 = thread_cpu()
            app.removeEventFilter(events)
            if timed is not None:
                timed.on = False
            names = thread_names()
            total = 100.0 * (sum(cpu1.values()) - sum(cpu0.get(t, 0.0) for t in cpu1)) / elapsed
            print(f"process {total:.1f} % of a core, GUI thread {gui:.1f} %, over {WINDOW_S:.0f} s  "
                  f"[load {load()}]")
            for tid, c in sorted(cpu1.items(), key=lambda kv: kv[1] - cpu0.get(kv[0], 0.0), reverse=True):
                share = 100.0 * (c - cpu0.get(tid, 0.0)) / elapsed
                if share >= 0.01:
                    print(f"  {share:5.2f} %  thread {names.get(tid, tid)}")
            print("GUI-thread events a second:")
            for (kind, what, parent), n in events.count.most_common(30):
                print(f"  {n / WINDOW_S:7.1f}/s  {kind:14} {what} {parent}")
            if timed is not None:
                print("GUI-thread CPU by event and receiver (ms of CPU a second, exclusive):")
                for (kind, what), spent in sorted(timed.spent.items(), key=lambda kv: -kv[1])[:25]:
                    print(f"  {1000.0 * spent / elapsed:7.3f}  {kind:14} {what}")
                print(f"  {1000.0 * sum(timed.spent.values()) / elapsed:7.3f}  all events")
            if prof is not None:
                stats = pstats.Stats(prof)
                stats.sort_stats("cumulative").print_stats(r"app/", 30)
                if "--profile-out" in sys.argv:
                    stats.dump_stats(sys.argv[sys.argv.index("--profile-out") + 1])
            win.shutdown()
            win.close()
            collector.timer.stop()
        finally:
            core.stop()


def main() -> int:
    if "--explain" in sys.argv:
        explain(profile="--profile" in sys.argv, hide_docks="--hide-docks" in sys.argv,
                by_event="--by-event" in sys.argv)
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
