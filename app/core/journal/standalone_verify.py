#!/usr/bin/env python3
"""Verify a Vigil journal with nothing but the Python standard library and ``ecdsa``.

For auditors and anyone who does not want to trust Vigil's own code: this one file imports no
Vigil module and implements app/core/journal/FORMAT.md (formats ``vigil-journal/2`` and
``vigil-journal/1``) on its own, including its own RFC 8785 canonical JSON. Copy it anywhere::

    python3 standalone_verify.py JOURNAL_DIR_OR_SQLITE --pubkey identity.json [--anchors heads.jsonl] [--json]

Exit codes (as ``vigil journal verify``): 0 intact, 1 tampered, 2 usage error, 3 unreadable or
corrupt database or identity file, 4 inconsistent with an exported head. Vigil's test suite runs
it next to Vigil's verifier on every tamper case and on the checked-in test vectors; they must
agree on the status, the fault kind and the first bad sequence number.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sqlite3
import struct
import sys
from pathlib import Path
from typing import Any

from ecdsa import BadSignatureError, NIST256p, VerifyingKey

EXIT = {"intact": 0, "tampered": 1, "usage": 2, "corrupt": 3, "anchor_mismatch": 4}
INF = float("inf")
HEX64 = re.compile(r"[0-9a-f]{64}")
HEX32 = re.compile(r"[0-9a-f]{32}")
PRECISE = {"inserted", "moved", "duplicated"}


# ---- RFC 8785 canonical JSON -----------------------------------------------------------------

def _number(x: float) -> str:
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _number(-x)
    # shortest round-trip digits (Python's repr), placed as ECMAScript Number.toString does
    text = repr(x)
    mantissa, _, exp = text.partition("e")
    intpart, _, frac = mantissa.partition(".")
    raw = intpart + frac
    lead = len(raw) - len(raw.lstrip("0"))
    digits = raw.strip("0")
    n = len(intpart) - lead + (int(exp) if exp else 0)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    return (digits if k == 1 else digits[0] + "." + digits[1:]) + ("e+" if e > 0 else "e-") + str(abs(e))


def _string(s: str) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(o, f"\\u{o:04x}"))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value; ValueError for what has no canonical form."""
    def enc(v: Any) -> str:
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, str):
            return _string(v)
        if isinstance(v, int):
            if abs(v) > 2**53 - 1:
                raise ValueError("integer outside the IEEE double safe range")
            return str(v)
        if isinstance(v, float):
            if not math.isfinite(v):
                raise ValueError("NaN or Infinity")
            return _number(v)
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise ValueError("object key that is not a string")
            keys = sorted(v, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
            return "{" + ",".join(_string(k) + ":" + enc(v[k]) for k in keys) + "}"
        if isinstance(v, list | tuple):
            return "[" + ",".join(enc(x) for x in v) + "]"
        raise ValueError(f"{type(v).__name__} is not a JSON value")
    return enc(value).encode("utf-8")


# ---- the two formats ---------------------------------------------------------------------------

class Rules:
    def __init__(self, version: int):
        self.v2 = version == 2
        tag = b"v2\x00" if self.v2 else b"v1\x00"
        self.format = "vigil-journal/2" if self.v2 else "vigil-journal/1"
        self.event_tag = b"vigil/journal/event/" + tag
        self.genesis_tag = b"vigil/journal/genesis/" + tag
        self.link_tag = b"vigil/journal/checkpoint-link/" + tag
        self.header = struct.Struct(">QqBHH" if self.v2 else ">QdBHH")
        self.reasons = {"count", "interval", "critical", "shutdown"} | (
            {"recovered", "rotate"} if self.v2 else set())
        self.time_type = int if self.v2 else float

    def event_hash(self, prev: bytes, seq: int, ts: Any, critical: int, kind: bytes, actor: bytes,
                   body: bytes) -> bytes:
        # the stored critical value goes in as it is (a value other than 0/1 is itself a fault)
        return hashlib.sha256(self.event_tag + prev + self.header.pack(
            seq, ts, critical, len(kind), len(actor)) + kind + actor + body).digest()

    def message(self, jid: str, key_fp: str, number: int, size: int, head: str, ts: Any,
                reason: str, prev: str) -> bytes:
        if self.v2:
            return jcs({"format": "vigil-journal-checkpoint/2", "journal": "vigil-journal/2",
                        "journal_id": jid, "key": key_fp, "number": number, "size": size,
                        "head": head, "time": ts, "reason": reason,
                        "state": "clean" if reason == "shutdown" else "open", "prev": prev})
        # v1: Python's json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return json.dumps({"format": "vigil-journal-checkpoint/1", "journal_id": jid,
                           "number": number, "size": size, "head": head, "time": ts,
                           "reason": reason, "prev": prev}, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False).encode("utf-8")

    def link(self, msg: bytes, sig: bytes) -> str:
        return hashlib.sha256(self.link_tag + msg + sig).hexdigest()


