"""The plugin host: finds plugins, reads their manifests, and imports their code only when a
contribution is first used, containing every failure so one bad plugin never takes the app down.

Public entry points: `PluginHost` (what the Core and the CLI use), `PluginRecord` (one row of
``vigil plugins list``), `check_plugin_folder` (``vigil plugins check``).
"""

from app.plugin_host.check import CheckResult, check_plugin_folder
from app.plugin_host.guard import GuardedDetector, GuardedDriver, PluginFault
from app.plugin_host.host import PluginHost, PluginUnavailable
from app.plugin_host.manifest import Manifest, load_manifest, parse_manifest
from app.plugin_host.records import PluginRecord, PluginState, Source

__all__ = [
    "CheckResult",
    "GuardedDetector",
    "GuardedDriver",
    "Manifest",
    "PluginFault",
    "PluginHost",
    "PluginRecord",
    "PluginState",
    "PluginUnavailable",
    "Source",
    "check_plugin_folder",
    "load_manifest",
    "parse_manifest",
]
