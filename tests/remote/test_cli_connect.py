"""``vigil --connect``: the window on a node through the broker, from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from .conftest import GROUP
from .nodes import start_node

ROOT = Path(__file__).resolve().parents[2]
VIGIL = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


def run_vigil(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.run([*VIGIL, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_vigil_connect_opens_the_window_on_a_node_and_closing_it_leaves_the_node_running(tmp_path, mosquitto):
    svc = start_node(tmp_path / "node", mosquitto.config(), "area1")
    try:
        shot = tmp_path / "connected.png"
        out = run_vigil("--connect", mosquitto.url(), "--group", GROUP, "--data-dir", str(tmp_path / "ws"),
                        "--station-id", "cli-ws", "--screenshot", str(shot), "--after", "3")
        assert out.returncode == 0, out.stderr[-2000:]
        assert shot.stat().st_size > 10_000
        assert (tmp_path / "ws" / f"station-{GROUP}").is_dir()  # its own settings, not the node's
        samples = svc.core.diagnostics()["tank"].samples
        assert svc.core.started and svc.edge is not None and svc.edge.connected
        time.sleep(1.2)
        assert svc.core.diagnostics()["tank"].samples > samples  # the node kept polling
    finally:
        svc.stop()


def test_vigil_connect_refuses_what_it_cannot_use_with_a_message(tmp_path):
    bad = run_vigil("--connect", "broker:1883")
    assert bad.returncode == 2 and "no scheme" in bad.stderr
    mixed = run_vigil("run", "--connect", "mqtt://127.0.0.1:1", "--headless")
    assert mixed.returncode == 2 and "vigil node" in mixed.stderr
    no_password = run_vigil("--connect", "mqtt://127.0.0.1:1", "--username", "ws",
                            "--password-file", str(tmp_path / "missing"))
    assert no_password.returncode == 2 and "missing" in no_password.stderr