def fingerprint(vk: VerifyingKey) -> str:
    return hashlib.sha256(vk.to_der()).hexdigest()


def sig_ok(vk: VerifyingKey, msg: bytes, sig: bytes) -> bool:
    try:
        return bool(vk.verify(sig, msg, hashfunc=hashlib.sha256))
    except (BadSignatureError, ValueError, TypeError, AssertionError):
        return False


def pem_key(pem: str) -> VerifyingKey | None:
    try:
        return VerifyingKey.from_pem(pem, hashfunc=hashlib.sha256)
    except Exception:  # ecdsa raises several unrelated types for bad PEM
        return None


class Fault(Exception):
    def __init__(self, seq: float, fault: str, message: str):
        super().__init__(message)
        self.seq, self.fault, self.message = seq, fault, message


def result(status: str, message: str, fault: Fault | None = None, **extra: Any) -> dict[str, Any]:
    seq = None if fault is None or fault.seq == INF else int(fault.seq)
    return {"status": status, "exit_code": EXIT[status], "message": message,
            "fault": fault.fault if fault else None, "first_bad_seq": seq, **extra}


# ---- identity --------------------------------------------------------------------------------

def load_identity(path: Path) -> tuple[str | None, VerifyingKey]:
    """(journal id or None, key); ValueError saying what is wrong with the file."""
    text = path.read_text("utf-8")
    jid = None
    pem = text
    if text.lstrip().startswith("{"):
        doc = json.loads(text)
        if not isinstance(doc, dict) or not isinstance(doc.get("public_key_pem"), str) \
                or not isinstance(doc.get("journal_id"), str):
            raise ValueError("not a Vigil identity file")
        pem, jid = doc["public_key_pem"], doc["journal_id"]
    vk = pem_key(pem)
    if vk is None or vk.curve != NIST256p:
        raise ValueError("no NIST P-256 public key in it")
    return jid, vk


# ---- the checks --------------------------------------------------------------------------------

