"""Soak benchmark (run by hand): does Vigil stay flat over a long run?

    .venv/bin/python tests/benchmarks/soak.py --mode headless --minutes 30
    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/soak.py --mode window --minutes 10

Runs the built-in demo plant polled at 50 Hz (``--interval-ms 20``) in this process, either as
the core alone (what ``vigil run --headless`` runs) or with the full main window offscreen, and
samples every ``--every`` seconds: resident memory (VmRSS, and the process's own anonymous
memory RssAnon + VmSwap, which the kernel's reclaim of shared library pages does not move when
the machine runs short of memory), open file descriptors, threads (the
kernel's count), the journal's events and file bytes (database + WAL), the historian's file
bytes, and the load average. After ``--warmup`` minutes it fits a straight line to each series
and prints the slope per minute: a leak shows as a slope that stays positive however long the
run. ``--minutes`` is bounded (at most 240).

The baseline, measured in the same run before Vigil starts: the same sampler over the idle
process for ``--baseline-s`` seconds (its slopes are the noise floor of the measurement), and
the demo plant's sample rate, so the journal's slope can be read against the traffic.
No assertion: read the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MAX_MINUTES = 240.0


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _file_bytes(*paths: Path) -> int:
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += p.stat().st_size
    return total


class Sampler:
    """One row per tick: minutes since start and every measured figure."""

    FIELDS = ("rss_mb", "anon_mb", "fds", "threads", "journal_events", "journal_mb", "historian_mb",
              "load1")

    def __init__(self, data_dir: Path, journal_events: Callable[[], int]):
        self.data_dir = data_dir
        self.journal_events = journal_events
        self.t0 = time.monotonic()
        self.rows: list[tuple[float, ...]] = []

    def sample(self) -> tuple[float, ...]:
        jdir = self.data_dir / "journal"
        row = (
            (time.monotonic() - self.t0) / 60.0,
            _status_kb("VmRSS") / 1024.0,
            (_status_kb("RssAnon") + _status_kb("VmSwap")) / 1024.0,
            float(len(os.listdir("/proc/self/fd"))),
            float(_status_kb("Threads")),
            float(self.journal_events()),
            _file_bytes(jdir / "journal.sqlite", jdir / "journal.sqlite-wal") / 1e6,
            _file_bytes(*(self.data_dir.glob("historian.sqlite*"))) / 1e6,
            os.getloadavg()[0],
        )
        self.rows.append(row)
        return row


def slopes(rows: list[tuple[float, ...]], warmup_min: float) -> dict[str, float]:
    """Least-squares slope per minute of each field over the rows after warm-up."""
    import numpy as np

    kept = [r for r in rows if r[0] >= warmup_min]
    if len(kept) < 3:
        return {}
    a = np.array(kept)
    out = {}
    for i, name in enumerate(Sampler.FIELDS, start=1):
        out[name] = float(np.polyfit(a[:, 0], a[:, i], 1)[0])
    return out


def print_row(row: tuple[float, ...]) -> None:
    t, rss, anon, fds, threads, events, jmb, hmb, load = row
    print(
        f"  t={t:6.2f} min  rss={rss:7.1f} MB  anon={anon:7.1f} MB  fds={fds:4.0f}  threads={threads:3.0f}  "
        f"journal={events:7.0f} ev {jmb:6.2f} MB  historian={hmb:7.1f} MB  load={load:.2f}",
        flush=True,
    )


def baseline(seconds: float, every: float) -> dict[str, float]:
    """The sampler over this idle process (Vigil imported, not started): the noise floor."""
    with tempfile.TemporaryDirectory() as d:
        s = Sampler(Path(d), lambda: 0)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.sample()
            time.sleep(min(every, 1.0))
        return slopes(s.rows, 0.0)


def run(mode: str, minutes: float, every: float, warmup: float, interval_ms: int, data_dir: Path,
        show_census: bool = False) -> Sampler:
    from app.station import Core

    core = Core(data_dir, demo_interval_ms=interval_ms, window=(mode == "window"))
    core.start()
    sampler = Sampler(data_dir, lambda: core.journal.stats().size)
    end = sampler.t0 + minutes * 60.0
    try:
        if mode == "headless":
            while time.monotonic() < end:
                print_row(sampler.sample())
                time.sleep(max(0.0, min(every, end - time.monotonic())))
        else:
            _run_window(core, sampler, end, every, show_census)
        h = core.historian.stats()
        tags = len(core.plant.tags())
        devices = len(core.plant.enabled_devices())
        print(
            f"  plant: {devices} devices, {tags} tags at {1000 / interval_ms:.0f} Hz; "
            f"historian wrote {h.written:,} samples ({h.written / (minutes * 60):,.0f}/s), "
            f"dropped {h.dropped:,}, failed {h.failed:,}; dropped counts {core.dropped_counts()}",
            flush=True,
        )
    finally:
        core.stop()
    return sampler


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
        "keepcost")]


def malloc_mb() -> tuple[float, float, float]:
    """glibc's heap: bytes in use (uordblks + hblkhd), free inside the arenas (fordblks), and
    arena size, in MB; (nan, nan, nan) where mallinfo2 is missing. RSS that grows while "in use"
    stays flat is the allocator holding freed memory, not a leak."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return (math.nan, math.nan, math.nan)
    fn.restype = _MallInfo2
    m = fn()
    return ((m.uordblks + m.hblkhd) / 1e6, m.fordblks / 1e6, m.arena / 1e6)


