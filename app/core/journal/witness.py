"""Witnessed heads: another journal's signed head, recorded in this journal.

A signed head kept only on the machine that made it proves nothing against that machine's
owner: they can cut the journal short or roll it back to a backup and the remaining checkpoints
still verify. A head recorded in *another* node's journal (a ``journal.witness`` event, sealed by
that node's key) is a copy the first node cannot reach. ``verify --witnesses DIR`` reads the
witness events of the journals in DIR, checks those journals first, and compares every head they
witnessed for the journal under test exactly like an exported head (anchor).

Publishing heads to the other nodes periodically needs the broker of the node/MQTT work; until
then heads travel as files: ``vigil journal export-head`` on one node, ``vigil journal witness
FILE`` on another.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from app.core.journal import chain
from app.core.journal.keys import IDENTITY_FILE
from app.core.journal.store import DB_FILE, JournalError, open_readonly
from app.core.journal.verify import AnchorFileError, load_anchors

#: fields every exported head carries (v2 adds journal, key and state)
HEAD_FIELDS = ("format", "journal_id", "number", "size", "head", "time", "reason", "prev", "signature")


def parse_heads(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Exported heads in a file (one JSON object a line, as ``export-head`` writes them): the
    anchors-file reader of ``verify --anchors``, plus the format every witnessed head must name."""
    try:
        docs = load_anchors(path)
    except AnchorFileError as e:
        raise JournalError(str(e)) from None
    for doc in docs:
        missing = [f for f in HEAD_FIELDS if f not in doc]
        if missing:
            raise JournalError(f"{doc['_where']}: not an exported head (missing {', '.join(missing)})")
        if doc["format"] not in (chain.CHECKPOINT_FORMAT, chain.CHECKPOINT_FORMAT_V1):
            raise JournalError(f"{doc['_where']}: unknown head format {doc['format']!r}")
    return docs


def witness_body(head: dict[str, Any], source: str) -> dict[str, Any]:
    """The body of a ``journal.witness`` event recording ``head``."""
    return {"head": {k: v for k, v in head.items() if not k.startswith("_")}, "source": source}


def _journal_folders(root: Path) -> list[Path]:
    """Journal folders under ``root``: itself, its children, or its children's ``journal``."""
    found = []
    for candidate in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        for folder in (candidate, candidate / "journal"):
            if (folder / DB_FILE).is_file() and folder not in found:
                found.append(folder)
    return found


def witnessed_heads(root: str | os.PathLike[str], notes: list[str]) -> list[dict[str, Any]]:
    """Every head witnessed by an intact journal under ``root``, as anchors for ``verify``.

    Each witnessing journal is verified first against the identity file in its folder; only
    witness events it has sealed count. Raises :class:`JournalError` when a witnessing journal is
    not intact, since a head from it cannot be trusted.
    """
    from app.core.journal.verify import verify  # verify imports this module lazily as well

    base = Path(root)
    if not base.is_dir():
        raise JournalError(f"{base}: no such witness folder")
    folders = _journal_folders(base)
    if not folders:
        raise JournalError(f"{base}: no witnessing journals (no journal.sqlite) in this folder")
    anchors: list[dict[str, Any]] = []
    for folder in folders:
        result = verify(folder, pubkey=folder / IDENTITY_FILE)
        if not result.ok:
            raise JournalError(f"witness journal {folder} is not intact, so its witnessed heads "
                               f"cannot be trusted: {result.message}")
        try:
            con = open_readonly(folder / DB_FILE)
            try:
                rows = con.execute("SELECT seq, body FROM events WHERE kind = ? AND seq <= ? "
                                   "ORDER BY seq", (chain.WITNESS, result.sealed)).fetchall()
            finally:
                con.close()
        except sqlite3.Error as e:
            raise JournalError(f"{folder}: cannot read witness events ({e})") from None
        for seq, body in rows:
            try:
                head = json.loads(bytes(body))["head"]
            except (ValueError, KeyError, TypeError):
                continue
            if isinstance(head, dict):
                where = f"head witnessed by journal {result.journal_id} (seq {seq}, {folder})"
                anchors.append({**head, "_witness": True, "_where": where})
        notes.append(f"witness journal {folder} intact; {len(rows)} witnessed head(s) read")
    return anchors
