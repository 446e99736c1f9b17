"""The core must run without Qt: import every app.core module with Qt imports blocked."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6', 'PyQt5', 'PyQt6'):
            raise ImportError('Qt is not allowed in ' + repr(name))
        return None
sys.meta_path.insert(0, Block())
import app.core
mods = [m.name for m in pkgutil.walk_packages(app.core.__path__, 'app.core.')]
for m in mods:
    importlib.import_module(m)
import app.sdk
for m in [m.name for m in pkgutil.walk_packages(app.sdk.__path__, 'app.sdk.')]:
    if m != 'app.plugin_testing':
        importlib.import_module(m)
print(len(mods))
"""


def test_core_and_sdk_import_without_qt():
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) >= 8


def test_only_allowed_modules_import_pymodbus():
    """pymodbus belongs to the Modbus driver plugin, the simulator and tests."""
    offenders = []
    for path in (ROOT / "app").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(("app/sim/", "app/plugin_testing")):
            continue
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n.split(".")[0] == "pymodbus" for n in names):
                offenders.append(rel)
    assert offenders == []
