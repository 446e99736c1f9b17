"""Offline verification of a journal against a pinned identity and, optionally, exported heads.

Read-only (``mode=ro``) and streaming: one pass over ``events`` in seq order recomputing the chain,
plus one pass over ``checkpoints`` checking signatures with the *pinned* public key. It reports
the first bad sequence number and the kind of fault, and how many events sit after the last
checkpoint (the unsealed tail, which nobody has signed yet).

What a signature can and cannot prove: someone without the key cannot alter, insert, delete or
reorder sealed events unnoticed. Someone *with* the key (or anyone, for the unsealed tail) can
cut the end off or rewrite everything and re-sign it; only a head exported earlier and kept
elsewhere (``anchors``) exposes that, hence the separate exit code 4.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecdsa import BadSignatureError, VerifyingKey

from app.core.journal import chain
from app.core.journal.keys import (
    IDENTITY_FILE,
    Identity,
    KeyFileError,
    fast_verifying_key,
    load_identity,
    public_key_fingerprint,
)
from app.core.journal.scan import Fault, Heads, scan_events
from app.core.journal.store import JournalError, db_path, open_readonly, read_meta

EXIT_INTACT = 0
EXIT_TAMPERED = 1
EXIT_USAGE = 2
EXIT_CORRUPT = 3
EXIT_ANCHOR = 4

_EXIT = {"intact": EXIT_INTACT, "tampered": EXIT_TAMPERED, "usage": EXIT_USAGE,
         "corrupt": EXIT_CORRUPT, "anchor_mismatch": EXIT_ANCHOR}
_ANCHOR_FIELDS = ("journal_id", "number", "size", "head", "time", "reason", "prev", "signature")


@dataclass
class VerifyResult:
    """The outcome of :func:`verify`; ``exit_code`` is what ``vigil journal verify`` returns."""

    status: str  # intact | tampered | corrupt | anchor_mismatch | usage
    message: str
    first_bad_seq: int | None = None
    fault: str | None = None  # short machine-readable fault kind, e.g. "content_edited"
    events: int = 0
    checkpoints: int = 0
    sealed: int = 0  # events covered by the last valid checkpoint
    unsealed: int = 0  # events after the last checkpoint: chained but not yet signed
    journal_id: str | None = None
    head: str | None = None
    anchors_checked: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return _EXIT[self.status]

    @property
    def ok(self) -> bool:
        return self.status == "intact"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}


class AnchorFileError(Exception):
    pass


def load_anchors(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read exported heads (one JSON object a line; blank lines and ``#`` comments ignored)."""
    p = Path(path)
    try:
        lines = p.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise AnchorFileError(f"{p}: cannot read the anchors file ({e})") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            raise AnchorFileError(f"{p} line {n}: not JSON ({e})") from None
        if not isinstance(doc, dict):
            raise AnchorFileError(f"{p} line {n}: not an exported head (expected a JSON object)")
        missing = [f for f in _ANCHOR_FIELDS if f not in doc]
        if missing:
            raise AnchorFileError(f"{p} line {n}: not an exported head (missing {', '.join(missing)})")
        doc["_where"] = f"{p} line {n}"
        out.append(doc)
    if not out:
        raise AnchorFileError(f"{p}: no exported heads in the file")
    return out


def _load_pinned(
    path: Path, pubkey: str | os.PathLike[str] | Identity | None, notes: list[str]
) -> tuple[Identity | None, VerifyResult | None]:
    """The identity to trust, or the result that explains why there is none."""
    if isinstance(pubkey, Identity):
        return pubkey, None
    source = Path(pubkey) if pubkey is not None else path.parent / IDENTITY_FILE
    if not source.exists():
        if pubkey is None:
            return None, VerifyResult("usage", f"{path}: no pinned public key: pass --pubkey FILE "
                                      f"(a copy of {IDENTITY_FILE} kept elsewhere)")
        return None, VerifyResult("usage", f"{source}: no such pinned identity file")
    try:
        identity = load_identity(source)
    except KeyFileError as e:
        return None, VerifyResult("corrupt", f"{e}; the identity file is damaged: use an intact "
                                  "copy kept elsewhere (--pubkey)")
    if pubkey is None:
        notes.append(f"pinned key read from {source}, inside the journal folder; for real "
                     "assurance verify against a copy kept elsewhere (--pubkey)")
    return identity, None


