"""A ``vigil`` command imports its own module, not every other command's: ``vigil users list``
or ``vigil journal verify`` must not pay for the profile library (pydantic) and the detectors'
numpy, which only the commands that use them import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from app.cli import main
rc = main(["users", "list", "--data-dir", sys.argv[1]])
heavy = sorted(m for m in ("app.core.profiles", "pydantic", "numpy", "app.cli.alarms") if m in sys.modules)
print("rc", rc, "heavy", heavy)
"""


def test_a_command_imports_only_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "data")], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "rc 0 heavy []" in out.stdout, out.stdout + out.stderr


def test_the_full_help_still_lists_every_command() -> None:
    out = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for command in ("run", "node", "journal", "alarms", "history", "users", "plugins", "profile"):
        assert f"    {command} " in out.stdout, out.stdout
