"""Helpers: journals built through the real writer, and the tools an attacker would use on the file."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from ecdsa import SigningKey

from app.core.journal import Journal, chain
from app.core.journal.keys import public_key_fingerprint
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


def journal_id(con: sqlite3.Connection) -> bytes:
    return bytes.fromhex(con.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()[0])


def rechain(con: sqlite3.Connection, from_seq: int) -> None:
    """Recompute prev_hash/hash from ``from_seq`` on, as anyone who knows the formula could."""
    if from_seq > 1:
        prev = con.execute("SELECT hash FROM events WHERE seq = ?", (from_seq - 1,)).fetchone()[0]
    else:
        prev = chain.genesis_hash(journal_id(con))
    rows = con.execute(
        "SELECT seq, ts, kind, actor, critical, body FROM events WHERE seq >= ? ORDER BY seq",
        (from_seq,),
    ).fetchall()
    con.execute("BEGIN")
    for seq, ts, kind, actor, critical, body in rows:
        h = chain.event_hash(prev, seq, ts, bool(critical), kind.encode(), actor.encode(), body)
        con.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h
    con.execute("COMMIT")


def resign(con: sqlite3.Connection, sk: SigningKey) -> None:
    """Re-sign every checkpoint over the current chain with ``sk`` (the key holder's rewrite)."""
    jid = journal_id(con).hex()
    cps = con.execute("SELECT number, size, ts, reason FROM checkpoints ORDER BY number").fetchall()
    link = chain.NO_PREVIOUS
    fp = public_key_fingerprint(sk.get_verifying_key())
    con.execute("BEGIN")
    for number, size, ts, reason in cps:
        head = con.execute("SELECT hash FROM events WHERE seq = ?", (size,)).fetchone()[0].hex()
        msg = checkpoint_message(con, jid, fp, number, size, head, ts, reason, link)
        sig = sk.sign_deterministic(msg, hashfunc=hashlib.sha256)
        con.execute("UPDATE checkpoints SET head = ?, prev = ?, signature = ? WHERE number = ?",
                    (head, link, sig, number))
        link = chain.checkpoint_link(msg, sig)
    con.execute("COMMIT")


def checkpoint_message(con: sqlite3.Connection, jid: str, key_fp: str, number: int, size: int,
                       head: str, ts: int, reason: str, prev: str) -> bytes:
    """The v2 signed message, as a forger who knows FORMAT.md builds it."""
    state = "clean" if reason == "shutdown" else "open"
    return chain.checkpoint_message(journal_id=jid, key=key_fp, number=number, size=size, head=head,
                                    time=ts, reason=reason, state=state, prev=prev)


def append_forged(con: sqlite3.Connection, kind: str = "setpoint.write", actor: str = "alice",
                  body: bytes = b'{"tag":"pump1.speed","value":100}', critical: int = 0,
                  ts: int | None = None) -> int:
    """Append one correctly chained, canonical event without the key (the laundering attack)."""
    seq, prev, last_ts = con.execute(
        "SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    seq += 1
    ts = last_ts + 1000 if ts is None else ts
    h = chain.event_hash(prev, seq, ts, bool(critical), kind.encode(), actor.encode(), body)
    con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, ts, kind, actor, critical, body, prev, h))
    return seq


def shift_up(con: sqlite3.Connection, from_seq: int) -> None:
    """Renumber rows seq >= from_seq to seq + 1, making room for an inserted row."""
    con.execute("UPDATE events SET seq = -seq - 1 WHERE seq >= ?", (from_seq,))
    con.execute("UPDATE events SET seq = -seq WHERE seq < 0")