def _identity_file_fault(path: Path, pinned: Identity, key: VerifyingKey, jid: str) -> Fault | None:
    """With a pinned identity from elsewhere, the folder's own identity.json must agree with it."""
    local = path.parent / IDENTITY_FILE
    if not local.exists() or Path(pinned.source).resolve() == local.resolve():
        return None
    try:
        found = load_identity(local)
    except KeyFileError as e:
        return Fault(float("inf"), "identity_swapped", f"{local} is not a usable identity ({e})")
    if found.journal_id != jid or found.fingerprint != public_key_fingerprint(key):
        return Fault(float("inf"), "identity_swapped",
                     f"{local} names journal {found.journal_id} with key {found.fingerprint[:16]}..., "
                     f"not this journal's pinned key {public_key_fingerprint(key)[:16]}...: the "
                     "identity file in the folder was replaced")
    return None


def _stored_key(meta: dict[str, str], key: VerifyingKey) -> VerifyingKey | None:
    """The database's own copy of the public key when it differs from ``key``, else None.

    It is never trusted; it only lets the report say "re-signed with a substituted key" instead
    of just "bad signature".
    """
    pem = meta.get("public_key_pem", "")
    if pem.strip() == key.to_pem().decode().strip():
        return None
    try:
        return VerifyingKey.from_pem(pem, hashfunc=hashlib.sha256)
    except Exception:  # whatever is stored there, it is not the pinned key
        return key


def _check_signature(vk: VerifyingKey, msg: bytes, sig: bytes) -> bool:
    try:
        return bool(vk.verify(sig, msg, hashfunc=hashlib.sha256))
    except (BadSignatureError, ValueError, TypeError, AssertionError):
        return False


def verify(
    journal: str | os.PathLike[str],
    *,
    pubkey: str | os.PathLike[str] | Identity | None = None,
    anchors: str | os.PathLike[str] | Iterable[dict[str, Any]] | None = None,
    witnesses: str | os.PathLike[str] | None = None,
    workers: int | None = None,
) -> VerifyResult:
    """Verify the journal in ``journal`` (folder or ``journal.sqlite``). Never raises for bad data.

    ``pubkey``: the pinned identity (an ``identity.json`` or public-key PEM kept elsewhere, or an
    :class:`Identity`); defaults to ``identity.json`` in the journal folder, which is noted as
    weaker. ``anchors``: exported heads (a JSON-lines file or the parsed dicts). ``witnesses``:
    a folder of other nodes' journal folders whose ``journal.witness`` events recorded this
    journal's heads. ``workers``: None splits a big journal over two processes when there are
    two CPUs; 1 forces one pass.
    """
    path = db_path(journal)
    notes: list[str] = []
    if not path.exists():
        return VerifyResult("corrupt", f"{path}: no journal database here")
    if path.stat().st_size == 0:
        return VerifyResult("corrupt", f"{path}: the journal database is empty (0 bytes): the "
                            "journal was destroyed; restore it from a backup")
    identity, refusal = _load_pinned(path, pubkey, notes)
    if refusal is not None or identity is None:
        return refusal or VerifyResult("usage", f"{path}: no pinned identity")
    try:
        anchor_list = None
        if anchors is not None:
            anchor_list = load_anchors(anchors) if isinstance(anchors, str | os.PathLike) else [
                {**a, "_where": a.get("_where", f"anchor {i + 1}")} for i, a in enumerate(anchors)]
        if witnesses is not None:
            from app.core.journal.witness import witnessed_heads

            anchor_list = (anchor_list or []) + witnessed_heads(witnesses, notes)
    except (AnchorFileError, JournalError) as e:
        return VerifyResult("usage", str(e))

    try:
        con = open_readonly(path)
    except (JournalError, sqlite3.Error) as e:
        return VerifyResult("corrupt", f"{path}: cannot open the journal ({e})")
    try:
        # one read transaction = one snapshot: a writer committing meanwhile cannot make the
        # checkpoints we read disagree with the events we read
        con.execute("BEGIN")
        quick = con.execute("PRAGMA quick_check").fetchone()[0]
        if quick != "ok":
            return VerifyResult("corrupt", f"{path}: SQLite reports the file damaged ({quick}); "
                                "restore it from a backup and verify the backup", notes=notes)
        return _verify_open(con, path, identity, pubkey is not None, anchor_list, notes, workers)
    except sqlite3.DatabaseError as e:
        return VerifyResult("corrupt", f"{path}: the database is unreadable or corrupt ({e}); "
                            "restore it from a backup and verify the backup", notes=notes)
    finally:
        con.close()


