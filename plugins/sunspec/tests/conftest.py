"""Make this plugin's package importable in its tests (the host does the same when it loads
the plugin), and bring in Vigil's plugin-author fixtures without ``pytest -p app.plugin_testing``."""

import sys
from pathlib import Path

PLUGIN_DIR = str(Path(__file__).resolve().parents[1])
if PLUGIN_DIR not in sys.path:
    sys.path.insert(0, PLUGIN_DIR)

from app.plugin_testing import modbus_server, plugin_host, plugin_journal  # noqa: E402, F401
