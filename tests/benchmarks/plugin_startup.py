"""Start-up cost of installed plugins: 20 installed plugins vs none (lazy import), run by hand.

    python tests/benchmarks/plugin_startup.py [--runs 15]

Each measurement is a fresh Python process doing what the Core does at start-up with the
plugin host: import it, discover every plugin, list transports, detectors and device types,
collect profile folders. Built-in plugins are included in both cases (they are always there).
The 20 plugins each hold a detector module that sleeps 50 ms and imports scikit-learn at import
time, so if start-up imported any of them it would show (the "eager" row imports all 20, as a
host without lazy loading would). Runs alternate between cases so drift affects both alike.
Prints medians and the ratio to the no-plugin baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from app.plugin_host import PluginHost
    t1 = time.perf_counter()
    host = PluginHost.discover(
        data_dir=sys.argv[1], user_dir=sys.argv[2], frozen_dir=None, entry_points=False
    )
    names = (host.transports(), host.detector_names(), host.device_type_names(), host.profile_folders())
    if sys.argv[3] == "eager":
        for name in host.detector_names():
            if name.startswith("bench"):
                host.detector_class(name)
    t2 = time.perf_counter()
    print(json.dumps({"import_s": t1 - t0, "plugins_s": t2 - t1, "total_s": t2 - t0,
                      "cpu_s": time.process_time(),
                      "records": len(host.records()), "detectors": len(names[1])}))
    """
)

PLUGIN_MODULE = textwrap.dedent(
    """
    import time
    import sklearn.ensemble  # heavy on purpose: an eager host would pay for it at start-up
    time.sleep(0.05)


    class Detector:
        name = "{name}"

        def fit(self, history, tags): ...
        def score(self, batch): ...
        def get_state(self): ...
    """
)


def make_plugins(root: Path, n: int) -> None:
    for i in range(n):
        pkg = root / f"bench{i:02d}" / f"bench_plugin_{i:02d}"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("", encoding="utf-8")
        (pkg / "detector.py").write_text(PLUGIN_MODULE.format(name=f"bench{i:02d}"), encoding="utf-8")
        (pkg.parent / "plugin.toml").write_text(
            f'[plugin]\nid = "bench.p{i:02d}"\nname = "Bench {i}"\nversion = "1.0.0"\napi = "1.0"\n'
            f'[[detectors]]\nname = "bench{i:02d}"\nfactory = "bench_plugin_{i:02d}.detector:Detector"\n',
            encoding="utf-8",
        )


def run_once(data_dir: Path, user_dir: Path, mode: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), str(user_dir), mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--eager-runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        empty, twenty = tmp_path / "none", tmp_path / "twenty"
        empty.mkdir()
        make_plugins(twenty, 20)
        results: dict[str, list[dict[str, float]]] = {"0 plugins": [], "20 plugins (lazy)": []}
        run_once(tmp_path / "d", empty, "lazy")  # warm the OS file cache once
        for _ in range(args.runs):
            results["0 plugins"].append(run_once(tmp_path / "d0", empty, "lazy"))
            results["20 plugins (lazy)"].append(run_once(tmp_path / "d1", twenty, "lazy"))
        results["20 plugins, all imported (eager)"] = [
            run_once(tmp_path / "d2", twenty, "eager") for _ in range(args.eager_runs)
        ]
    base = statistics.median(r["total_s"] for r in results["0 plugins"])
    base_plugins = statistics.median(r["plugins_s"] for r in results["0 plugins"])
    print(
        f"plugin host start-up, fresh process each run, medians ({args.runs} runs; eager {args.eager_runs})"
    )
    base_cpu = statistics.median(r["cpu_s"] for r in results["0 plugins"])
    print("wall = import app.plugin_host + discovery; cpu = the whole process's CPU time (less noisy")
    print("when other work shares the machine)")
    header = f"{'case':34} {'records':>7} {'import ms':>10} {'discover ms':>12} {'wall ms':>8} {'ratio':>6}"
    print(header + f" {'cpu ms':>7} {'ratio':>6}")
    for case, rows in results.items():
        imp = statistics.median(r["import_s"] for r in rows) * 1000
        disc = statistics.median(r["plugins_s"] for r in rows) * 1000
        total = statistics.median(r["total_s"] for r in rows)
        cpu = statistics.median(r["cpu_s"] for r in rows)
        print(
            f"{case:34} {int(rows[0]['records']):>7} {imp:>10.1f} {disc:>12.1f} {total * 1000:>8.1f} "
            f"{total / base:>6.2f} {cpu * 1000:>7.1f} {cpu / base_cpu:>6.2f}"
        )
    lazy = statistics.median(r["total_s"] for r in results["20 plugins (lazy)"])
    lazy_plugins = statistics.median(r["plugins_s"] for r in results["20 plugins (lazy)"])
    lazy_cpu = statistics.median(r["cpu_s"] for r in results["20 plugins (lazy)"])
    print(
        f"\n20 lazy plugins add {(lazy - base) * 1000:+.1f} ms ({(lazy / base - 1) * 100:+.1f} %) "
        "to host start-up; "
        f"discovery alone {base_plugins * 1000:.1f} -> {lazy_plugins * 1000:.1f} ms. "
        f"CPU {base_cpu * 1000:.0f} -> {lazy_cpu * 1000:.0f} ms ({(lazy_cpu / base_cpu - 1) * 100:+.1f} %). "
        f"Target within 10 %: wall {'met' if lazy <= base * 1.10 else 'NOT met'}, "
        f"CPU {'met' if lazy_cpu <= base_cpu * 1.10 else 'NOT met'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