_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _rotations(con: sqlite3.Connection, rules: chain.Rules) -> dict[int, VerifyingKey | None]:
    """seq -> new key of each ``journal.key_rotated`` event (None when its key is unusable)."""
    if rules is not chain.V2:
        return {}
    out: dict[int, VerifyingKey | None] = {}
    for seq, body in con.execute(
            "SELECT seq, body FROM events WHERE kind = ? ORDER BY seq", (chain.KEY_ROTATED,)):
        try:
            doc = json.loads(bytes(body))
            out[seq] = VerifyingKey.from_pem(doc["new_public_key_pem"], hashfunc=hashlib.sha256)
        except Exception:  # anything unreadable is a rotation nobody can follow
            out[seq] = None
    return out


def _verify_open(
    con: sqlite3.Connection,
    path: Path,
    identity: Identity,
    pinned_elsewhere: bool,
    anchors: list[dict[str, Any]] | None,
    notes: list[str],
    workers: int | None,
) -> VerifyResult:
    if con.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name IN "
                   "('meta', 'events', 'checkpoints')").fetchone()[0] != 3:
        return VerifyResult("corrupt", f"{path}: not a Vigil journal (tables meta, events and "
                            "checkpoints are not all there)", notes=notes)
    meta = read_meta(con)
    jid = meta.get("journal_id")
    if not jid:
        return VerifyResult("corrupt", f"{path}: not a Vigil journal (no journal id in meta)", notes=notes)
    rules = chain.RULES.get(meta.get("format", ""))
    if rules is None:
        return VerifyResult("tampered", f"{path}: meta format {meta.get('format')!r} is not a "
                            "journal format this verifier knows (meta edited?)", fault="meta_edited",
                            journal_id=jid, notes=notes)
    if not _HEX32.fullmatch(jid):
        return VerifyResult("tampered", f"{path}: journal id {jid!r} in meta is malformed",
                            fault="meta_edited", journal_id=jid, notes=notes)
    jid_bytes = bytes.fromhex(jid)
    faults: list[Fault] = []
    if identity.journal_id is not None and identity.journal_id != jid:
        faults.append(Fault(1, "wrong_journal", f"the database is journal {jid} but the pinned identity "
                             f"is journal {identity.journal_id}: replaced or from another journal"))
    elif identity.journal_id is None:
        notes.append("the pinned key file has no journal id; the id in the database was trusted")

    cps = con.execute(
        "SELECT number, size, head, ts, reason, prev, signature FROM checkpoints ORDER BY number"
    ).fetchall()
    rotations = _rotations(con, rules)
    walk = _CheckpointWalk(cps, jid, rules, identity.public_key, meta, rotations)
    # fast path: check every link but only the last signature of each key; a valid signature
    # vouches for every earlier checkpoint through the links. Any doubt -> check each signature
    # to name the first bad checkpoint.
    heads, last_size, cp_fault = walk.run(strict=False)
    if cp_fault is not None:
        heads, last_size, cp_fault = walk.run(strict=True)
        if cp_fault is not None:
            faults.append(cp_fault)
    key = walk.key  # the key in force after the last valid checkpoint (rotations followed)
    db_key = _stored_key(meta, key)
    if db_key is not None:
        faults.append(Fault(float("inf"), "public_key_substituted",
                             "the public key stored in the database is not the pinned key "
                             "(substituted); only the pinned key is used"))
    if pinned_elsewhere:
        # identity.json keeps the original key across rotations, like the pinned copy
        swapped = _identity_file_fault(path, identity, identity.public_key, jid)
        if swapped is not None:
            faults.append(swapped)
    sealed_limit = last_size  # events up to here are vouched for by valid signatures
    n_checkpoints = len(heads)

    if anchors:
        own = [a for a in anchors if not a.get("_witness") or a.get("journal_id") == jid]
        if len(own) < len(anchors):
            witnessed = sum(1 for a in own if a.get("_witness"))
            notes.append(f"{witnessed} witnessed head(s) of this journal found (heads of other "
                         "journals ignored)")
        anchors = own or None
    anchor_sizes = {a["size"] for a in anchors or () if isinstance(a.get("size"), int)}
    total, head_hex, event_fault, anchor_heads = scan_events(
        con, path, jid_bytes, heads, sealed_limit, anchor_sizes, rules=rules, workers=workers)
    if event_fault is not None:
        faults.append(event_fault)
    if sealed_limit > total and event_fault is None:
        faults.append(Fault(total + 1, "truncated",
                             f"checkpoint #{n_checkpoints} seals {sealed_limit} events but the journal "
                             f"ends at seq {total}: events {total + 1}..{sealed_limit} were deleted"))
    state_fault = _state_fault(meta, rules, cps, n_checkpoints, total, sealed_limit)
    if state_fault is not None:
        faults.append(state_fault)
    quarantined = _quarantined(con)
    if quarantined:
        notes.append(f"{quarantined} row(s) in the quarantine table: events found after the last "
                     "checkpoint that the writer refused to seal (see journal.integrity_warning)")

    base: dict[str, Any] = {"events": total, "checkpoints": n_checkpoints, "sealed": min(sealed_limit, total),
            "unsealed": max(0, total - sealed_limit), "journal_id": jid, "head": head_hex, "notes": notes}
    if faults:
        worst = min(faults)
        seq = None if worst.seq == float("inf") else int(worst.seq)
        prefix = f"seq {seq}: " if seq is not None else ""
        return VerifyResult("tampered", f"{path}: {prefix}{worst.message}", first_bad_seq=seq,
                            fault=worst.fault, **base)

    if anchors:
        res = _check_anchors(walk.keys, jid, total, anchors, anchor_heads)
        if res is not None:
            seq, fault, message = res
            status = "usage" if fault == "anchor_invalid" else "anchor_mismatch"
            prefix = f"seq {seq}: " if seq is not None else ""
            return VerifyResult(status, f"{path}: {prefix}{message}", first_bad_seq=seq,
                                fault=fault, anchors_checked=len(anchors), **base)
    tail = f"; {base['unsealed']} event(s) after the last checkpoint are not yet sealed" \
        if base["unsealed"] else ""
    anchored = f", consistent with {len(anchors)} exported or witnessed head(s)" if anchors else ""
    return VerifyResult("intact", f"{path}: {total} events intact, {n_checkpoints} signed "
                        f"checkpoint(s){anchored}{tail}", anchors_checked=len(anchors or ()), **base)


