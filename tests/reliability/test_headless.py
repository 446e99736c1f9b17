"""Issue #18, defects 6 and 8: headless, nothing drains the window's sample buffer, so it must
not fill (RSS growth, then a ``system.dropped {ui_snapshots}`` every 5 s); and the configuration
problems the window would list are printed at start."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from app.core.model import Quality, Sample
from app.core.snapshot import SnapshotBuffer
from app.station import Core

ROOT = Path(__file__).resolve().parents[2]


def test_a_buffer_nobody_drains_keeps_only_the_latest_values():
    buf = SnapshotBuffer(maxlen=10, keep_history=False)
    for i in range(100):
        buf.on_samples([Sample("a.x", float(i), Quality.GOOD, float(i))])
    assert buf.pending() == 0 and buf.dropped == 0
    assert buf.latest()["a.x"].value == 99.0


def test_a_headless_core_buffers_no_snapshots(tmp_path):
    core = Core(tmp_path / "data", demo_interval_ms=50, window=False)
    core.start()
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(core.latest()) < 5:
            time.sleep(0.05)
        time.sleep(0.5)  # ten more polls of every device
        assert len(core.latest()) >= 5, "the demo plant was never polled"
        assert core.snapshots.pending() == 0
        assert core.dropped_counts()["ui_snapshots"] == 0
    finally:
        core.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_headless_prints_the_configuration_problems_at_start(tmp_path):
    plant = tmp_path / "plant.toml"
    # a device whose register map must be discovered, and nobody listening: a problem at start
    plant.write_text(
        f'[[devices]]\nname = "meter"\ndevice_type = "sunspec"\nhost = "127.0.0.1"\n'
        f'port = {_free_port()}\ninterval_ms = 200\n'
    )
    proc = subprocess.run(
        [sys.executable, "-m", "app", "run", "--headless", "--plant", str(plant),
         "--data-dir", str(tmp_path / "data"), "--duration", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "configuration problem: device 'meter': sunspec discovery failed" in proc.stdout, proc.stdout
