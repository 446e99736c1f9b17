"""A disk that fills and empties on command, for SQLite files under one folder.

A real full disk is a small tmpfs, which needs ``mount`` (root, and a container that allows
it). Where that cannot be assumed the fault is injected where SQLite reports it: every
connection opened on a file under ``folder`` is a real connection (plain ``sqlite3`` for the
journal, SQLCipher's for the encrypted historian and alarm store) whose COMMIT answers
SQLITE_FULL while the disk is "full", exactly as SQLite raises it (the transaction stays open
and the caller must roll back). Everything else is the real thing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from app.core.atrest import dbapi as cipher


def wait_for(cond: Callable[[], object], timeout: float = 20.0) -> bool:
    """Whether ``cond()`` became true within ``timeout`` seconds (polled; checked once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return bool(cond())


def full_error(module: ModuleType = sqlite3) -> Exception:
    """SQLITE_FULL as ``module`` (sqlite3 or SQLCipher's) raises it."""
    e = module.OperationalError("database or disk is full")
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
        for module in {id(m): m for m in (sqlite3, cipher)}.values():
            monkeypatch.setattr(module, "connect", self._connect_for(module))

    def _connect_for(self, module: ModuleType) -> Any:
        disk = self
        folder = self.folder
        real_connect = module.connect

        class Connection(module.Connection):  # type: ignore[name-defined,misc]
            def execute(self, sql: str, *args: Any) -> Any:
                if disk.full.is_set() and sql.strip().upper().startswith(("COMMIT", "END")):
                    disk.refused += 1
                    raise full_error(module)
                return super().execute(sql, *args)

            def commit(self) -> None:
                if disk.full.is_set() and self.in_transaction:
                    disk.refused += 1
                    self._rolled_back = True
                    raise full_error(module)
                super().commit()

            def __exit__(self, exc_type: Any, *rest: Any) -> Any:
                # ``with connection:`` commits from C, past the commit() above
                if exc_type is None and disk.full.is_set() and self.in_transaction:
                    disk.refused += 1
                    super().rollback()
                    raise full_error(module)
                return super().__exit__(exc_type, *rest)

            def rollback(self) -> None:
                # as seen on a full tmpfs: SQLite rolled the refused commit back itself, so the
                # rollback that ``with connection:`` tries next fails and hides the full disk
                if getattr(self, "_rolled_back", False):
                    self._rolled_back = False
                    super().rollback()
                    raise module.OperationalError("cannot rollback - no transaction is active")
                super().rollback()

        def connect(database: Any, *args: Any, **kwargs: Any) -> Any:
            if "factory" not in kwargs and str(database).replace("file:", "").startswith(str(folder)):
                kwargs["factory"] = Connection
            return real_connect(database, *args, **kwargs)

        return connect

    def fill(self) -> None:
        self.full.set()

    def free(self) -> None:
        self.full.clear()