def _quarantined(con: sqlite3.Connection) -> int:
    if con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='quarantine'").fetchone():
        return int(con.execute("SELECT count(*) FROM quarantine").fetchone()[0])
    return 0


def _state_fault(
    meta: dict[str, str], rules: chain.Rules, cps: list[tuple[Any, ...]], valid: int, total: int,
    sealed: int,
) -> Fault | None:
    """``meta.state`` against the checkpoints: ``clean`` means a shutdown checkpoint seals all."""
    state = meta.get("state")
    if rules is chain.V1:
        return None  # v1 did not sign the state; its values (new/open/clean) prove nothing
    if state not in (chain.STATE_OPEN, chain.STATE_CLEAN):
        return Fault(float("inf"), "meta_edited", f"meta state {state!r} is not 'open' or 'clean'")
    if state == chain.STATE_CLEAN:
        last_reason = cps[valid - 1][4] if valid else None
        if last_reason != "shutdown":
            return Fault(sealed + 1, "meta_edited", "the journal is marked closed cleanly but its "
                         "last checkpoint is not the shutdown checkpoint (checkpoints removed, or "
                         "meta state edited)")
        if total > sealed:
            return Fault(sealed + 1, "unsealed_after_clean",
                         f"events {sealed + 1}..{total} follow the shutdown checkpoint of a cleanly "
                         "closed journal: appended by something other than the Vigil writer")
    return None


