"""`vigil --self-test` proves an install works in one line (the frozen bundle runs it too)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_self_test_passes_and_says_what_it_checked(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VIGIL_DATA_DIR": str(tmp_path / "unused")}
    out = subprocess.run(
        [sys.executable, "-m", "app", "--self-test"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    line = out.stdout.strip().splitlines()[-1]
    assert "self-test: ok" in line
    for fact in ("4 devices", "detectors fit", "journal verified", "plot ok"):
        assert fact in line, line
    assert not (tmp_path / "unused").exists(), "the self-test must not touch the user's data"
