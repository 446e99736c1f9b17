"""Layering rules of the polling area: the core never imports pymodbus or Qt; the Modbus plugin
imports only the public SDK (``app.sdk``), pymodbus and the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_core_polling_modules_import_neither_pymodbus_nor_qt():
    code = (
        "import sys\n"
        "import app.core.planner, app.core.blockcodec, app.core.diagnostics, app.core.runtime\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pymodbus', 'PySide6', 'pyqtgraph'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_modbus_plugin_imports_only_the_sdk_pymodbus_and_stdlib():
    allowed_roots = {"app", "pymodbus", "vigil_modbus", "__future__"} | set(sys.stdlib_module_names)
    problems = []
    for path in (ROOT / "plugins" / "modbus" / "vigil_modbus").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                sdk_only = root != "app" or name == "app.sdk" or name.startswith("app.sdk.")
                if root not in allowed_roots or not sdk_only:
                    problems.append(f"{path.name}: imports {name}")
    assert problems == []