def walk_checkpoints(cps: list[tuple[Any, ...]], jid: str, rules: Rules, pinned: VerifyingKey,
                     stored: str, rotations: dict[int, VerifyingKey | None], strict: bool = True
                     ) -> tuple[dict[int, tuple[int, str, int]], int, VerifyingKey,
                                dict[str, VerifyingKey], Fault | None]:
    heads: dict[int, tuple[int, str, int]] = {}
    link, last_size, last_time, expected = "0" * 64, 0, None, 1
    key = pinned
    keys = {fingerprint(key): key}

    def substitute(k: VerifyingKey) -> VerifyingKey | None:
        if stored.strip() == k.to_pem().decode().strip():
            return None
        return pem_key(stored) or k

    db_key = substitute(key)
    for number, size, head, ts, reason, prev, sig in cps:
        first = last_size + 1

        def out(kind: str, message: str, at: int = first, sealed: int = last_size,
                current: VerifyingKey = key) -> tuple[
                dict[int, tuple[int, str, int]], int, VerifyingKey, dict[str, VerifyingKey], Fault]:
            return heads, sealed, current, keys, Fault(at, kind, message)

        if number != expected:
            return out("checkpoint_missing", f"checkpoint #{expected} is missing")
        if (type(size) is not int or type(head) is not str or not HEX64.fullmatch(head)
                or type(ts) is not rules.time_type or type(reason) is not str
                or type(prev) is not str or type(sig) is not bytes or (rules.v2 and len(sig) != 64)):
            return out("checkpoint_edited", f"checkpoint #{number} is malformed")
        try:
            msg = rules.message(jid, fingerprint(key), number, size, head, ts, reason, prev)
        except ValueError:
            return out("checkpoint_edited", f"checkpoint #{number} is malformed")
        # not strict: only the last signature of each key is checked; the links (SHA-256 over
        # every earlier message and signature) make it vouch for the ones before
        last_of_key = number == len(cps) or (reason == "rotate" and size in rotations)
        if (strict or last_of_key) and not sig_ok(key, msg, sig):
            if db_key is not None and sig_ok(db_key, rules.message(
                    jid, fingerprint(db_key), number, size, head, ts, reason, prev), sig):
                return out("public_key_substituted", f"checkpoint #{number} signed with the key "
                           "stored in the database, not the pinned key")
            return out("checkpoint_signature", f"checkpoint #{number} has a bad signature")
        if prev != link:
            return out("checkpoint_missing", f"checkpoint #{number} does not follow #{number - 1}")
        if size <= last_size:
            return out("checkpoint_edited", f"checkpoint #{number} size does not increase")
        if reason not in rules.reasons:
            return out("bad_reason", f"checkpoint #{number} has reason {reason!r}")
        if last_time is not None and (ts <= last_time if rules.v2 else ts < last_time):
            return out("time_backwards", f"checkpoint #{number} is dated before #{number - 1}")
        heads[size] = (number, head, last_size)
        link, last_size, last_time, expected = rules.link(msg, sig), size, ts, number + 1
        if reason == "rotate":
            new = rotations.get(size)
            if new is None:
                return out("rotation_invalid", f"checkpoint #{number} seals no readable key "
                           "rotation", at=size, sealed=size)
            key = new
            keys[fingerprint(key)] = key
            db_key = substitute(key)
    bad = [s for s in rotations if s <= last_size and (s not in heads or cps[heads[s][0] - 1][4] != "rotate")]
    if bad:
        return heads, last_size, key, keys, Fault(bad[0], "rotation_invalid",
                                                  "a key rotation is not sealed by a 'rotate' checkpoint")
    return heads, last_size, key, keys, None


def diagnose(rules: Rules, seq: int, ts: Any, kind: bytes, actor: bytes, critical: int, body: bytes,
             prev_hash: bytes, stored: bytes, prev: bytes, last_stored: bytes) -> Fault:
    def own(at: int) -> bytes:
        return rules.event_hash(prev_hash, at, ts, critical, kind, actor, body)
    if stored == last_stored:
        return Fault(seq, "duplicated", "the row is a copy of the event before it")
    if own(seq - 1) == stored:
        return Fault(seq - 1, "inserted", f"event {seq - 1} was inserted")
    if own(seq + 1) == stored:
        return Fault(seq, "moved", f"the row holds the event originally at seq {seq + 1}")
    if prev_hash != prev and own(seq) == stored:
        return Fault(seq, "chain_break", "the row does not link to the event before it")
    return Fault(seq, "content_edited", "the stored hash does not match the event")


