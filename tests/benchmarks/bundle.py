"""Benchmark: size and cold start of the packaged (PyInstaller) Vigil, against the source install.

Run by hand after ``packaging/build.sh``:

    .venv/bin/python tests/benchmarks/bundle.py [--bundle packaging/dist/vigil] [--runs 5]

Prints the bundle's size (total and its largest parts) and the wall time of ``vigil --version``
and ``vigil --self-test``, median of N fresh processes each, for the frozen executable and, as
the same-run baseline, the ``vigil`` script of the venv (same code, interpreted from source).
Runs alternate frozen/source so a change in machine load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tree_size(path: Path) -> int:
    """Bytes in all regular files under ``path`` (what ``du -sb`` counts, without directories)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def wall(cmd: list[str], env: dict[str, str], timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "packaging" / "dist" / "vigil")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = args.bundle / "vigil"
    source = Path(sys.executable).parent / "vigil"
    if not exe.is_file():
        raise SystemExit(f"no bundle at {args.bundle}: run packaging/build.sh first")

    total = tree_size(args.bundle)
    internal = args.bundle / "_internal"
    parts = sorted(((tree_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in internal.iterdir()),
                   reverse=True)
    print(f"bundle {args.bundle}: {total / 1e6:.1f} MB in {sum(1 for _ in args.bundle.rglob('*'))} entries")
    for size, name in parts[:8]:
        print(f"  {name:<28} {size / 1e6:7.1f} MB")
    rest = sum(s for s, _ in parts[8:])
    print(f"  {'(everything else)':<28} {rest / 1e6:7.1f} MB")

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(QT_QPA_PLATFORM="offscreen", VIGIL_DATA_DIR=tmp,
                   VIGIL_USER_PLUGINS_DIR=str(Path(tmp) / "plugins"))
        print(f"\ncold start, wall seconds, median of {args.runs} fresh processes (min..max)")
        for what in (["--version"], ["--self-test"]):
            times: dict[str, list[float]] = {"frozen": [], "source": []}
            # one untimed run each, so neither side is the one that warms the OS file cache
            wall([str(exe), *what], env)
            wall([str(source), *what], env)
            for _ in range(args.runs):
                times["frozen"].append(wall([str(exe), *what], env))
                times["source"].append(wall([str(source), *what], env))
            med = {k: statistics.median(v) for k, v in times.items()}
            for k in ("frozen", "source"):
                v = times[k]
                print(f"  vigil {' '.join(what):<12} {k:<7} {med[k]:6.2f} s  ({min(v):.2f}..{max(v):.2f})")
            print(f"  {'':<19}frozen/source = {med['frozen'] / med['source']:.2f}")
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
