"""Fixtures: journals built through the real writer in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import build


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return build(tmp_path / "journal")


@pytest.fixture
def make_journal(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "other", **kw: int) -> Path:
        return build(tmp_path / name, **kw)

    return make