def scan(con: sqlite3.Connection, rules: Rules, genesis: bytes, heads: dict[int, tuple[int, str, int]],
         sealed: int, anchor_sizes: set[int]) -> tuple[int, str | None, Fault | None, dict[int, str]]:
    prev, last_stored, expected, last_ts = genesis, genesis, 1, None
    pending: Fault | None = None
    anchor_heads: dict[int, str] = {}
    seq = 0
    rows = con.execute(
        "SELECT seq, ts, CAST(kind AS BLOB), CAST(actor AS BLOB), critical, body, prev_hash, hash, "
        "(typeof(ts) = ? AND typeof(kind) = 'text' AND typeof(actor) = 'text' "
        "AND typeof(critical) = 'integer' AND critical IN (0, 1) AND typeof(body) = 'blob' "
        "AND typeof(prev_hash) = 'blob' AND length(prev_hash) = 32 AND typeof(hash) = 'blob' "
        "AND length(hash) = 32 AND length(CAST(kind AS BLOB)) <= 65535 "
        "AND length(CAST(actor AS BLOB)) <= 65535) FROM events ORDER BY seq",
        ("integer" if rules.v2 else "real",))

    def done(count: int, fault: Fault | None) -> tuple[int, str | None, Fault | None, dict[int, str]]:
        return count, prev.hex() if count else None, fault, anchor_heads

    try:
        for seq, ts, kind, actor, critical, body, prev_hash, stored, types_ok in rows:
            if not types_ok:  # storage types first: a pending or missing fault lies before it
                if pending is not None or seq > expected:
                    return done(expected - 1, pending or Fault(expected, "missing", "events are missing"))
                return done(seq - 1, Fault(seq, "malformed", "wrong storage type or range"))
            if seq != expected:
                if pending is not None:
                    return done(expected - 1, pending)
                if seq > expected:
                    return done(expected - 1, Fault(expected, "missing", "events are missing"))
                return done(expected - 1, Fault(expected, "bad_seq", f"unexpected row seq {seq}"))
            h = rules.event_hash(prev, seq, ts, critical, kind, actor, body)
            if pending is not None:
                if h != stored:
                    diag = diagnose(rules, seq, ts, kind, actor, critical, body, prev_hash, stored,
                                    prev, last_stored)
                    if diag.fault in PRECISE and diag.seq >= pending.seq:
                        return done(seq - 1, diag)
                return done(seq - 1, pending)
            if h != stored:
                return done(seq - 1, diagnose(rules, seq, ts, kind, actor, critical, body, prev_hash,
                                              stored, prev, last_stored))
            last_stored = stored
            if rules.v2:
                if last_ts is not None and ts < last_ts:
                    return done(seq - 1, Fault(seq, "time_backwards", "the event is dated before "
                                               "the event before it"))
                last_ts = ts
            if prev_hash != prev:
                return done(seq - 1, Fault(seq, "chain_break", "prev_hash does not link"))
            prev = h
            if seq in heads:
                number, head, before = heads[seq]
                if head != h.hex():
                    pending = Fault(before + 1, "rechained", f"events {before + 1}..{seq} do not "
                                    f"match signed checkpoint #{number}")
                    expected += 1
                    continue
            if critical and seq > sealed:
                return done(seq, Fault(seq, "checkpoint_missing", "a critical event is not sealed"))
            if seq in anchor_sizes:
                anchor_heads[seq] = h.hex()
            expected += 1
    except (TypeError, struct.error, AttributeError, OverflowError) as e:
        return done(max(seq - 1, 0), Fault(seq or expected, "malformed", f"wrong type ({e})"))
    return done(expected - 1, pending)


