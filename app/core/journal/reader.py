"""Reading the journal for people: event listings (UI, ``vigil journal show``) and heads to export.

Both open the database read-only, so they are safe while the workstation is writing.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import sqlite3
import struct
from dataclasses import dataclass
from typing import Any

from ecdsa import VerifyingKey

from app.core.journal import chain
from app.core.journal.keys import fingerprint_of_pem, public_key_fingerprint
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
            rotation = _rotation_body(con, row[1]) if row is not None and row[4] == "rotate" else None
        finally:
            con.close()
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot read the journal ({e})") from None
    if rotation is not None:  # a rotate checkpoint is signed by the key handed over from
        meta = {**meta, "public_key_pem": str(rotation.get("old_public_key_pem", ""))}
    if "journal_id" not in meta:
        raise JournalError(f"{path}: not a Vigil journal (no journal id)")
    if row is None:
        raise JournalError(f"{path}: no signed checkpoint yet; open and close the journal once")
    return head_document(meta, row)


def _rotation_body(con: sqlite3.Connection, seq: int) -> dict[str, Any] | None:
    row = con.execute("SELECT body FROM events WHERE seq = ? AND kind = ?",
                      (seq, chain.KEY_ROTATED)).fetchone()
    if row is None:
        return None
    try:
        body = json.loads(bytes(row[0]))
    except (ValueError, TypeError):
        return None
    return body if isinstance(body, dict) else None


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


def read_sealed(journal: str | os.PathLike[str], kind: str, public_key: VerifyingKey) -> list[JournalEvent]:
    """The events of ``kind`` that a valid signed checkpoint provably covers, in journal order.

    For each such event the checkpoint sealing it is checked: its signature by ``public_key``,
    its link to the checkpoint before (whose head is thereby vouched for too), and the hashes of
    every event between the two recomputed from the stored rows up to the signed head. An edited
    or unsealed row is therefore left out, whatever it says. Costs one signature check and at
    most one checkpoint interval of hashing per sealing checkpoint, not a full verify.
    Raises :class:`JournalError` when the database cannot be read.
    """
    path = db_path(journal)
    try:
        con = open_readonly(path)
        try:
            con.execute("BEGIN")
            return _read_sealed(con, kind, public_key)
        finally:
            con.close()
    except sqlite3.Error as e:
        raise JournalError(f"{path}: cannot read the journal ({e})") from None


def _read_sealed(con: sqlite3.Connection, kind: str, vk: VerifyingKey) -> list[JournalEvent]:
    meta = read_meta(con)
    jid = meta.get("journal_id", "")
    if meta.get("format") != chain.FORMAT_V2 or len(jid) != 32:
        return []
    wanted = [r[0] for r in con.execute("SELECT seq FROM events WHERE kind = ? ORDER BY seq", (kind,))]
    if not wanted:
        return []
    cps = con.execute("SELECT number, size, head, ts, reason, prev, signature FROM checkpoints "
                      "ORDER BY number").fetchall()
    if not all(isinstance(row[1], int) for row in cps):
        return []
    signers = _signers(con, jid, vk, cps)
    sizes = [row[1] for row in cps]
    proven: dict[int, JournalEvent] = {}
    checked: set[int] = set()
    for seq in wanted:
        index = bisect.bisect_left(sizes, seq)
        if index >= len(cps) or index in checked:
            continue
        checked.add(index)
        proven.update(_prove_range(con, jid, signers, cps, index, kind))
    return [proven[s] for s in wanted if s in proven]


def _signers(con: sqlite3.Connection, jid: str, root: VerifyingKey,
             cps: list[Any]) -> list[VerifyingKey | None]:
    """The key each checkpoint must be signed by, following rotations proven along the way."""
    out: list[VerifyingKey | None] = []
    key: VerifyingKey | None = root
    for index, row in enumerate(cps):
        out.append(key)
        if row[4] == "rotate" and key is not None:
            rotation = _prove_range(con, jid, out, cps, index, chain.KEY_ROTATED).get(row[1])
            try:
                key = VerifyingKey.from_pem(rotation.body["new_public_key_pem"],  # type: ignore[union-attr]
                                            hashfunc=hashlib.sha256)
            except Exception:  # no proven rotation: nothing after this checkpoint can be proven
                key = None
    return out


def _message(jid: str, key: VerifyingKey, row: Any) -> bytes:
    number, size, head, ts, reason, prev, _sig = row
    state = chain.STATE_CLEAN if reason == "shutdown" else chain.STATE_OPEN
    return chain.checkpoint_message(journal_id=jid, key=public_key_fingerprint(key), number=number,
                                    size=size, head=head, time=ts, reason=reason, state=state,
                                    prev=prev)


def _prove_range(con: sqlite3.Connection, jid: str, signers: list[VerifyingKey | None],
                 cps: list[Any], index: int, kind: str) -> dict[int, JournalEvent]:
    row = cps[index]
    number, size, head, _ts, _reason, prev, sig = row
    vk = signers[index]
    try:
        if vk is None or number != index + 1 or not vk.verify(sig, _message(jid, vk, row),
                                                              hashfunc=hashlib.sha256):
            return {}
        if index == 0:
            if prev != chain.NO_PREVIOUS:
                return {}
            start, running = 0, chain.genesis_hash(bytes.fromhex(jid))
        else:
            before, before_key = cps[index - 1], signers[index - 1]
            if before_key is None or chain.checkpoint_link(_message(jid, before_key, before),
                                                           before[6]) != prev:
                return {}
            start, running = before[1], bytes.fromhex(before[2])
    except Exception:  # a malformed row or signature proves nothing
        return {}
    found: dict[int, JournalEvent] = {}
    expected = start + 1
    for seq, ts, k, actor, critical, body in con.execute(
            "SELECT seq, ts, kind, actor, critical, body FROM events WHERE seq > ? AND seq <= ? "
            "ORDER BY seq", (start, size)):
        if seq != expected or type(ts) is not int or critical not in (0, 1) or type(body) is not bytes:
            return {}
        try:
            running = chain.event_hash(running, seq, ts, bool(critical), k.encode(), actor.encode(), body)
        except (AttributeError, UnicodeEncodeError, struct.error):
            return {}
        if k == kind:
            found[seq] = JournalEvent(seq, ts * 1e-6, k, actor, bool(critical), _decode_body(body, seq))
        expected += 1
    return found if expected == size + 1 and running.hex() == head else {}
