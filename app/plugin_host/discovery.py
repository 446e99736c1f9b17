"""Finding plugins: folders (built-in, user, next to the frozen executable) then entry points.

Discovery reads manifests only; it never imports plugin code. Each problem (a broken manifest,
an incompatible SDK version, a duplicate id) becomes a REJECTED record naming the plugin and the
file, so ``vigil plugins list`` shows it instead of the plugin silently missing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tomllib
from collections.abc import Iterable
from pathlib import Path

from app.core.errors import ConfigError
from app.plugin_host.manifest import MANIFEST_NAME, api_problem, load_manifest
from app.plugin_host.records import PluginRecord, PluginState, Source

ENTRY_POINT_GROUP = "vigil.plugins"


def _record_from_manifest(
    source: Source, folder: Path, manifest_path: Path, import_root: Path | None, entry_point: str = ""
) -> PluginRecord:
    try:
        manifest = load_manifest(manifest_path)
    except ConfigError as e:
        return PluginRecord(
            id=_readable_id(manifest_path) or f"?{folder.name}",
            source=source,
            location=folder,
            manifest_path=manifest_path,
            state=PluginState.REJECTED,
            reason="broken manifest: " + str(e),
            entry_point=entry_point,
        )
    return PluginRecord(
        id=manifest.id,
        source=source,
        location=folder,
        manifest_path=manifest_path,
        manifest=manifest,
        import_root=import_root,
        entry_point=entry_point,
    )


def _readable_id(manifest_path: Path) -> str | None:
    """The ``[plugin] id`` of a manifest refused for other reasons, so reports can name it."""
    try:
        raw = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
        plugin_id = raw["plugin"]["id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return plugin_id if isinstance(plugin_id, str) and plugin_id else None


def scan_folder(root: Path, source: Source) -> list[PluginRecord]:
    """One record per sub-folder of ``root`` (sorted by name). Folders starting with ``_`` or
    ``.`` (templates, caches) are skipped; a folder without ``plugin.toml`` is reported."""
    if not root.is_dir():
        return []
    records: list[PluginRecord] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if folder.name.startswith(("_", ".")):
            continue
        records.append(scan_plugin_folder(folder, source))
    return records


def scan_plugin_folder(folder: Path, source: Source) -> PluginRecord:
    """One explicitly named plugin folder (tests, ``plugin_dirs=``)."""
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        return PluginRecord(
            id=f"?{folder.name}",
            source=source,
            location=folder,
            manifest_path=manifest_path,
            state=PluginState.REJECTED,
            reason=f"{manifest_path}: no plugin.toml in this plugin folder",
        )
    return _record_from_manifest(source, folder, manifest_path, import_root=folder)


def scan_entry_points() -> list[PluginRecord]:
    """Entry points in group ``vigil.plugins``. The value names a top-level *package* that ships
    its ``plugin.toml`` as package data (``name = "vigil_hello"``). The package is located with
    ``importlib.util.find_spec`` without being imported, so entry-point plugins stay lazy too."""
    records: list[PluginRecord] = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        dist = getattr(ep.dist, "name", "?") if ep.dist is not None else "?"
        label = f"entry point '{ep.name} = {ep.value}' (distribution {dist})"
        placeholder = Path(ep.value)

        def rejected(
            reason: str, label: str = label, placeholder: Path = placeholder, ep_name: str = ep.name
        ) -> PluginRecord:
            return PluginRecord(
                id=f"?{ep_name}",
                source=Source.ENTRY_POINT,
                location=placeholder,
                manifest_path=placeholder,
                state=PluginState.REJECTED,
                reason=f"{label}: {reason}",
                entry_point=label,
            )

        if ep.attr or "." in ep.module:
            records.append(rejected("the value must name a top-level package, e.g. 'vigil_hello'"))
            continue
        try:
            spec = importlib.util.find_spec(ep.module)
        except (ImportError, ValueError) as e:
            records.append(rejected(f"cannot locate package: {e}"))
            continue
        if spec is None or not spec.submodule_search_locations:
            records.append(rejected(f"package '{ep.module}' is not installed or is not a package"))
            continue
        folder = Path(next(iter(spec.submodule_search_locations)))
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            records.append(rejected(f"{manifest_path}: the package ships no plugin.toml"))
            continue
        records.append(
            _record_from_manifest(
                Source.ENTRY_POINT, folder, manifest_path, import_root=None, entry_point=label
            )
        )
    return records


def resolve(
    records: Iterable[PluginRecord], host_api: str, disabled: set[str], builtins_only: bool
) -> list[PluginRecord]:
    """Apply the rules in discovery order: first of a duplicate id wins, incompatible API
    versions are rejected, user-disabled plugins are marked (and will never be imported)."""
    out: list[PluginRecord] = []
    first: dict[str, PluginRecord] = {}
    for rec in records:
        if rec.state is PluginState.REJECTED or rec.manifest is None:
            out.append(rec)
            continue
        if builtins_only and rec.source is not Source.BUILTIN:
            continue
        winner = first.get(rec.id)
        if winner is not None:
            rec.state = PluginState.REJECTED
            rec.reason = (
                f"{rec.manifest_path}: duplicate plugin id '{rec.id}', already provided by "
                f"{winner.manifest_path} ({winner.source}); this copy is ignored"
            )
            out.append(rec)
            continue
        first[rec.id] = rec
        problem = api_problem(rec.manifest.plugin.api, host_api)
        if problem:
            rec.state = PluginState.REJECTED
            rec.reason = f"{rec.manifest_path}: {problem}"
        elif rec.id in disabled:
            rec.state = PluginState.DISABLED
            rec.reason = f"disabled by the user (re-enable: vigil plugins enable {rec.id})"
        out.append(rec)
    return out
