"""Test vectors for FORMAT.md: a small journal per format version, its hashes and signatures, and
one negative vector per fault kind (SQL that damages the journal, and what a verifier must say).

Everything is deterministic (a fixed test key, journal id and clock; RFC 6979 signatures), so
``python tests/journal/vectors/make_vectors.py`` rewrites ``vectors.json`` byte for byte and the
suite checks the checked-in file against a fresh run. The key is a published test key: never
use it for anything else.

The vectors are built from the formulas in ``app.core.journal.chain`` (not through the writer),
so they also pin those formulas: a change to them shows up as a diff here.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ecdsa import NIST256p, SigningKey

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.journal import chain  # noqa: E402
from app.core.journal.canonical import canonical_json  # noqa: E402
from app.core.journal.keys import public_key_fingerprint  # noqa: E402
from app.core.journal.store import SCHEMA, SCHEMA_V1  # noqa: E402

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "vectors.json"
SECRET = hashlib.sha256(b"vigil journal test vector key - public, never use it").digest()
JOURNAL_ID = "00112233445566778899aabbccddeeff"
T0 = 1_800_000_000_000_000  # 2027-01-15T08:00:00Z in microseconds

EVENTS: list[tuple[str, str, bool, Any]] = [
    ("journal.created", "system", True, {"journal_id": JOURNAL_ID, "note": "test vector"}),
    ("app.start", "system", False, {"pid": 4242, "version": "0.0.0"}),
    ("setpoint.write", "alice", False, {"tag": "pump1.speed", "old": 1450.0, "new": 1500.5}),
    ("alarm.transition", "system", False, {"alarm": "tank1.level.hi", "value": 1e-7, "limit": 1e21}),
    ("note", "Zoë", True, {"text": "débit élevé \u2028 \"quoted\" \\ tab\t", "\U0001f600": 1, "\ufb33": 2}),
    ("alarm.ack", "bob", False, {"alarm": "tank1.level.hi", "comment": ""}),
    ("alarm.transition", "system", False, {"alarm": "tank1.level.hi", "value": -0.0, "n": 9007199254740991}),
    ("app.stop", "system", True, {"version": "0.0.0"}),
]
#: (size, reason) of each checkpoint
CHECKPOINTS_V2 = [(1, "critical"), (3, "count"), (5, "critical"), (6, "interval"), (8, "shutdown")]
CHECKPOINTS_V1 = [(1, "critical"), (3, "count"), (5, "critical"), (8, "shutdown")]

CANONICAL_CASES: list[Any] = [
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": 1.0}},
    [0.1, 1e-7, 1e21, 1e20, 123456789012345680000.0, 5e-324, 1.7976931348623157e308, -0.0, 2.5e-6],
    {"\U0001f600": "astral", "\ufb33": "bmp above surrogates", "a": "\u0000\u001f\u007f\u2028"},
    "\"\\/\b\f\n\r\t é 中",
]


def signing_key() -> SigningKey:
    return SigningKey.from_string(SECRET, curve=NIST256p, hashfunc=hashlib.sha256)


def build(version: int) -> dict[str, Any]:
    """One journal's rows, computed from the formulas."""
    sk = signing_key()
    vk = sk.get_verifying_key()
    fp = public_key_fingerprint(vk)
    jid = bytes.fromhex(JOURNAL_ID)
    prev = chain.genesis_hash(jid) if version == 2 else chain.genesis_hash_v1(jid)
    events = []
    for i, (kind, actor, critical, body) in enumerate(EVENTS):
        seq = i + 1
        raw = canonical_json(body) if version == 2 else json.dumps(
            body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        if version == 2:
            ts: Any = T0 + i * 250_000
            h = chain.event_hash(prev, seq, ts, critical, kind.encode(), actor.encode(), raw)
        else:
            ts = T0 / 1e6 + i * 0.25
            h = chain.event_hash_v1(prev, seq, ts, critical, kind.encode(), actor.encode(), raw)
        events.append({"seq": seq, "ts": ts, "kind": kind, "actor": actor, "critical": int(critical),
                       "body": raw.decode("utf-8"), "prev_hash": prev.hex(), "hash": h.hex()})
        prev = h
    checkpoints = []
    link = chain.NO_PREVIOUS
    for n, (size, reason) in enumerate(CHECKPOINTS_V2 if version == 2 else CHECKPOINTS_V1, 1):
        head = events[size - 1]["hash"]
        if version == 2:
            ts = T0 + size * 250_000 + 1000
            state = "clean" if reason == "shutdown" else "open"
            msg = chain.checkpoint_message(journal_id=JOURNAL_ID, key=fp, number=n, size=size,
                                           head=head, time=ts, reason=reason, state=state, prev=link)
        else:
            ts = T0 / 1e6 + size * 0.25 + 0.001
            msg = chain.checkpoint_message_v1(journal_id=JOURNAL_ID, number=n, size=size, head=head,
                                              time=ts, reason=reason, prev=link)
        sig = sk.sign_deterministic(msg, hashfunc=hashlib.sha256)
        checkpoints.append({"number": n, "size": size, "head": head, "ts": ts, "reason": reason,
                            "prev": link, "signature": sig.hex(), "message": msg.decode("utf-8")})
        link = (chain.checkpoint_link if version == 2 else chain.checkpoint_link_v1)(msg, sig)
    fmt = chain.FORMAT_V2 if version == 2 else chain.FORMAT_V1
    meta = {"format": fmt, "journal_id": JOURNAL_ID, "public_key_pem": vk.to_pem().decode(),
            "created": str(T0) if version == 2 else repr(T0 / 1e6), "state": "clean"}
    return {"format": fmt, "meta": meta, "events": events, "checkpoints": checkpoints,
            "identity": {"journal_id": JOURNAL_ID, "public_key_pem": vk.to_pem().decode(),
                         "fingerprint": fp}}


def write_sqlite(vector: dict[str, Any], folder: Path) -> Path:
    """The vector as a journal folder: ``journal.sqlite`` (exact storage types) and identity.json."""
    folder.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(folder / "journal.sqlite", isolation_level=None)
    con.executescript(SCHEMA if vector["format"] == chain.FORMAT_V2 else SCHEMA_V1)
    con.execute("BEGIN")
    con.executemany("INSERT INTO meta VALUES (?, ?)", list(vector["meta"].items()))
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
        (e["seq"], e["ts"], e["kind"], e["actor"], e["critical"], e["body"].encode("utf-8"),
         bytes.fromhex(e["prev_hash"]), bytes.fromhex(e["hash"])) for e in vector["events"]])
    con.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)", [
        (c["number"], c["size"], c["head"], c["ts"], c["reason"], c["prev"],
         bytes.fromhex(c["signature"])) for c in vector["checkpoints"]])
    con.execute("COMMIT")
    con.close()
    (folder / "identity.json").write_text(json.dumps(vector["identity"], indent=2) + "\n")
    return folder