def census(win: object) -> str:
    """What the window holds now: live Qt objects under it by class (the growing ones first
    matter), Python objects tracked by the collector, and the heap. Printed with ``--census``
    so a slope in memory can be matched with a count that grows with it."""
    import collections
    import gc

    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication, QGraphicsView

    objs = win.findChildren(QObject)  # type: ignore[attr-defined]
    by_class = collections.Counter(type(o).__name__ for o in objs)
    views = win.findChildren(QGraphicsView)  # type: ignore[attr-defined]
    items = sum(len(scene.items()) for v in views if (scene := v.scene()) is not None)
    used, free, arena = malloc_mb()
    top = ", ".join(f"{k} {n}" for k, n in by_class.most_common(6))
    return (f"    qobjects={len(objs)} widgets={len(QApplication.allWidgets())} scene_items={items} "
            f"py_objects={len(gc.get_objects())} heap_used={used:.1f} MB heap_free={free:.1f} MB "
            f"arena={arena:.1f} MB | {top}")


def _run_window(core: object, sampler: Sampler, end: float, every: float, show_census: bool = False) -> None:
    from PySide6.QtCore import QTimer

    from app.station import LocalStation
    from app.ui.app import ensure_app, settle_memory
    from app.ui.main_window import MainWindow

    app = ensure_app()
    win = MainWindow(LocalStation(core), settings_path=sampler.data_dir / "soak-settings.json")  # type: ignore[arg-type]
    win.show()
    collector = settle_memory()

    def tick() -> None:
        print_row(sampler.sample())
        if show_census:
            print(census(win), flush=True)
        if time.monotonic() >= end:
            win.close()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(int(every * 1000))
    tick()
    app.exec()
    timer.stop()
    collector.timer.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("headless", "window"), default="headless")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--warmup", type=float, default=None,
                    help="minutes left out of the fit (default: a fifth, at most 5)")
    ap.add_argument("--interval-ms", type=int, default=20, help="demo plant poll interval (20 = 50 Hz)")
    ap.add_argument("--baseline-s", type=float, default=60.0)
    ap.add_argument("--census", action="store_true",
                    help="window mode: also print Qt objects, scene items, Python objects and the heap")
    ap.add_argument("--data-dir", help="keep the data here (default: a temporary folder)")
    args = ap.parse_args()
    if not 0 < args.minutes <= MAX_MINUTES:
        ap.error(f"--minutes must be in (0, {MAX_MINUTES:.0f}]")
    if not 1.0 <= args.every <= 300.0:
        ap.error("--every must be 1..300 s")
    warmup = args.warmup if args.warmup is not None else min(5.0, args.minutes / 5)
    print(f"soak: mode={args.mode} minutes={args.minutes} every={args.every}s warm-up={warmup} min "
          f"interval={args.interval_ms} ms; load at start {os.getloadavg()}", flush=True)
    base = baseline(args.baseline_s, args.every)
    with tempfile.TemporaryDirectory(prefix="vigil-soak-") as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp)
        sampler = run(args.mode, args.minutes, args.every, warmup, args.interval_ms, data_dir,
                      args.census)
    got = slopes(sampler.rows, warmup)
    loads = [r[-1] for r in sampler.rows]
    kept = len([r for r in sampler.rows if r[0] >= warmup])
    print(f"\nslopes per minute after {warmup} min warm-up ({kept} samples), "
          f"load average median {statistics.median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f}):")
    print(f"  {'figure':16} {'vigil ' + args.mode:>18} {'idle baseline':>16}")
    for name in Sampler.FIELDS[:-1]:
        print(f"  {name:16} {got.get(name, float('nan')):18.4f} {base.get(name, float('nan')):16.4f}")
    first, last = sampler.rows[0], sampler.rows[-1]
    print(f"  first/last: rss {first[1]:.1f} -> {last[1]:.1f} MB, anon {first[2]:.1f} -> {last[2]:.1f} MB, "
          f"fds {first[3]:.0f} -> {last[3]:.0f}, threads {first[4]:.0f} -> {last[4]:.0f}, "
          f"journal {first[5]:.0f} -> {last[5]:.0f} events")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "soak-main"
    sys.exit(main())