class _CheckpointWalk:
    """The checkpoint chain, its signatures (following signed key rotations) and its order."""

    def __init__(self, cps: list[tuple[Any, ...]], jid: str, rules: chain.Rules,
                 pinned: VerifyingKey, meta: dict[str, str],
                 rotations: dict[int, VerifyingKey | None]):
        self.cps, self.jid, self.rules, self.pinned = cps, jid, rules, pinned
        self.meta, self.rotations = meta, rotations
        self.key = pinned
        self.keys: dict[str, VerifyingKey] = {public_key_fingerprint(pinned): pinned}

    def _message(self, row: tuple[Any, ...], key_fp: str) -> bytes:
        number, size, head, ts, reason, prev, _sig = row
        if self.rules is chain.V1:
            return chain.checkpoint_message_v1(journal_id=self.jid, number=number, size=size,
                                               head=head, time=ts, reason=reason, prev=prev)
        state = chain.STATE_CLEAN if reason == "shutdown" else chain.STATE_OPEN
        return chain.checkpoint_message(journal_id=self.jid, key=key_fp, number=number, size=size,
                                        head=head, time=ts, reason=reason, state=state, prev=prev)

    def run(self, *, strict: bool) -> tuple[Heads, int, Fault | None]:
        """(size -> (number, head, previous size), sealed size, first fault)."""
        rules, v2 = self.rules, self.rules is chain.V2
        heads: Heads = {}
        link, last_size, expected_number = chain.NO_PREVIOUS, 0, 1
        last_time: float | None = None
        key = self.pinned
        fast = fast_verifying_key(key) if strict and len(self.cps) > 20 else key
        self.key = key
        self.keys = {public_key_fingerprint(key): key}
        db_key = _stored_key(self.meta, key)
        fp = public_key_fingerprint(key)
        cps = self.cps
        for index, row in enumerate(cps):
            number, size, head, ts, reason, prev, sig = row
            first = last_size + 1

            def fault(kind: str, message: str, at: int = first,
                      sealed: int = last_size) -> tuple[Heads, int, Fault]:
                return heads, sealed, Fault(at, kind, message)

            if number != expected_number:
                return fault("checkpoint_missing", f"checkpoint #{expected_number} is missing "
                             f"(deleted); events after seq {last_size} are not sealed by a valid "
                             "chain of checkpoints")
            if (type(size) is not int or type(head) is not str or not _HEX64.fullmatch(head)
                    or type(ts) is not rules.time_type or type(reason) is not str
                    or type(prev) is not str or type(sig) is not bytes or (v2 and len(sig) != 64)):
                return fault("checkpoint_edited", f"checkpoint #{number} is malformed (a column "
                             "has the wrong storage type or form)")
            try:
                msg = self._message(row, fp)
            except ValueError:
                return fault("checkpoint_edited", f"checkpoint #{number} is malformed")
            # the last checkpoint of each key is checked even on the fast path
            ends_key = index == len(cps) - 1 or (reason == "rotate" and size in self.rotations)
            if (strict or ends_key) and not _check_signature(fast, msg, sig):
                if db_key is not None and _check_signature(
                        db_key, self._message(row, public_key_fingerprint(db_key)), sig):
                    return fault("public_key_substituted", f"checkpoint #{number} (seq {first}.."
                                 f"{size}) was signed with the substituted key stored in the "
                                 "database, not the pinned key")
                return fault("checkpoint_signature", f"checkpoint #{number} (seq {first}..{size}) "
                             "has a signature the pinned key did not make (checkpoint edited or "
                             "re-signed with another key)")
            if prev != link:
                return fault("checkpoint_missing", f"checkpoint #{number} does not follow "
                             f"checkpoint #{number - 1} (a checkpoint was deleted or replaced)")
            if size <= last_size:
                return fault("checkpoint_edited", f"checkpoint #{number} has size {size}, not "
                             f"after the previous checkpoint's {last_size}")
            if reason not in rules.reasons:
                return fault("bad_reason", f"checkpoint #{number} has reason {reason!r}, not one "
                             f"of {', '.join(sorted(rules.reasons))}")
            when = float(row[3])  # exact: microsecond times stay below 2**53 until the year 2255
            if last_time is not None and (when <= last_time if v2 else when < last_time):
                return fault("time_backwards", f"checkpoint #{number} is dated {ts}, not after "
                             f"checkpoint #{number - 1} ({last_time})")
            heads[size] = (number, head, last_size)
            link, last_size, last_time = rules.link(msg, sig), size, when
            expected_number = number + 1
            if reason == "rotate":
                new = self.rotations.get(size, False)
                if new is False or new is None:
                    return heads, size, Fault(size, "rotation_invalid", f"checkpoint #{number} "
                                              "seals a key rotation, but its last event is not a "
                                              "readable journal.key_rotated event")
                key = new
                fast = fast_verifying_key(key) if strict and len(cps) > 20 else key
                fp = public_key_fingerprint(key)
                self.key, self.keys[fp] = key, key
                db_key = _stored_key(self.meta, key)
        stray = [s for s in self.rotations if s > last_size]
        unsealed_rotation = [s for s in self.rotations if s <= last_size and
                             (s not in heads or cps[heads[s][0] - 1][4] != "rotate")]
        if unsealed_rotation:
            s = unsealed_rotation[0]
            return heads, last_size, Fault(s, "rotation_invalid", "a journal.key_rotated event is "
                                           "not sealed by a 'rotate' checkpoint of the old key")
        del stray  # a rotation in the unsealed tail takes effect only once the writer seals it
        return heads, last_size, None