def check_anchors(keys: dict[str, VerifyingKey], rules: Rules, jid: str, total: int,
                  anchors: list[dict[str, Any]], anchor_heads: dict[int, str]) -> tuple[str, Fault] | None:
    problems = []
    pinned = next(iter(keys.values()))
    for a in anchors:
        try:
            if a.get("format") == "vigil-journal-checkpoint/2":
                if a.get("journal") != "vigil-journal/2" or a.get("state") not in ("open", "clean"):
                    raise ValueError("not a v2 head")
                msg = Rules(2).message(a["journal_id"], a["key"], a["number"], a["size"], a["head"],
                                       a["time"], a["reason"], a["prev"])
                vk = keys.get(a["key"])
                if a["state"] != ("clean" if a["reason"] == "shutdown" else "open"):
                    vk = None
            else:
                msg = Rules(1).message(a["journal_id"], "", a["number"], a["size"], a["head"],
                                       a["time"], a["reason"], a["prev"])
                vk = pinned
            sig = bytes.fromhex(a["signature"])
        except (ValueError, TypeError, KeyError):
            problems.append((0, 0, "usage", Fault(INF, "anchor_invalid", "malformed exported head")))
            continue
        if vk is None or not sig_ok(vk, msg, sig):
            problems.append((0, 0, "usage", Fault(INF, "anchor_invalid", "exported head not signed "
                                                  "by the pinned key")))
            continue
        size = a["size"]
        if a["journal_id"] != jid:
            problems.append((1, 1, "anchor_mismatch", Fault(1, "anchor_other_journal",
                                                            "head of another journal")))
        elif size > total:
            problems.append((1, total + 1, "anchor_mismatch", Fault(total + 1, "anchor_truncated",
                                                                    "journal truncated")))
        elif anchor_heads.get(size) != a["head"]:
            problems.append((1, size, "anchor_mismatch", Fault(size, "anchor_rewritten",
                                                               "journal rewritten")))
    if not problems:
        return None
    problems.sort(key=lambda p: (p[0], p[1]))
    return problems[0][2], problems[0][3]


def verify(journal: str, pubkey: str | None = None, anchors: str | None = None) -> dict[str, Any]:
    path = Path(journal)
    if path.is_dir() or path.suffix != ".sqlite":
        path = path / "journal.sqlite"
    if not path.exists():
        return result("corrupt", f"{path}: no journal database")
    if path.stat().st_size == 0:
        return result("corrupt", f"{path}: empty (0 bytes)")
    local = path.parent / "identity.json"
    source = Path(pubkey) if pubkey else local
    if not source.exists():
        return result("usage", f"{source}: no pinned identity")
    try:
        pinned_jid, pinned = load_identity(source)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return result("corrupt", f"{source}: the identity file is corrupt ({e})")
    anchor_list: list[dict[str, Any]] = []
    if anchors:
        try:
            for line in Path(anchors).read_text("utf-8").splitlines():
                if line.strip() and not line.strip().startswith("#"):
                    doc = json.loads(line)
                    if not isinstance(doc, dict):
                        raise ValueError("not an object")
                    anchor_list.append(doc)
        except (OSError, UnicodeDecodeError, ValueError) as e:
            return result("usage", f"{anchors}: not an anchors file ({e})")
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as e:
        return result("corrupt", f"{path}: cannot open ({e})")
    try:
        con.execute("BEGIN")
        quick = con.execute("PRAGMA quick_check").fetchone()[0]
        if quick != "ok":
            return result("corrupt", f"{path}: SQLite reports the file damaged ({quick})")
        return _verify(con, path, pinned_jid, pinned, pubkey is not None, local, source, anchor_list)
    except sqlite3.DatabaseError as e:
        return result("corrupt", f"{path}: unreadable ({e})")
    finally:
        con.close()


