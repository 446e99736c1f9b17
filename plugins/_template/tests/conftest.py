"""Make the plugin's package importable in its tests and bring in Vigil's plugin fixtures."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.plugin_testing import modbus_server, plugin_host, plugin_journal  # noqa: F401
