"""Issue #18, defect 3: on a full disk the journal must not be called damaged (the advice that
follows, "move the journal folder aside", would break the audit chain over a temporary
condition). The disk-full answer comes from SQLite itself (SQLITE_FULL), injected where the
journal writes its first change at open."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

import app.core.journal.writer as writer_module
from app.core.journal import Journal, JournalError, verify


class _FullDisk:
    """A real journal connection whose first write at open answers like a full disk."""

    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("UPDATE meta SET value='open'"):
            e = sqlite3.OperationalError("database or disk is full")
            e.sqlite_errorcode = 13  # SQLITE_FULL, as sqlite3 sets it
            e.sqlite_errorname = "SQLITE_FULL"
            raise e
        return self._con.execute(sql, *args)

    def __enter__(self) -> _FullDisk:
        self._con.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._con.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def test_a_full_disk_at_open_is_not_called_damage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    journal_dir = tmp_path / "journal"
    Journal.open(journal_dir).close()
    real_open = writer_module.open_writer
    monkeypatch.setattr(writer_module, "open_writer", lambda *a, **k: _FullDisk(real_open(*a, **k)))
    with pytest.raises(JournalError) as ei:
        Journal.open(journal_dir)
    msg = str(ei.value)
    assert "disk is full" in msg, msg
    assert "database is damaged" not in msg and "do not move" in msg, msg
    monkeypatch.undo()
    # and indeed: the journal verifies intact and opens once space is back
    assert verify(journal_dir).status == "intact"
    Journal.open(journal_dir).close()
