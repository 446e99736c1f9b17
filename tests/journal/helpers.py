"""Helpers: journals built through the real writer, and the tools an attacker would use on the file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core.journal import Journal
from app.core.journal.store import DB_FILE

ACTORS = ["system", "alice", "bob", "plugin:modbus", "detector:iforest"]


def build(journal_dir: Path, events: int = 60, every: int = 10) -> Path:
    """A journal with ``events`` appended events (every 13th critical), closed cleanly."""
    with Journal.open(journal_dir, checkpoint_every=every) as j:
        for i in range(events):
            j.append(
                "alarm.transition" if i % 3 else "setpoint.write",
                ACTORS[i % len(ACTORS)],
                {"i": i, "tag": f"pump{i % 4}.flow", "value": i * 1.5, "note": "débit élevé"},
                critical=i % 13 == 12,
            )
    return journal_dir


def connect(journal_dir: Path) -> sqlite3.Connection:
    """A plain read-write connection to the journal file: the tamperer's tool."""
    return sqlite3.connect(journal_dir / DB_FILE, isolation_level=None)


def checkpoint_sizes(journal_dir: Path) -> list[int]:
    con = connect(journal_dir)
    try:
        return [r[0] for r in con.execute("SELECT size FROM checkpoints ORDER BY number")]
    finally:
        con.close()


def sealed_range_start(journal_dir: Path, seq: int) -> int:
    """First seq of the checkpoint range that contains ``seq``."""
    return max([0, *[s for s in checkpoint_sizes(journal_dir) if s < seq]]) + 1
