"""The journal's SQLite file: schema, how the writer and readers open it, and the process lock.

The writer uses WAL with ``synchronous=FULL`` so a committed group survives power loss and a
kill -9 loses at most the group being written. Readers open the file with ``mode=ro`` so
verifying or showing a journal can never change it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import IO

from app.core.errors import VigilError

DB_FILE = "journal.sqlite"
LOCK_FILE = "journal.lock"
FORMAT = "vigil-journal/2"
#: how long one commit waits for SQLite's write lock before the writer backs off and retries
BUSY_TIMEOUT_S = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    ts INTEGER NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    critical INTEGER NOT NULL,
    body BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    number INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    head TEXT NOT NULL,
    ts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    prev TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    seq, ts, kind, actor, critical, body, prev_hash, hash,
    found INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""
#: the v1 schema, for building version-1 test journals and reading old files
SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL,
    actor TEXT NOT NULL, critical INTEGER NOT NULL, body BLOB NOT NULL, prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL);
CREATE TABLE checkpoints (number INTEGER PRIMARY KEY, size INTEGER NOT NULL, head TEXT NOT NULL,
    ts REAL NOT NULL, reason TEXT NOT NULL, prev TEXT NOT NULL, signature BLOB NOT NULL);
"""


class JournalError(VigilError):
    """The journal cannot be opened or used; the message names the file and what is wrong."""


def db_path(journal_dir_or_db: str | os.PathLike[str]) -> Path:
    """Accept either the journal folder or the ``journal.sqlite`` file itself."""
    p = Path(journal_dir_or_db)
    return p / DB_FILE if p.is_dir() or p.suffix != ".sqlite" else p


def open_writer(path: Path, *, create_schema: bool = True) -> sqlite3.Connection:
    """The one read-write connection, handed from the opening thread to the writer thread."""
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    if create_schema:
        con.executescript(SCHEMA)
    return con


def open_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write: verify and show must never alter the evidence."""
    if not path.exists():
        raise JournalError(f"{path}: no journal database here")
    uri = path.resolve().as_uri() + "?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)


def read_meta(con: sqlite3.Connection) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


class ProcessLock:
    """An exclusive lock file so two processes never extend the same chain at once.

    The OS releases it when the holder dies (even by kill -9), so a stale lock cannot outlive a
    crash; the ``state`` row in ``meta`` is what tells the next start the previous run was unclean.
    """

    def __init__(self, path: Path):
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        f = open(self.path, "a+")  # noqa: SIM115 - held open for the journal's lifetime
        f.seek(0)  # msvcrt locks from the current position: always lock byte 0
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined,unused-ignore]
            else:
                import fcntl

                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                f.seek(0)
                holder = f.read().strip() or "another process"
            except OSError:
                holder = "another process"
            f.close()
            raise JournalError(
                f"{self.path.parent}: the journal is already open by {holder}; "
                "only one process may write it at a time"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        self._file = f

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the lock
            self._file = None
