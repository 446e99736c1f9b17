"""``vigil plugins check PATH``: validate a plugin folder without loading it into this process.

Imports happen in a child Python process (so a plugin that crashes, hangs or pollutes
``sys.modules`` cannot affect the checker), with the plugin folder first on ``sys.path``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from app.core.errors import ConfigError
from app.core.profiles import load_profile
from app.plugin_host.manifest import MANIFEST_NAME, api_problem, load_manifest
from app.sdk import API_VERSION

# Runs in the child: import each 'module:attr' and report, one JSON line per reference.
_CHILD = r"""
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
for ref in json.loads(sys.argv[2]):
    mod, _, attr = ref.partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in attr.split("."):
            obj = getattr(obj, part)
        problem = "" if callable(obj) else f"is a {type(obj).__name__}, not a class or function"
    except BaseException as e:
        problem = f"{type(e).__name__}: {e}"
    print(json.dumps({"ref": ref, "problem": problem}), flush=True)
"""


@dataclass
class CheckResult:
    path: Path
    plugin_id: str = ""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_plugin_folder(
    path: Path, *, timeout_s: float = 30.0, api_version: str = API_VERSION
) -> CheckResult:
    """Check manifest fields, the API version, that every ``module:attr`` imports (in a child
    process, bounded by ``timeout_s``), and that every contributed profile validates."""
    path = Path(path)
    result = CheckResult(path)
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    folder = manifest_path.parent
    try:
        manifest = load_manifest(manifest_path)
    except ConfigError as e:
        result.problems.append(str(e))
        return result
    result.plugin_id = manifest.id
    problem = api_problem(manifest.plugin.api, api_version)
    if problem:
        result.problems.append(f"{manifest_path}: {problem}")
    refs = manifest.object_refs()
    if not refs and not manifest.profiles:
        result.problems.append(f"{manifest_path}: contributes nothing (no drivers, detectors, profiles...)")
    if refs:
        result.problems += _check_imports(folder, [r for _, _, r in refs], timeout_s)
        result.notes.append(f"{len(refs)} contribution(s) import cleanly" if result.ok else "")
    for entry in manifest.profiles:
        pfolder = folder / entry.path
        if not pfolder.is_dir():
            result.problems.append(f"{manifest_path}: profiles folder '{entry.path}' does not exist")
            continue
        files = sorted(pfolder.glob("*.toml"))
        if not files:
            result.problems.append(f"{pfolder}: no *.toml profiles in this folder")
        for f in files:
            try:
                prof = load_profile(f)
                result.notes.append(f"profile {f.name}: ok ({prof.device.id}, {len(prof.points)} points)")
            except ConfigError as e:
                result.problems.append(str(e))
    result.notes = [n for n in result.notes if n]
    return result


def _check_imports(folder: Path, refs: list[str], timeout_s: float) -> list[str]:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD, str(folder.resolve()), json.dumps(refs)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=folder,
        )
    except subprocess.TimeoutExpired:
        return [f"{folder}: importing the plugin's modules did not finish within {timeout_s:g} s"]
    seen: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        try:
            row = json.loads(line)
            seen[row["ref"]] = row["problem"]
        except (ValueError, KeyError, TypeError):
            continue  # the plugin printed something itself
    problems = []
    for ref in refs:
        if ref not in seen:
            tail = proc.stderr.strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            problems.append(f"{folder}: '{ref}': the import process died ({tail[0]})")
            break
        if seen[ref]:
            problems.append(f"{folder}: '{ref}': {seen[ref]}")
    return problems
