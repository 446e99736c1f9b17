"""Model provenance: the journal records every trained model's SHA-256, and only such models load.

`JournalProvenance` wraps the real journal (``app.core.journal.Journal``): ``record`` appends a
critical ``model.trained`` event (so a signed checkpoint follows it), and ``vouches`` answers
"did this journal record a model with exactly this hash?" by reading the journal database
read-only. Tamper-evidence of the journal itself (hash chain, signatures) is checked by
``vigil journal verify``; here we rely on that chain rather than re-verifying it on every load.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

MODEL_TRAINED = "model.trained"
MODEL_LOADED = "model.loaded"


class JournalLike(Protocol):
    """The part of ``app.core.journal.Journal`` provenance needs."""

    def append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None: ...

    def flush(self, timeout: float = 5.0) -> bool: ...


class Provenance(Protocol):
    def record(self, actor: str, body: dict[str, Any]) -> None:
        """Journal a trained model (``body`` holds at least ``sha256``)."""
        ...

    def vouches(self, sha256: str) -> bool:
        """True only if a ``model.trained`` event records this exact hash."""
        ...

    def loaded(self, actor: str, body: dict[str, Any]) -> None:
        """Journal that a vouched model was put into service."""
        ...


class JournalProvenance:
    """Provenance kept in the event journal; ``db_path`` is the journal's SQLite file."""

    def __init__(self, journal: JournalLike, db_path: Path | None = None):
        self.journal = journal
        if db_path is None:
            jdir = getattr(journal, "dir", None)
            db_path = Path(jdir) / "journal.sqlite" if jdir is not None else None
        self.db_path = db_path
        self._lock = threading.Lock()
        self._recorded: set[str] = set()

    def record(self, actor: str, body: dict[str, Any]) -> None:
        self.journal.append(MODEL_TRAINED, actor, body, critical=True)
        with self._lock:
            self._recorded.add(str(body["sha256"]))

    def loaded(self, actor: str, body: dict[str, Any]) -> None:
        self.journal.append(MODEL_LOADED, actor, body)

    def vouches(self, sha256: str) -> bool:
        with self._lock:
            if sha256 in self._recorded:
                return True
        if self.db_path is None or not self.db_path.exists():
            return False
        self.journal.flush(5.0)
        return sha256 in journaled_model_hashes(self.db_path)


def journaled_model_hashes(db_path: Path) -> set[str]:
    """Every ``sha256`` named by a ``model.trained`` event, read without write access."""
    uri = Path(db_path).resolve().as_uri() + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True)
        try:
            rows = con.execute("SELECT body FROM events WHERE kind = ?", (MODEL_TRAINED,)).fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return set()  # an unreadable journal vouches for nothing
    hashes = set()
    for (body,) in rows:
        try:
            sha = json.loads(bytes(body).decode("utf-8")).get("sha256")
        except (ValueError, AttributeError, UnicodeDecodeError):
            continue
        if isinstance(sha, str):
            hashes.add(sha)
    return hashes
