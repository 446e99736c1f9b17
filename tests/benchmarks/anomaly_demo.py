"""Anomaly alarms on the demo pump, faster than real time (run by hand, not collected by pytest).

    python tests/benchmarks/anomaly_demo.py [--seeds 5] [--normal-hours 4] [--baseline]

Per seed: 30 minutes of normal running into the historian, learn normal from it (the default
detector), then 10 minutes of normal running scored live, then the fault. Prints, per fault and
seed, when (simulated seconds after the fault began) the first anomaly alarm and the first
other pump alarm (limit or device status) went active, and the anomaly's explanation. Then
``--normal-hours`` of normal running after learning, per seed: anomaly alarms raised (the target
is none). The physics model is stepped at the demo's 500 ms pump poll on a simulated clock, so
hours take seconds; the wall time per run is printed with the machine's load average.
``--baseline`` repeats each fault with the drift guard's previous default (nothing followed
during an alarm, levels at most 120 standard deviations an hour) in the same session.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.detection.registry import use_catalog  # noqa: E402
from app.plugin_host.builtin import builtin_catalog  # noqa: E402
from tests.detection.demo_rig import Outcome, PumpRig  # noqa: E402

use_catalog(builtin_catalog())  # the built-in detectors, found through the plugin host

LEARN_S = 1800.0
SCORED_NORMAL_S = 600.0
AFTER_FAULT_S = 600.0


#: ``--baseline``: the drift guard as it was before smooth tags were followed during an alarm
BASELINE_DRIFT = {"alarm_follow": 0.0, "max_rate": 120.0}


def fault_run(fault: str, seed: int,
              drift: dict[str, float] | None = None) -> tuple[Outcome, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rig = PumpRig(Path(tmp), seed, fault, LEARN_S + SCORED_NORMAL_S, drift)
        t0 = time.perf_counter()
        try:
            rig.record(LEARN_S)
            rig.learn()
            rig.run(SCORED_NORMAL_S + AFTER_FAULT_S)
            return rig.outcome(), time.perf_counter() - t0
        finally:
            rig.close()


def normal_run(seed: int, hours: float) -> tuple[list[dict], int, float]:
    with tempfile.TemporaryDirectory() as tmp:
        rig = PumpRig(Path(tmp), seed, None, 0.0)
        t0 = time.perf_counter()
        try:
            rig.record(LEARN_S)
            rig.learn()
            rig.run(hours * 3600.0)
            [status] = rig.engine.groups()
            return rig.engine.episodes("pump"), status.rows_scored, time.perf_counter() - t0
        finally:
            rig.close()


def _s(v: float | None) -> str:
    return "none" if v is None else f"{v:.1f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--normal-hours", type=float, default=4.0, help="0 skips normal running")
    ap.add_argument("--baseline", action="store_true",
                    help="also run each fault with the drift guard's previous default (nothing "
                         "followed during an alarm, 120 sd/h), in the same session")
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    for fault in ("cavitation", "sensor_drift"):
        print(f"\n{fault}: seconds after the fault began until the first anomaly / limit "
              "(LO, HI...) / device status alarm on the pump")
        leads = []
        for seed in range(args.seeds):
            o, wall = fault_run(fault, seed)
            a, lim = o.anomaly_after_s, o.limit_after_s
            first = "anomaly first" if a is not None and (lim is None or a < lim) else "LIMIT FIRST"
            if a is not None and lim is not None:
                leads.append(lim - a)
            print(f"  seed {seed}: anomaly {_s(a)}, limit {o.limit_alarm or '-'} {_s(lim)}, "
                  f"status {o.state_alarm or '-'} {_s(o.state_after_s)} -> {first}; "
                  f"anomalies in normal running {len(o.normal_anomalies)} ({wall:.1f} s wall)")
            print(f"          {o.explanation}")
        if leads:
            print(f"  anomaly ahead of the first limit alarm by {min(leads):.1f}..{max(leads):.1f} s "
                  f"(median {statistics.median(leads):.1f} s)")
        if args.baseline:
            print(f"  baseline {BASELINE_DRIFT}:")
            for seed in range(args.seeds):
                o, wall = fault_run(fault, seed, BASELINE_DRIFT)
                print(f"    seed {seed}: anomaly {_s(o.anomaly_after_s)}, limit "
                      f"{_s(o.limit_after_s)} ({wall:.1f} s wall)")
    if args.normal_hours <= 0:
        print(f"load average at end: {os.getloadavg()[0]:.2f}")
        return 0
    print(f"\nnormal running, {args.normal_hours:g} h after learning 30 min:")
    for seed in range(args.seeds):
        eps, rows, wall = normal_run(seed, args.normal_hours)
        print(f"  seed {seed}: {len(eps)} anomaly alarm(s) in {rows:,} scored rows ({wall:.1f} s wall)")
        for e in eps:
            print(f"          {e['text']}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