# ---- negative vectors: each a damage done with SQL, and the expected verdict -----------------

def _rechain(con: sqlite3.Connection, from_seq: int) -> None:
    rows = con.execute("SELECT seq, ts, kind, actor, critical, body FROM events WHERE seq >= ? "
                       "ORDER BY seq", (from_seq,)).fetchall()
    prev = con.execute("SELECT hash FROM events WHERE seq = ?", (from_seq - 1,)).fetchone()[0]
    for seq, ts, kind, actor, critical, body in rows:
        h = chain.event_hash(prev, seq, ts, bool(critical), kind.encode(), actor.encode(), body)
        con.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
        prev = h


def _resign(con: sqlite3.Connection) -> None:
    sk = signing_key()
    fp = public_key_fingerprint(sk.get_verifying_key())
    link = chain.NO_PREVIOUS
    for number, size, ts, reason in con.execute(
            "SELECT number, size, ts, reason FROM checkpoints ORDER BY number").fetchall():
        head = con.execute("SELECT hash FROM events WHERE seq = ?", (size,)).fetchone()[0].hex()
        state = "clean" if reason == "shutdown" else "open"
        msg = chain.checkpoint_message(journal_id=JOURNAL_ID, key=fp, number=number, size=size,
                                       head=head, time=ts, reason=reason, state=state, prev=link)
        sig = sk.sign_deterministic(msg, hashfunc=hashlib.sha256)
        con.execute("UPDATE checkpoints SET head = ?, prev = ?, signature = ? WHERE number = ?",
                    (head, link, sig, number))
        link = chain.checkpoint_link(msg, sig)


def _sql(*statements: str) -> Callable[[sqlite3.Connection], None]:
    def run(con: sqlite3.Connection) -> None:
        for s in statements:
            con.execute(s)
    return run


