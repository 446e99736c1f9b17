"""Find built-in detectors by name without the plugin host.

The Core and the CLI look detectors up through ``PluginHost.detector_class`` (every plugin's
manifest, failures contained). The core may not import the plugin host (layering), so the
detection engine takes a lookup function and defaults to this one, which reads the built-in
``plugins/detectors/plugin.toml`` only: enough for tests, benchmarks and a headless engine.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

from app.core.errors import VigilError
from app.core.paths import builtin_plugins_dir


class UnknownDetector(VigilError):
    """A detector name that no plugin provides, or whose plugin cannot be imported."""


def _manifest_path() -> Path:
    return builtin_plugins_dir() / "detectors" / "plugin.toml"


def detector_entries() -> dict[str, dict[str, str]]:
    """name -> {"entry": "module:attr", "plugin": id}, from the built-in manifest."""
    path = _manifest_path()
    try:
        manifest = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UnknownDetector(f"{path}: cannot read detector manifest ({e})") from None
    plugin_id = str(manifest.get("plugin", {}).get("id", path.parent.name))
    return {
        str(spec.get("name", "")): {"entry": str(spec.get("factory", "")), "plugin": plugin_id}
        for spec in manifest.get("detectors", [])
        if isinstance(spec, dict)
    }


def detector_class(name: str) -> type:
    """Import the class registered as ``name``; a clear `UnknownDetector` if that fails."""
    entries = detector_entries()
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise UnknownDetector(f"unknown detector {name!r} (known: {known})")
    module_name, _, attr = entries[name]["entry"].partition(":")
    plugin_dir = str(_manifest_path().parent)
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)
    try:
        return getattr(importlib.import_module(module_name), attr)
    except Exception as e:  # a broken plugin must not take the caller down
        raise UnknownDetector(f"detector {name!r} ({entries[name]['entry']}) failed to load: "
                              f"{type(e).__name__}: {e}") from None
