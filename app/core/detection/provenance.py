"""Model provenance: a model loads only if a *sealed* ``model.trained`` event vouches for it.

`JournalProvenance` wraps the real journal (``app.core.journal.Journal``): ``record`` appends a
critical ``model.trained`` event (so a signed checkpoint follows it at once). ``vouches`` and
``vouches_for`` answer "did this journal record and sign a model with exactly this hash (for
this detector group)?" from events a valid signed checkpoint covers (``read_sealed``), never
from raw rows: a row appended to the file or an old event edited in place vouches for nothing.
``newest_models`` picks each group's model by journal order, which no file copy can change
(file times can).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from ecdsa import VerifyingKey

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
        """True only if a sealed ``model.trained`` event records this exact hash."""
        ...

    def vouches_for(self, sha256: str, group: str) -> bool:
        """True only if a sealed ``model.trained`` event records this hash for this group."""
        ...

    def newest_models(self) -> dict[str, str]:
        """Detector group -> SHA-256 of its newest sealed model, by journal order."""
        ...

    def loaded(self, actor: str, body: dict[str, Any]) -> None:
        """Journal that a vouched model was put into service."""
        ...


class JournalProvenance:
    """Provenance kept in the event journal; ``db_path`` is the journal's SQLite file."""

    def __init__(self, journal: JournalLike, db_path: Path | None = None,
                 public_key: VerifyingKey | None = None):
        self.journal = journal
        if db_path is None:
            jdir = getattr(journal, "dir", None)
            db_path = Path(jdir) / "journal.sqlite" if jdir is not None else None
        self.db_path = db_path
        # the original key: key rotations recorded in the journal are followed from it
        self.public_key = public_key if public_key is not None else getattr(journal, "root_key", None)
        self._lock = threading.Lock()
        #: (sha256, group) recorded by this process: its own appends need no proof
        self._recorded: set[tuple[str, str | None]] = set()

    def record(self, actor: str, body: dict[str, Any]) -> None:
        self.journal.append(MODEL_TRAINED, actor, body, critical=True)
        group = body.get("group")
        with self._lock:
            self._recorded.add((str(body["sha256"]), group if isinstance(group, str) else None))

    def loaded(self, actor: str, body: dict[str, Any]) -> None:
        self.journal.append(MODEL_LOADED, actor, body)

    def vouches(self, sha256: str) -> bool:
        with self._lock:
            if any(sha == sha256 for sha, _ in self._recorded):
                return True
        return any(sha == sha256 for sha, _ in self._sealed())

    def vouches_for(self, sha256: str, group: str) -> bool:
        with self._lock:
            if (sha256, group) in self._recorded:
                return True
        return (sha256, group) in self._sealed()

    def newest_models(self) -> dict[str, str]:
        newest: dict[str, str] = {}
        for sha, group in self._sealed():  # journal order: a later event wins
            if group is not None:
                newest[group] = sha
        return newest

    def _sealed(self) -> list[tuple[str, str | None]]:
        if self.db_path is None or not self.db_path.exists() or self.public_key is None:
            return []
        self.journal.flush(5.0)
        return sealed_models(self.db_path, self.public_key)


def sealed_models(db_path: Path, public_key: VerifyingKey) -> list[tuple[str, str | None]]:
    """(sha256, group) of every sealed ``model.trained`` event, in journal order."""
    from app.core.journal import JournalError, read_sealed

    try:
        events = read_sealed(db_path, MODEL_TRAINED, public_key)
    except JournalError:
        return []  # an unreadable journal vouches for nothing
    out = []
    for ev in events:
        sha, group = ev.body.get("sha256"), ev.body.get("group")
        if isinstance(sha, str):
            out.append((sha, group if isinstance(group, str) else None))
    return out


def journaled_model_hashes(db_path: Path, public_key: VerifyingKey | None = None) -> set[str]:
    """Every ``sha256`` named by a sealed ``model.trained`` event (for listings).

    Without ``public_key`` the key in the journal folder's ``identity.json`` is used.
    """
    if public_key is None:
        from app.core.journal import KeyFileError, load_identity

        try:
            public_key = load_identity(Path(db_path).parent / "identity.json").public_key
        except KeyFileError:
            return set()
    return {sha for sha, _ in sealed_models(Path(db_path), public_key)}
