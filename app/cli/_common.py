"""Small helpers shared by CLI sub-commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def open_journal(data_dir: Path) -> Any:
    """Open the data dir's journal for writing (user administration and notes are journaled)."""
    from app.core.journal import Journal

    return Journal.open(data_dir / "journal")
