"""Trend scroll-back benchmark (run by hand):
``QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/trend_scrollback.py --days 30``.

Builds ``--days`` of one 50-point device at 10 Hz through the real historian (the historian
benchmark's builder, faster than real time; ``--db FILE`` reuses a file instead), opens the real
``TrendWidget`` offscreen with four of its tags, and scrolls and zooms the way an operator does:
pan back an hour at a time through the last day, zoom out to 7 and 30 days, zoom into an hour in
the middle of the range. Every move waits for its history (fetched on the worker pool, as in the
window) before the next one.

Prints, next to a baseline measured in the same run (the same 5 ms heartbeat on the idle event
loop, no trend work), the worst and p99 GUI-thread block (a 5 ms timer's lateness) while history
loads, and each move's history latency (request to curve drawn). Aim: no block over 50 ms.
The machine is shared: the load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import numpy as np  # noqa: E402
from historian import DAY, build_days  # noqa: E402
from ui import CLOCK, BlockMeter, make_app, pump  # noqa: E402

from app.core.historian import HistorianReader  # noqa: E402
from app.ui.tasks import TaskRunner  # noqa: E402
from app.ui.trend import TrendWidget  # noqa: E402

TAGS = ["dev.p00", "dev.p07", "dev.p21", "dev.p42"]


def moves(first: float, end: float) -> list[tuple[str, float, float]]:
    """(label, t0, t1) of each view, as an operator scrolls back and zooms."""
    out = [("last hour", end - 3600, end)]
    for k in range(1, 24):  # pan back an hour at a time through the last day
        out.append((f"pan -{k} h", end - (k + 1) * 3600, end - k * 3600))
    for label, span in (("zoom 24 h", DAY), ("zoom 7 d", 7 * DAY), ("zoom 30 d", 30 * DAY)):
        out.append((label, max(first, end - span), end))
    mid = (first + end) / 2
    out.append(("zoom to 1 h mid-range", mid - 1800, mid + 1800))
    out.append(("pan -1 h mid-range", mid - 5400, mid - 1800))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=30.0)
    ap.add_argument("--db", help="historian file to use, built there first if it does not exist")
    ap.add_argument("--explain", action="store_true", help="name the events inside the longest blocks")
    ap.add_argument("--switch-interval", type=float, help="override the GIL switch interval (s), to compare")
    ap.add_argument("--tmp", help="folder for the built file (30 days is ~13 GB)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds a move may wait for history")
    args = ap.parse_args()
    app = make_app()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    with tempfile.TemporaryDirectory(prefix="vigil-scrollback-", dir=args.tmp) as tmp:
        db = Path(args.db) if args.db else Path(tmp) / "historian.sqlite"
        if not db.exists():
            build, _cpu, _end = build_days(db, args.days, chunk_after_s=2 * 3600.0)
            print(f"built {args.days:g} days of 50 points at 10 Hz in {build:.0f} s")
        reader = HistorianReader(db)
        first, end = reader.time_range() or (0.0, 0.0)
        tasks = TaskRunner(max_threads=2)
        trend = TrendWidget(
            history=lambda tags, t0, t1, n: reader.query(tags, t0, t1, n), run_async=tasks.submit
        )
        trend.resize(1200, 500)
        trend.show()
        for tag in TAGS:
            trend.add_pen(tag, unit="")
        pump(app, 0.5)

        meter = BlockMeter()
        meter.start()
        pump(app, 3.0)
        meter.stop()
        idle = sorted(meter.gaps)
        idle_worst, idle_p99 = idle[-1] * 1e3, idle[int(0.99 * (len(idle) - 1))] * 1e3

        meter = BlockMeter()
        latencies: list[tuple[str, float, int]] = []
        loaded: list[int] = []
        trend.history_loaded.connect(loaded.append)
        meter.start()
        CLOCK.on = args.explain
        load0 = os.getloadavg()
        for label, a, b in moves(first, end):
            loaded.clear()
            t_ask = time.perf_counter()
            trend.item.vb.setXRange(a, b, padding=0)
            trend.item.vb.sigRangeChangedManually.emit([True, False])  # what a drag or wheel emits
            deadline = t_ask + args.timeout
            while not loaded and time.perf_counter() < deadline:
                app.processEvents()
                time.sleep(0.001)
                idle = not trend._hist_busy and not trend._hist_timer.isActive()
                if idle and time.perf_counter() - t_ask > 0.3:
                    break  # nothing to fetch: the view is covered by what was loaded already
            pump(app, 0.05)  # the frame that draws it
            latencies.append((label, (time.perf_counter() - t_ask) * 1e3, loaded[0] if loaded else -1))
        meter.stop()
        CLOCK.on = False
        load1 = os.getloadavg()
        gaps = sorted(meter.gaps)
        worst, p99 = gaps[-1] * 1e3, gaps[int(0.99 * (len(gaps) - 1))] * 1e3
        tasks.wait()
    print(f"data {first:.0f}..{end:.0f} ({(end - first) / DAY:.1f} days), {len(TAGS)} pens, plot 1200x500")
    print(f"{'move':<24} {'history ms':>10} {'points':>8}")
    for label, ms, pts in latencies:
        print(f"{label:<24} {ms:10.0f} {pts:8d}")
    ms = [m for _, m, _ in latencies]
    print(f"history latency: median {statistics.median(ms):.0f} ms, worst {max(ms):.0f} ms")
    print(
        f"GUI-thread block while history loads: worst {worst:.1f} ms, p99 {p99:.1f} ms, "
        f"{sum(1 for g in gaps if g > 0.05)} over 50 ms of {len(gaps)} ticks | idle event loop, same run: "
        f"worst {idle_worst:.1f} ms, p99 {idle_p99:.1f} ms"
    )
    print(f"load average {load0} -> {load1}")
    missing = [label for label, _, pts in latencies if pts < 0]
    if missing:
        print(f"no fetch (view already loaded) or none within {args.timeout:g} s: {', '.join(missing)}")
    if args.explain:
        CLOCK.explain(meter)
    return 0 if np.isfinite(worst) else 1


if __name__ == "__main__":
    sys.exit(main())
