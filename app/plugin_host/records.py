"""What the host knows about each plugin it found: one `PluginRecord` per plugin, the row the UI
and ``vigil plugins list`` show."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from app.plugin_host.manifest import Manifest


class Source(StrEnum):
    """Where a plugin was found, in discovery order (earlier wins on a duplicate id)."""

    BUILTIN = "builtin"
    USER = "user"
    FROZEN = "frozen"
    ENTRY_POINT = "entry-point"


class PluginState(StrEnum):
    AVAILABLE = "available"  # manifest valid, nothing imported yet (lazy)
    LOADED = "loaded"  # at least one contribution imported and in use
    DISABLED = "disabled"  # switched off by the user; never imported
    FAILED = "failed"  # disabled by the host after a fault; ``reason`` says which
    REJECTED = "rejected"  # never usable: broken manifest, incompatible API, duplicate id


@dataclass
class PluginRecord:
    """One discovered plugin. ``id`` is the manifest id, or ``?<folder>`` when the manifest
    is too broken to name one."""

    id: str
    source: Source
    location: Path  # the plugin folder (for entry points: the package folder)
    manifest_path: Path
    manifest: Manifest | None = None
    state: PluginState = PluginState.AVAILABLE
    reason: str = ""
    #: non-fatal notes: a contribution shadowed by an earlier plugin, a driver fault count...
    warnings: list[str] = field(default_factory=list)
    #: put on sys.path before importing this plugin's modules (None: already importable)
    import_root: Path | None = None
    entry_point: str = ""
    #: SHA-256 over the plugin's files, filled when it is loaded
    sha256: str = ""

    @property
    def name(self) -> str:
        return self.manifest.plugin.name if self.manifest else ""

    @property
    def version(self) -> str:
        return self.manifest.plugin.version if self.manifest else ""

    @property
    def usable(self) -> bool:
        return self.state in (PluginState.AVAILABLE, PluginState.LOADED)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready row for ``vigil plugins list --json`` and the UI."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "api": self.manifest.plugin.api if self.manifest else "",
            "source": str(self.source),
            "location": str(self.location),
            "state": str(self.state),
            "reason": self.reason,
            "warnings": list(self.warnings),
            "sha256": self.sha256,
        }
