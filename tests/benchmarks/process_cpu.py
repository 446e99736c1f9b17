"""What the by-hand idle benchmarks share: the load average, and the CPU another process uses.

Imported by sibling scripts run as ``python tests/benchmarks/<name>.py`` (their folder is first
on ``sys.path``).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def process_cpu(cmd: list[str], cwd: Path, env: dict[str, str], settle_s: float, window_s: float) -> float:
    """% of one core the process ``cmd`` uses (user + system, all threads) between ``settle_s``
    and ``settle_s + window_s`` after it starts; start-up is left out."""
    tick = os.sysconf("SC_CLK_TCK")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(settle_s)

        def cpu() -> float:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        c0, t0 = cpu(), time.monotonic()
        time.sleep(window_s)
        c1, t1 = cpu(), time.monotonic()
        return 100.0 * (c1 - c0) / (t1 - t0)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
