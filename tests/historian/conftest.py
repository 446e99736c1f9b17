"""Helpers for historian tests: a started Historian on a real file in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.historian import Historian


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "historian.sqlite"


@pytest.fixture
def historian(db_path: Path) -> Iterator[Historian]:
    h = Historian(db_path, flush_interval_s=0.05)
    h.start()
    yield h
    h.close()
