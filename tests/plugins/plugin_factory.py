"""Helpers that write small plugin folders on disk for the plugin-host tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

#: a complete, tiny detector: mean/std z-score per tag, max over tags
DETECTOR_SOURCE = """
import numpy as np
from app.sdk import DetectorState, Scores


class ZShift:
    name = "{name}"

    def __init__(self, k=4.0):
        self.k = float(k)
        self._tags = []
        self._mu = self._sd = None
        self._threshold = float("inf")

    @property
    def tags(self):
        return list(self._tags)

    @property
    def threshold(self):
        return self._threshold

    def fit(self, history, tags):
        self._tags = list(tags)
        self._mu = history.mean(axis=0)
        self._sd = history.std(axis=0) + 1e-9
        self._threshold = self.k

    def score(self, batch):
        z = np.abs((batch - self._mu) / self._sd)
        return Scores(score=z.max(axis=1), contributions=z)

    def reset(self):
        pass

    def get_state(self):
        return DetectorState("{name}", self._tags, self._threshold, {{"k": self.k}},
                             {{"mu": self._mu, "sd": self._sd}})
"""


def write_plugin(
    root: Path,
    folder: str,
    plugin_id: str,
    *,
    package: str | None = None,
    api: str = "1.0",
    contributions: str = "",
    files: dict[str, str] | None = None,
) -> Path:
    """Write ``root/folder`` with a plugin.toml and ``files`` (paths relative to the folder)."""
    path = root / folder
    path.mkdir(parents=True, exist_ok=True)
    manifest = textwrap.dedent(
        f"""\
        [plugin]
        id = "{plugin_id}"
        name = "Test plugin {plugin_id}"
        version = "0.1.0"
        api = "{api}"
        """
    ) + textwrap.dedent(contributions)
    (path / "plugin.toml").write_text(manifest, encoding="utf-8")
    for rel, text in (files or {}).items():
        f = path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(textwrap.dedent(text), encoding="utf-8")
    if package and not (path / package / "__init__.py").exists():
        (path / package).mkdir(exist_ok=True)
        (path / package / "__init__.py").write_text("", encoding="utf-8")
    return path


def write_detector_plugin(root: Path, folder: str, plugin_id: str, package: str, name: str) -> Path:
    return write_plugin(
        root,
        folder,
        plugin_id,
        package=package,
        contributions=f"""
        [[detectors]]
        name = "{name}"
        factory = "{package}.det:ZShift"
        """,
        files={f"{package}/det.py": DETECTOR_SOURCE.format(name=name)},
    )