def _then(*steps: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
    def run(con: sqlite3.Connection) -> None:
        for step in steps:
            step(con)
    return run


NEGATIVE: list[tuple[str, str, Callable[[sqlite3.Connection], None], str, str, int | None]] = [
    # name, what, damage, status, fault, first bad seq
    ("content_edited", "an event's actor edited", _sql("UPDATE events SET actor = 'mallory' WHERE seq = 3"),
     "tampered", "content_edited", 3),
    ("chain_break", "a prev_hash zeroed", _sql("UPDATE events SET prev_hash = zeroblob(32) WHERE seq = 4"),
     "tampered", "chain_break", 4),
    ("missing", "an event deleted", _sql("DELETE FROM events WHERE seq = 4"), "tampered", "missing", 4),
    ("duplicated", "an event's row copied over the next",
     _sql("UPDATE events SET (ts, kind, actor, critical, body, prev_hash, hash) = (SELECT ts, kind, "
          "actor, critical, body, prev_hash, hash FROM events WHERE seq = 3) WHERE seq = 4"),
     "tampered", "duplicated", 4),
    ("rechained", "an event edited and the chain recomputed without the key",
     _then(_sql("UPDATE events SET body = CAST('{\"tag\":\"pump1.speed\",\"new\":9999}' AS BLOB) "
                "WHERE seq = 3"), lambda con: _rechain(con, 3)),
     "tampered", "rechained", 2),
    ("checkpoint_signature", "a checkpoint's head replaced",
     _sql("UPDATE checkpoints SET head = '" + "ab" * 32 + "' WHERE number = 2"),
     "tampered", "checkpoint_signature", 2),
    ("checkpoint_missing", "a checkpoint deleted (journal passed off as crashed)",
     _sql("DELETE FROM checkpoints WHERE number = 3", "UPDATE meta SET value = 'open' WHERE key = 'state'"),
     "tampered", "checkpoint_missing", 4),
    ("truncated", "sealed events deleted, their checkpoint left",
     _sql("DELETE FROM events WHERE seq > 6"), "tampered", "truncated", 7),
    ("malformed", "critical set to 2", _sql("UPDATE events SET critical = 2 WHERE seq = 2"),
     "tampered", "malformed", 2),
    ("malformed_time", "an event time stored as a real",
     _sql("UPDATE events SET ts = ts + 0.5 WHERE seq = 2"), "tampered", "malformed", 2),
    ("bad_reason", "a reason outside the list, re-signed by the key holder",
     _then(_sql("UPDATE checkpoints SET reason = 'maintenance' WHERE number = 2"), _resign),
     "tampered", "bad_reason", 2),
    ("time_backwards", "an event dated 2001, re-chained and re-signed by the key holder",
     _then(_sql("UPDATE events SET ts = 978307200000000 WHERE seq = 5"), lambda con: _rechain(con, 5),
           _resign), "tampered", "time_backwards", 5),
    ("checkpoint_time_backwards", "a checkpoint dated before the previous one, re-signed",
     _then(_sql(f"UPDATE checkpoints SET ts = {T0} WHERE number = 3"), _resign),
     "tampered", "time_backwards", 4),
    ("meta_state", "meta state set to something else",
     _sql("UPDATE meta SET value = 'x' WHERE key = 'state'"), "tampered", "meta_edited", None),
    ("meta_format", "meta format edited",
     _sql("UPDATE meta SET value = 'vigil-journal/9' WHERE key = 'format'"),
     "tampered", "meta_edited", None),
    ("unsealed_after_clean", "a chained event appended after the clean shutdown",
     lambda con: _append(con), "tampered", "unsealed_after_clean", 9),
    ("clean_without_shutdown", "the shutdown checkpoint and its events deleted",
     _sql("DELETE FROM events WHERE seq > 6", "DELETE FROM checkpoints WHERE number = 5"),
     "tampered", "meta_edited", 7),
    ("wrong_journal", "meta journal id changed", _sql(
        "UPDATE meta SET value = 'ffeeddccbbaa99887766554433221100' WHERE key = 'journal_id'"),
     "tampered", "wrong_journal", 1),
    ("public_key_substituted", "the stored public key replaced",
     _sql("UPDATE meta SET value = 'not a key' WHERE key = 'public_key_pem'"),
     "tampered", "public_key_substituted", None),
]


def _append(con: sqlite3.Connection) -> None:
    seq, prev, ts = con.execute("SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    body = b'{"tag":"pump1.speed","value":100}'
    h = chain.event_hash(prev, seq + 1, ts + 1000, False, b"setpoint.write", b"alice", body)
    con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq + 1, ts + 1000, "setpoint.write", "alice", 0, body, prev, h))


def negative_sql(positive: dict[str, Any], damage: Callable[[sqlite3.Connection], None],
                 scratch: Path) -> list[str]:
    """The SQL statements (literal values) that ``damage`` runs on the positive journal."""
    folder = write_sqlite(positive, scratch)
    con = sqlite3.connect(folder / "journal.sqlite", isolation_level=None)
    out: list[str] = []
    con.set_trace_callback(lambda s: out.append(s) if s.split()[0].upper() in
                           ("UPDATE", "DELETE", "INSERT") else None)
    damage(con)
    con.close()
    return out


def generate(scratch: Path) -> dict[str, Any]:
    v2, v1 = build(2), build(1)
    negatives = []
    for i, (name, what, damage, status, fault, seq) in enumerate(NEGATIVE):
        negatives.append({"name": name, "what": what, "sql": negative_sql(v2, damage, scratch / str(i)),
                          "expect": {"status": status, "fault": fault, "first_bad_seq": seq}})
    canonical = [{"value": c, "jcs": canonical_json(c).decode("utf-8")} for c in CANONICAL_CASES]
    return {"about": "Vigil journal test vectors; see app/core/journal/FORMAT.md. The signing key "
            "is a published test key (private_key_hex): never use it for anything else.",
            "private_key_hex": SECRET.hex(), "v2": v2, "v1": v1, "negative_v2": negatives,
            "canonical_json": canonical}


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        VECTORS.write_text(dumps(generate(Path(tmp))))
    print(f"wrote {VECTORS}")
