"""The layering and typing rules are part of the suite, so CI (``.ci/run``) enforces them.

``lint-imports`` checks the contracts in ``.importlinter`` (who may import whom; see
app/ARCHITECTURE.md) and ``mypy`` checks ``app/`` and ``plugins/`` with the configuration in
pyproject.toml. Both run from this venv, on 127.0.0.1-free static analysis only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PLUGIN_DIRS = [ROOT / "plugins" / d for d in ("modbus", "sunspec", "detectors", "opcua", "_template")]


def _lint_imports(cwd: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath))
    cmd = [str(BIN / "lint-imports"), "--no-cache"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold() -> None:
    out = _lint_imports(ROOT, [ROOT, *PLUGIN_DIRS])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_core_importing_the_simulator_is_caught(tmp_path: Path) -> None:
    """A deliberate bad import, in a copy of the tree: the core reaching for the demo simulator."""
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    bad = tmp_path / "app" / "core" / "bad_wiring.py"
    bad.write_text('"""Wiring that belongs in the station."""\n\nimport app.sim.server\n')
    out = _lint_imports(tmp_path, [tmp_path, *PLUGIN_DIRS])
    assert out.returncode != 0, out.stdout
    assert "core imports none of the simulator" in out.stdout
    assert "BROKEN" in out.stdout
    assert "app.core.bad_wiring -> app.sim.server" in out.stdout, out.stdout


def test_mypy_finds_no_errors() -> None:
    out = subprocess.run(
        [str(BIN / "mypy"), "app", "plugins"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr
    assert out.stdout.startswith("Success")
