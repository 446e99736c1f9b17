"""The plugin guide works word for word: every file it shows (fenced blocks with a
``title="folder/path"``) is copied into a fresh folder, checked with ``vigil plugins check``, and
the guide's own tests are run the way the guide says (``python -m pytest -q tests``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main as vigil
from app.plugin_host import parse_manifest

GUIDE = Path(__file__).resolve().parents[2] / "plugins" / "GUIDE.md"
BLOCK = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```\n', re.S | re.M)


def guide_blocks() -> list[tuple[str, str | None, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in BLOCK.finditer(GUIDE.read_text(encoding="utf-8"))]


def extract(dest: Path) -> set[str]:
    folders = set()
    for _, title, body in guide_blocks():
        if title:
            target = dest / title
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            folders.add(title.split("/")[0])
    return folders


def test_guide_has_the_examples_it_promises():
    titles = [t for _, t, _ in guide_blocks() if t]
    assert "acme-spike/plugin.toml" in titles and "acme-spike/tests/test_spike.py" in titles
    assert "acme-counter/acme_counter/device.py" in titles and "acme-counter/tests/test_counter.py" in titles


def test_manifest_reference_block_is_a_valid_manifest():
    reference = next(
        b for lang, t, b in guide_blocks() if lang == "toml" and not t and b.startswith("[plugin]")
    )
    manifest = parse_manifest(reference.encode(), "GUIDE.md manifest reference")
    assert [d.name for d in manifest.detectors] == ["spike"] and manifest.widgets


@pytest.mark.parametrize("folder", ["acme-spike", "acme-counter"])
def test_guide_example_checks_and_its_tests_pass(tmp_path, folder, capsys):
    assert folder in extract(tmp_path)
    plugin = tmp_path / folder
    assert vigil(["plugins", "check", str(plugin)]) == 0, capsys.readouterr().err
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests", "-p", "no:cacheprovider", "--rootdir", "."],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert re.search(r"\b[2-9] passed\b", proc.stdout), proc.stdout[-500:]


def test_template_copied_to_a_plugin_folder_checks_and_its_tests_pass(tmp_path, capsys):
    template = GUIDE.parent / "_template"
    plugin = tmp_path / "my-plugin"
    shutil.copytree(template, plugin, ignore=shutil.ignore_patterns("__pycache__"))
    assert vigil(["plugins", "check", str(plugin)]) == 0, capsys.readouterr().err
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "tests", "-p", "no:cacheprovider", "--rootdir", "."],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


IMPORT = re.compile(r"^\s*(?:from\s+(app(?:\.\w+)*)\s+import|import\s+(app(?:\.\w+)*))", re.M)


def _public(module: str) -> bool:
    return module in ("app.sdk", "app.plugin_testing") or module.startswith("app.sdk.")


def test_guide_and_template_code_imports_from_app_sdk_only():
    """The guide tells plugin authors "you import from app.sdk only": every example it shows
    (plugin code and its tests) and the template must keep that rule, or authors copy a
    dependency on Vigil internals that may change without notice. Their tests may also use the
    published pytest fixtures, `app.plugin_testing` (kept outside the SDK: they import the
    plugin host and pymodbus)."""
    offenders = []
    for lang, title, body in guide_blocks():
        if lang != "python":
            continue
        for m in IMPORT.finditer(body):
            module = m.group(1) or m.group(2)
            if not _public(module):
                offenders.append(f"GUIDE.md {title or '(untitled block)'}: {module}")
    for f in sorted((GUIDE.parent / "_template").rglob("*.py")):
        for m in IMPORT.finditer(f.read_text(encoding="utf-8")):
            module = m.group(1) or m.group(2)
            if not _public(module):
                offenders.append(f"{f.relative_to(GUIDE.parent)}: {module}")
    assert offenders == []