def anchor_message(a: dict[str, Any], keys: dict[str, VerifyingKey]) -> tuple[bytes, VerifyingKey | None]:
    """The signed bytes of an exported head and the known key it names (v1: the pinned key)."""
    if a.get("format") == chain.CHECKPOINT_FORMAT:
        if a.get("journal") != chain.FORMAT_V2 or a.get("state") not in (chain.STATE_OPEN,
                                                                       chain.STATE_CLEAN):
            raise ValueError("not a vigil-journal/2 head")
        msg = chain.checkpoint_message(
            journal_id=a["journal_id"], key=a["key"], number=a["number"], size=a["size"],
            head=a["head"], time=a["time"], reason=a["reason"], state=a["state"], prev=a["prev"])
        return msg, keys.get(a["key"])
    msg = chain.checkpoint_message_v1(
        journal_id=a["journal_id"], number=a["number"], size=a["size"], head=a["head"],
        time=a["time"], reason=a["reason"], prev=a["prev"])
    return msg, next(iter(keys.values()))


def _check_anchors(
    keys: dict[str, VerifyingKey],
    jid: str,
    total: int,
    anchors: list[dict[str, Any]],
    anchor_heads: dict[int, str],
) -> tuple[int | None, str, str] | None:
    """First inconsistency with an exported head, as (seq, fault, message), or None."""
    problems: list[tuple[int, int | None, str, str]] = []
    for a in anchors:
        where = a["_where"]
        try:
            msg, vk = anchor_message(a, keys)
            sig = bytes.fromhex(a["signature"])
        except (ValueError, TypeError, KeyError, StopIteration):
            problems.append((0, None, "anchor_invalid", f"{where}: malformed exported head"))
            continue
        if vk is None or not _check_signature(vk, msg, sig):
            problems.append((0, None, "anchor_invalid",
                             f"{where}: exported head not signed by the pinned key"))
            continue
        size = a["size"]
        if a["journal_id"] != jid:
            problems.append((1, 1, "anchor_other_journal", f"{where}: exported head is from journal "
                             f"{a['journal_id']}, this database is journal {jid} (replaced)"))
        elif size > total:
            problems.append((1, total + 1, "anchor_truncated",
                             f"{where}: exported head #{a['number']} sealed {size} events but the "
                             f"journal now has {total}: truncated or rolled back "
                             f"(events {total + 1}..{size} are gone)"))
        elif anchor_heads.get(size) != a["head"]:
            problems.append((1, size, "anchor_rewritten",
                             f"{where}: the journal up to seq {size} differs from exported head "
                             f"#{a['number']}: rewritten and re-signed by the key holder (the change is "
                             f"at or before seq {size})"))
    if not problems:
        return None
    problems.sort(key=lambda p: (p[0], p[1] or 0))
    _, seq, fault, message = problems[0]
    return seq, fault, message
