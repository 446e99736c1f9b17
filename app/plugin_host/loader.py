"""Importing one ``module:attr`` of one plugin, and fingerprinting a plugin's files.

The plugin folder goes on ``sys.path`` just before its first import (never at discovery), so a
disabled or unused plugin's code is never importable by accident.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path
from typing import Any

from app.plugin_host.guard import PluginFault, call_with_budget
from app.plugin_host.records import PluginRecord

_SKIP_DIRS = {"__pycache__", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def plugin_files(folder: Path) -> list[Path]:
    """The files that make up a plugin, sorted, without caches and compiled bytecode."""
    files = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        if p.is_file() and p.suffix not in (".pyc", ".pyo") and not p.name.startswith("."):
            files.append(p)
    return files


def fingerprint(folder: Path) -> tuple[str, dict[str, str]]:
    """SHA-256 of every file (by relative path) and one digest over them all, for the journal.

    The combined digest covers names and contents, so adding, removing or renaming a file
    changes it too.
    """
    per_file: dict[str, str] = {}
    for p in plugin_files(folder):
        per_file[p.relative_to(folder).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    total = hashlib.sha256()
    for rel, digest in per_file.items():
        total.update(f"{rel}\0{digest}\n".encode())
    return total.hexdigest(), per_file


def _owned_by(module: Any, folder: Path) -> bool:
    paths = [getattr(module, "__file__", None), *list(getattr(module, "__path__", []) or [])]
    return any(p and Path(p).resolve().is_relative_to(folder.resolve()) for p in paths)


def _import_and_get(module_name: str, attr_path: str) -> Any:
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj


def import_object(record: PluginRecord, ref: str, budget_s: float) -> Any:
    """Import ``ref`` ('pkg.mod:Attr') for ``record`` within ``budget_s`` seconds.

    Raises `PluginFault` when the import fails, hangs, the attribute is missing, or the top-level
    package name is already taken by another plugin or library (two plugins shipping a package
    called ``driver`` would otherwise silently get each other's code).
    """
    module_name, _, attr_path = ref.partition(":")
    top = module_name.split(".")[0]
    existing = sys.modules.get(top)
    if existing is not None and not _owned_by(existing, record.location):
        where = getattr(existing, "__file__", None) or "a built-in module"
        raise PluginFault(
            "import",
            f"'{ref}': package name '{top}' is already used by {where}; give the plugin's "
            "package a unique name",
        )
    if record.import_root is not None:
        root = str(record.import_root)
        if root not in sys.path:
            sys.path.insert(0, root)
    try:
        return call_with_budget(_import_and_get, budget_s, module_name, attr_path, what=f"importing '{ref}'")
    except PluginFault as e:
        cause = e.__cause__
        if isinstance(cause, AttributeError):
            raise PluginFault(
                "import", f"'{ref}': module '{module_name}' has no attribute '{attr_path}'"
            ) from cause
        if isinstance(cause, ModuleNotFoundError) and cause.name and module_name.startswith(cause.name):
            raise PluginFault(
                "import", f"'{ref}': module '{cause.name}' not found in {record.location}"
            ) from cause
        raise
