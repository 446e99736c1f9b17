"""The detector catalogue the core falls back on when it is given no lookup of its own.

Detectors are plugins, and the plugin host is the one reader of plugin manifests: it finds the
plugin that provides a detector, imports it within a time budget, and marks the plugin failed
(with a reason) when it cannot. The core may not import the host (layering), so the dependency
is turned round: the detection engine takes a ``detector_class`` lookup, and its default,
:func:`detector_class` here, asks whatever catalogue was installed with :func:`use_catalog`.
A `PluginHost` is one (``app.plugin_host.builtin.builtin_catalog()`` makes one over the built-in
plugins, for tools, benchmarks and tests that run without a station). The station passes its
own host explicitly and never relies on this default.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from app.core.errors import VigilError


class UnknownDetector(VigilError):
    """A detector name that no plugin provides, or whose plugin cannot be imported."""


class DetectorCatalog(Protocol):
    """Who provides detectors by name (``app.plugin_host.PluginHost`` fits)."""

    def detector_names(self) -> list[str]: ...

    def detector_class(self, name: str) -> Any: ...  # a plugin's factory: a class or a function

    def owner(self, kind: str, name: str) -> str | None: ...


_lock = threading.Lock()
_catalog: DetectorCatalog | None = None


def use_catalog(catalog: DetectorCatalog | None) -> DetectorCatalog | None:
    """Make ``catalog`` the default detector lookup (None: no default); returns the previous."""
    global _catalog
    with _lock:
        previous, _catalog = _catalog, catalog
    return previous


def _current() -> DetectorCatalog:
    catalog = _catalog
    if catalog is None:
        raise UnknownDetector(
            "no detector catalogue: pass the plugin host's detector_class, or install one with "
            "app.core.detection.registry.use_catalog (app.plugin_host.builtin.builtin_catalog())"
        )
    return catalog


def detector_entries() -> dict[str, dict[str, str]]:
    """name -> {"plugin": id of the plugin that provides it}, for every detector the installed
    catalogue knows."""
    catalog = _current()
    return {name: {"plugin": catalog.owner("detector", name) or ""} for name in catalog.detector_names()}


def detector_class(name: str) -> Any:
    """The factory (usually a class) registered as ``name``; a clear `UnknownDetector` naming
    the detector and why if no usable plugin provides it."""
    try:
        return _current().detector_class(name)
    except UnknownDetector:
        raise
    except VigilError as e:  # the host's PluginUnavailable: unknown name, or its plugin failed
        raise UnknownDetector(f"detector {name!r}: {e}") from None
