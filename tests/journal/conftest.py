"""Fixtures: journals built through the real writer, once per session, copied for each test.

Building costs fsyncs; copying the closed journal's files gives each test its own identical,
untouched journal in its own tmp_path for a fraction of that.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import build


@pytest.fixture(scope="session")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("journal-templates")
    return {"journal": build(root / "journal"), "other": build(root / "other")}


@pytest.fixture
def journal_dir(tmp_path: Path, _templates: dict[str, Path]) -> Path:
    """A clean 63-event journal (60 appended + created/start/stop), checkpoints every 10."""
    return Path(shutil.copytree(_templates["journal"], tmp_path / "journal"))


@pytest.fixture
def make_journal(tmp_path: Path, _templates: dict[str, Path]) -> Callable[..., Path]:
    """Another, unrelated journal (its own id and key)."""

    def make(name: str = "other") -> Path:
        return Path(shutil.copytree(_templates["other"], tmp_path / name))

    return make
