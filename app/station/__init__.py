"""The composition root and the `Station` interface the window and the CLI talk to.

``Core`` (the services, built in one place) and ``LocalStation`` (the in-process `Station`)
are imported on first use, so a screen that only needs the interface's value types does not
pull in the plugin host and the simulator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.station.interface import ConfigProblem, JournalFilter, PluginRow, Station, UserRow

if TYPE_CHECKING:
    from app.station.engine import Core, NotStarted, Services
    from app.station.local import LocalStation

__all__ = [
    "ConfigProblem",
    "Core",
    "JournalFilter",
    "LocalStation",
    "NotStarted",
    "PluginRow",
    "Services",
    "Station",
    "UserRow",
]


def __getattr__(name: str) -> Any:
    if name in ("Core", "NotStarted", "Services"):
        from app.station import engine

        return getattr(engine, name)
    if name == "LocalStation":
        from app.station.local import LocalStation

        return LocalStation
    raise AttributeError(f"module 'app.station' has no attribute {name!r}")
