"""Shared test set-up: offscreen Qt, and built-in plugin packages importable by tests."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

ROOT = Path(__file__).resolve().parents[1]
for plugin_dir in sorted((ROOT / "plugins").glob("*/")):
    if (plugin_dir / "plugin.toml").exists() and str(plugin_dir) not in sys.path:
        sys.path.insert(0, str(plugin_dir))