def _verify(con: sqlite3.Connection, path: Path, pinned_jid: str | None, pinned: VerifyingKey,
            elsewhere: bool, local: Path, source: Path, anchors: list[dict[str, Any]]) -> dict[str, Any]:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {"meta", "events", "checkpoints"} <= tables:
        return result("corrupt", f"{path}: not a Vigil journal")
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    jid = meta.get("journal_id")
    if not jid:
        return result("corrupt", f"{path}: no journal id")
    version = {"vigil-journal/2": 2, "vigil-journal/1": 1}.get(meta.get("format", ""))
    if version is None or not HEX32.fullmatch(jid):
        return result("tampered", f"{path}: meta edited", Fault(INF, "meta_edited", "meta"))
    rules = Rules(version)
    faults: list[Fault] = []
    if pinned_jid is not None and pinned_jid != jid:
        faults.append(Fault(1, "wrong_journal", "another journal"))
    cps = con.execute("SELECT number, size, head, ts, reason, prev, signature FROM checkpoints "
                      "ORDER BY number").fetchall()
    rotations: dict[int, VerifyingKey | None] = {}
    if rules.v2:
        for seq, body in con.execute("SELECT seq, body FROM events WHERE kind = "
                                     "'journal.key_rotated' ORDER BY seq"):
            try:
                rotations[seq] = pem_key(json.loads(bytes(body))["new_public_key_pem"])
            except (ValueError, KeyError, TypeError):
                rotations[seq] = None
    stored = meta.get("public_key_pem", "")
    walk = walk_checkpoints(cps, jid, rules, pinned, stored, rotations, strict=False)
    if walk[4] is not None:  # any doubt: check every signature to name the first bad one
        walk = walk_checkpoints(cps, jid, rules, pinned, stored, rotations, strict=True)
    heads, sealed, key, keys, cp_fault = walk
    if cp_fault is not None:
        faults.append(cp_fault)
    if stored.strip() != key.to_pem().decode().strip():
        faults.append(Fault(INF, "public_key_substituted", "the stored public key is not the pinned key"))
    if elsewhere and local.exists() and source.resolve() != local.resolve():
        try:
            ljid, lkey = load_identity(local)
            swapped = ljid != jid or fingerprint(lkey) != fingerprint(pinned)
        except (OSError, UnicodeDecodeError, ValueError):
            swapped = True
        if swapped:
            faults.append(Fault(INF, "identity_swapped", f"{local} was replaced"))
    genesis = hashlib.sha256(rules.genesis_tag + bytes.fromhex(jid)).digest()
    sizes = {a["size"] for a in anchors if isinstance(a.get("size"), int)}
    total, head, ev_fault, anchor_heads = scan(con, rules, genesis, heads, sealed, sizes)
    if ev_fault is not None:
        faults.append(ev_fault)
    if sealed > total and ev_fault is None:
        faults.append(Fault(total + 1, "truncated", "sealed events were deleted"))
    if rules.v2:
        state = meta.get("state")
        if state not in ("open", "clean"):
            faults.append(Fault(INF, "meta_edited", "bad meta state"))
        elif state == "clean":
            if not heads or cps[len(heads) - 1][4] != "shutdown":
                faults.append(Fault(sealed + 1, "meta_edited", "clean without a shutdown checkpoint"))
            elif total > sealed:
                faults.append(Fault(sealed + 1, "unsealed_after_clean", "events after a clean shutdown"))
    extra = {"events": total, "checkpoints": len(heads), "sealed": min(sealed, total),
             "unsealed": max(0, total - sealed), "journal_id": jid, "head": head}
    if faults:
        worst = min(faults, key=lambda f: f.seq)
        return result("tampered", f"{path}: {worst.message}", worst, **extra)
    if anchors:
        mismatch = check_anchors(keys, rules, jid, total, anchors, anchor_heads)
        if mismatch is not None:
            status, fault = mismatch
            return result(status, f"{path}: {fault.message}", fault, **extra)
    return result("intact", f"{path}: {total} events intact, {len(heads)} checkpoint(s)", **extra)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Verify a Vigil journal (stdlib + ecdsa only).")
    ap.add_argument("journal", help="journal folder or journal.sqlite")
    ap.add_argument("--pubkey", help="pinned identity.json or public-key PEM kept elsewhere")
    ap.add_argument("--anchors", help="exported heads, one JSON object a line")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)
    res = verify(args.journal, args.pubkey, args.anchors)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        print(f"{res['status'].upper()}: {res['message']}")
        if res["fault"]:
            print(f"  fault: {res['fault']}; first bad seq: {res['first_bad_seq']}")
    return int(res["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
