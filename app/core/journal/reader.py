"""Reading the journal for people: event listings (UI, ``vigil journal show``) and heads to export.

Both open the database read-only, so they are safe while the workstation is writing.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from app.core.journal import chain
from app.core.journal.keys import fingerprint_of_pem
from app.core.journal.store import JournalError, db_path, open_readonly, read_meta


@dataclass(frozen=True)
class JournalEvent:
    """One stored event, decoded. ``body`` is the parsed canonical JSON."""

    seq: int
    ts: float
    kind: str
    actor: str
    critical: bool
    body: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind, "actor": self.actor,
                "critical": self.critical, "body": self.body}


def _decode_body(raw: Any, seq: int) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, TypeError):
        return {"_unreadable": f"body of seq {seq} is not valid JSON; run vigil journal verify"}
    return body if isinstance(body, dict) else {"value": body}


def read_events(
    journal: str | os.PathLike[str],
    kind: str | None = None,
    since: float | None = None,
    limit: int | None = None,
    *,
    after_seq: int | None = None,
    newest_first: bool = False,
) -> list[JournalEvent]:
    """Events in seq order, optionally filtered.

    ``kind`` matches exactly, or a whole dotted prefix when it ends with ``.`` or ``.*``
    (``"alarm.*"``); ``since`` is an epoch time; ``after_seq`` lets a viewer fetch only what is
    new; ``newest_first`` with ``limit`` gives the latest N. Display only: this does not verify.
    Raises :class:`JournalError` naming the file when it cannot be read.
    """
    path = db_path(journal)
    where: list[str] = []
    args: list[str | int | float] = []
    if kind:
        if kind.endswith(".*") or kind.endswith("."):
            prefix = kind.rstrip("*")
            where.append("substr(kind, 1, ?) = ?")
            args += [len(prefix), prefix]
        else:
            where.append("kind = ?")
            args.append(kind)
    since_at = len(args) if since is not None else None
    if since is not None:
        where.append("ts >= ?")
        args.append(float(since))
    if after_seq is not None:
        where.append("seq > ?")
        args.append(int(after_seq))
    sql = "SELECT seq, ts, kind, actor, critical, body FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC" if newest_first else " ORDER BY seq"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(int(limit))
    try:
        con = open_readonly(path)
        try:
            micros = read_meta(con).get("format") != chain.FORMAT_V1
            if micros and since_at is not None:
                args[since_at] = chain.to_micros(float(args[since_at]))
            rows = con.execute(sql, args).fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot read the journal ({e})") from None
    scale = 1e-6 if micros else 1.0
    return [JournalEvent(seq, ts * scale if isinstance(ts, int | float) else 0.0, str(k), str(a),
                         bool(c), _decode_body(b, seq))
            for seq, ts, k, a, c, b in rows]


def export_head(journal: str | os.PathLike[str]) -> dict[str, Any]:
    """The latest signed checkpoint as a dict to keep elsewhere (one JSON line in the CLI).

    Contains everything needed to check it later with the pinned key: journal id, number, size,
    head hash, time, reason, link to the previous checkpoint and the signature. Raises
    :class:`JournalError` when there is no journal or no checkpoint yet.
    """
    path = db_path(journal)
    try:
        con = open_readonly(path)
        try:
            meta = read_meta(con)
            row = con.execute(
                "SELECT number, size, head, ts, reason, prev, signature FROM checkpoints "
                "ORDER BY number DESC LIMIT 1"
            ).fetchone()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot read the journal ({e})") from None
    if "journal_id" not in meta:
        raise JournalError(f"{path}: not a Vigil journal (no journal id)")
    if row is None:
        raise JournalError(f"{path}: no signed checkpoint yet; open and close the journal once")
    return head_document(meta, row)


def head_document(meta: dict[str, str], row: Any) -> dict[str, Any]:
    """A checkpoint row as an exported head: exactly the signed fields plus the signature."""
    if meta.get("format") == chain.FORMAT_V1:
        return {"format": chain.CHECKPOINT_FORMAT_V1, "journal_id": meta["journal_id"],
                **chain.head_fields(row)}
    fields = chain.head_fields(row)
    return {"format": chain.CHECKPOINT_FORMAT, "journal": chain.FORMAT_V2,
            "journal_id": meta["journal_id"], "key": fingerprint_of_pem(meta.get("public_key_pem", "")),
            "state": chain.STATE_CLEAN if fields["reason"] == "shutdown" else chain.STATE_OPEN,
            **fields}
