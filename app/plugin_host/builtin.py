"""The built-in plugins as a detector catalogue, for code that runs without a station.

Benchmarks, the test suite and one-off tools score with the built-in detectors but build no
station (which passes its own `PluginHost` everywhere). They install this catalogue as the
core's default lookup (``app.core.detection.registry.use_catalog``), so detectors are still
found through the host's manifest reader, loader and guards, never by reading manifests twice.
"""

from __future__ import annotations

from app.plugin_host.host import PluginHost

#: importing scikit-learn on a loaded 2-core machine can take many seconds; the station's
#: 10 s budget is for third-party plugins, this catalogue only holds the built-in ones
BUILTIN_IMPORT_BUDGET_S = 120.0


def builtin_catalog(import_budget_s: float = BUILTIN_IMPORT_BUDGET_S) -> PluginHost:
    """A host over the built-in plugins only: no user folder, no entry points, no data folder
    (so nothing is disabled or journaled)."""
    return PluginHost(builtins_only=True, entry_points=False, user_dir=None, frozen_dir=None,
                      import_budget_s=import_budget_s)
