"""Benchmark: size and start-up time of the packaged (PyInstaller) Vigil, against the source install.

Run by hand after ``packaging/build.sh``:

    .venv/bin/python tests/benchmarks/bundle.py [--bundle packaging/dist/vigil] [--runs 5]

Prints the bundle's size (total and its largest parts) and the wall time of ``vigil --version``
and ``vigil --self-test``, median of N fresh processes each, for the frozen executable and, as
the same-run baseline, the ``vigil`` script of the venv (same code, interpreted from source).

Two kinds of start: *warm* (files already in the OS page cache: every start after the first)
and *cold* (the first start after boot or install: before each run the page cache of every file
the side needs is dropped with ``posix_fadvise(DONTNEED)``, which needs no root and touches only
those files: the bundle folder for the frozen side; the venv, the repository and the Python
install for the source side). Runs alternate frozen/source so a change in load hits both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def tree_size(path: Path) -> int:
    """Bytes in all regular files under ``path`` (what ``du -sb`` counts, without directories)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def evict(folders: Iterable[Path]) -> None:
    """Drop the page cache of every regular file under ``folders`` (a cold start's disk reads)."""
    for folder in folders:
        for p in folder.rglob("*"):
            if p.is_symlink() or not p.is_file():
                continue
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def wall(cmd: list[str], env: dict[str, str], timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return took


def print_size(bundle: Path) -> None:
    total = tree_size(bundle)
    internal = bundle / "_internal"
    # top-level symlinks (PyInstaller links shared libraries up from their package) are not counted
    parts = sorted(((tree_size(p) if p.is_dir() else p.stat().st_size, p.name)
                    for p in internal.iterdir() if not p.is_symlink()), reverse=True)
    print(f"bundle {bundle}: {total / 1e6:.1f} MB ({total / 2**20:.0f} MiB, as du -sh shows it) "
          f"in {sum(1 for _ in bundle.rglob('*'))} entries")
    for size, name in parts[:8]:
        print(f"  {name:<28} {size / 1e6:7.1f} MB")
    print(f"  {'(everything else)':<28} {sum(s for s, _ in parts[8:]) / 1e6:7.1f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=ROOT / "packaging" / "dist" / "vigil")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    exe = args.bundle / "vigil"
    source = Path(sys.executable).parent / "vigil"
    if not exe.is_file():
        raise SystemExit(f"no bundle at {args.bundle}: run packaging/build.sh first")
    print_size(args.bundle)

    sides = {
        "frozen": ([str(exe)], [args.bundle]),
        "source": ([str(source)], [Path(sys.prefix), ROOT / "app", ROOT / "plugins",
                                   Path(sys.base_prefix) / "lib"]),
    }
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update(QT_QPA_PLATFORM="offscreen", VIGIL_DATA_DIR=tmp,
                   VIGIL_USER_PLUGINS_DIR=str(Path(tmp) / "plugins"))
        print(f"\nstart-up, wall seconds, median of {args.runs} fresh processes (min..max)")
        for what in (["--version"], ["--self-test"]):
            for kind in ("warm", "cold"):
                times: dict[str, list[float]] = {"frozen": [], "source": []}
                for cmd, _ in sides.values():  # one untimed run each: the warm cache is warm
                    wall([*cmd, *what], env)
                for _ in range(args.runs):
                    for name, (cmd, files) in sides.items():
                        if kind == "cold":
                            evict(files)
                        times[name].append(wall([*cmd, *what], env))
                med = {k: statistics.median(v) for k, v in times.items()}
                for name, v in times.items():
                    print(f"  vigil {' '.join(what):<12} {kind} {name:<7} {med[name]:6.2f} s"
                          f"  ({min(v):.2f}..{max(v):.2f})")
                print(f"  {' ' * 24}frozen/source = {med['frozen'] / med['source']:.2f}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
