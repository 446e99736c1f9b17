"""A disk that fills and empties on command, for SQLite files under one folder.

A real full disk is a small tmpfs, which needs ``mount`` (root, and a container that allows
it). Where that cannot be assumed the fault is injected where SQLite reports it: every
connection opened on a file under ``folder`` is a real ``sqlite3.Connection`` whose COMMIT
answers SQLITE_FULL while the disk is "full", exactly as SQLite raises it (the transaction
stays open and the caller must roll back). Everything else is the real thing.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest


def full_error() -> sqlite3.OperationalError:
    e = sqlite3.OperationalError("database or disk is full")
    e.sqlite_errorcode = 13  # SQLITE_FULL, as sqlite3 sets it
    e.sqlite_errorname = "SQLITE_FULL"
    return e


class FullDisk:
    """``fill()`` / ``free()`` the disk under ``folder``; ``refused`` counts failed commits."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.full = threading.Event()
        self.refused = 0
        folder.mkdir(parents=True, exist_ok=True)
        disk = self
        real_connect = sqlite3.connect

        class Connection(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
                if disk.full.is_set() and sql.strip().upper().startswith(("COMMIT", "END")):
                    disk.refused += 1
                    raise full_error()
                return super().execute(sql, *args)

            def commit(self) -> None:
                if disk.full.is_set() and self.in_transaction:
                    disk.refused += 1
                    self._rolled_back = True
                    raise full_error()
                super().commit()

            def rollback(self) -> None:
                # as seen on a full tmpfs: SQLite rolled the refused commit back itself, so the
                # rollback that ``with connection:`` tries next fails and hides the full disk
                if getattr(self, "_rolled_back", False):
                    self._rolled_back = False
                    super().rollback()
                    raise sqlite3.OperationalError("cannot rollback - no transaction is active")
                super().rollback()

        def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
            if "factory" not in kwargs and str(database).replace("file:", "").startswith(str(folder)):
                kwargs["factory"] = Connection
            return real_connect(database, *args, **kwargs)

        monkeypatch.setattr(sqlite3, "connect", connect)

    def fill(self) -> None:
        self.full.set()

    def free(self) -> None:
        self.full.clear()
