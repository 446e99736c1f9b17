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
import sqlite3
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ecdsa import BadSignatureError, VerifyingKey

from app.core.journal import chain
from app.core.journal.keys import IDENTITY_FILE, Identity, KeyFileError, fast_verifying_key, load_identity
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


class _AnchorFileError(Exception):
    pass


def load_anchors(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read exported heads (one JSON object a line; blank lines and ``#`` comments ignored)."""
    p = Path(path)
    try:
        lines = p.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise _AnchorFileError(f"{p}: cannot read the anchors file ({e})") from None
    out = []
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            doc = json.loads(line)
        except ValueError as e:
            raise _AnchorFileError(f"{p} line {n}: not JSON ({e})") from None
        if not isinstance(doc, dict):
            raise _AnchorFileError(f"{p} line {n}: not an exported head (expected a JSON object)")
        missing = [f for f in _ANCHOR_FIELDS if f not in doc]
        if missing:
            raise _AnchorFileError(f"{p} line {n}: not an exported head (missing {', '.join(missing)})")
        doc["_where"] = f"{p} line {n}"
        out.append(doc)
    if not out:
        raise _AnchorFileError(f"{p}: no exported heads in the file")
    return out


def _stored_key(meta: dict[str, str], identity: Identity) -> VerifyingKey | None:
    """The database's own copy of the public key when it differs from the pinned one, else None.

    It is never trusted; it only lets the report say "re-signed with a substituted key" instead
    of just "bad signature".
    """
    pem = meta.get("public_key_pem", "")
    if pem.strip() == identity.public_key.to_pem().decode().strip():
        return None
    try:
        return VerifyingKey.from_pem(pem, hashfunc=hashlib.sha256)
    except Exception:  # whatever is stored there, it is not the pinned key
        return identity.public_key


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
    workers: int | None = None,
) -> VerifyResult:
    """Verify the journal in ``journal`` (folder or ``journal.sqlite``). Never raises for bad data.

    ``pubkey``: the pinned identity (an ``identity.json`` or public-key PEM kept elsewhere, or an
    :class:`Identity`); defaults to ``identity.json`` in the journal folder, which is noted as
    weaker. ``anchors``: exported heads (a JSON-lines file or the parsed dicts). ``workers``:
    None splits a big journal over two processes when there are two CPUs; 1 forces one pass.
    """
    path = db_path(journal)
    notes: list[str] = []
    if not path.exists():
        return VerifyResult("corrupt", f"{path}: no journal database here")
    try:
        if isinstance(pubkey, Identity):
            identity = pubkey
        elif pubkey is not None:
            identity = load_identity(pubkey)
        else:
            default = path.parent / IDENTITY_FILE
            if not default.exists():
                return VerifyResult("usage", f"{path}: no pinned public key: pass --pubkey FILE "
                                    f"(a copy of {IDENTITY_FILE} kept elsewhere)")
            identity = load_identity(default)
            notes.append(f"pinned key read from {default}, inside the journal folder; for real "
                         "assurance verify against a copy kept elsewhere (--pubkey)")
        anchor_list = None
        if anchors is not None:
            anchor_list = load_anchors(anchors) if isinstance(anchors, str | os.PathLike) else [
                {**a, "_where": a.get("_where", f"anchor {i + 1}")} for i, a in enumerate(anchors)]
    except (KeyFileError, _AnchorFileError) as e:
        return VerifyResult("usage", str(e))

    try:
        con = open_readonly(path)
    except (JournalError, sqlite3.Error) as e:
        return VerifyResult("corrupt", f"{path}: cannot open the journal ({e})")
    try:
        # one read transaction = one snapshot: a writer committing meanwhile cannot make the
        # checkpoints we read disagree with the events we read
        con.execute("BEGIN")
        return _verify_open(con, path, identity, anchor_list, notes, workers)
    except sqlite3.DatabaseError as e:
        return VerifyResult("corrupt", f"{path}: the database is unreadable or corrupt ({e}); "
                            "restore it from a backup and verify the backup", notes=notes)
    finally:
        con.close()


def _verify_open(
    con: sqlite3.Connection,
    path: Path,
    identity: Identity,
    anchors: list[dict[str, Any]] | None,
    notes: list[str],
    workers: int | None,
) -> VerifyResult:
    meta = read_meta(con)
    jid = meta.get("journal_id")
    if not jid:
        return VerifyResult("corrupt", f"{path}: not a Vigil journal (no journal id in meta)", notes=notes)
    try:
        jid_bytes = bytes.fromhex(jid)
    except ValueError:
        return VerifyResult("tampered", f"{path}: journal id {jid!r} in meta is malformed",
                            fault="meta_edited", journal_id=jid, notes=notes)
    faults: list[Fault] = []
    if identity.journal_id is not None and identity.journal_id != jid:
        faults.append(Fault(1, "wrong_journal", f"the database is journal {jid} but the pinned identity "
                             f"is journal {identity.journal_id}: replaced or from another journal"))
    elif identity.journal_id is None:
        notes.append("the pinned key file has no journal id; the id in the database was trusted")
    db_key = _stored_key(meta, identity)
    if db_key is not None:
        faults.append(Fault(float("inf"), "public_key_substituted",
                             "the public key stored in the database is not the pinned key "
                             "(substituted); only the pinned key is used"))

    cps = con.execute(
        "SELECT number, size, head, ts, reason, prev, signature FROM checkpoints ORDER BY number"
    ).fetchall()
    # fast path: check every link but only the last signature; a valid last signature vouches
    # for every earlier checkpoint through the links. Any doubt -> check each signature to
    # name the first bad checkpoint.
    heads, last_size, cp_fault = _check_checkpoints(cps, jid, identity.public_key, db_key, strict=False)
    if cp_fault is not None:
        vk = fast_verifying_key(identity.public_key) if len(cps) > 20 else identity.public_key
        heads, last_size, cp_fault = _check_checkpoints(cps, jid, vk, db_key, strict=True)
        if cp_fault is not None:
            faults.append(cp_fault)
    sealed_limit = last_size  # events up to here are vouched for by valid signatures
    n_checkpoints = len(heads)

    anchor_sizes = {a["size"] for a in anchors or () if isinstance(a.get("size"), int)}
    total, head_hex, event_fault, anchor_heads = scan_events(
        con, path, jid_bytes, heads, sealed_limit, anchor_sizes, workers=workers)
    if event_fault is not None:
        faults.append(event_fault)
    if sealed_limit > total and event_fault is None:
        faults.append(Fault(total + 1, "truncated",
                             f"checkpoint #{n_checkpoints} seals {sealed_limit} events but the journal "
                             f"ends at seq {total}: events {total + 1}..{sealed_limit} were deleted"))

    base: dict[str, Any] = {"events": total, "checkpoints": n_checkpoints, "sealed": min(sealed_limit, total),
            "unsealed": max(0, total - sealed_limit), "journal_id": jid, "head": head_hex, "notes": notes}
    if faults:
        worst = min(faults)
        status = "tampered"
        quick = con.execute("PRAGMA quick_check").fetchone()[0]
        message = worst.message
        if quick != "ok":
            status = "corrupt"
            message = f"SQLite reports the file damaged ({quick}); first fault seen: {message}"
        seq = None if worst.seq == float("inf") else int(worst.seq)
        prefix = f"seq {seq}: " if seq is not None else ""
        return VerifyResult(status, f"{path}: {prefix}{message}", first_bad_seq=seq,
                            fault=worst.fault, **base)

    if anchors:
        res = _check_anchors(identity.public_key, jid, total, anchors, anchor_heads)
        if res is not None:
            seq, fault, message = res
            status = "usage" if fault == "anchor_invalid" else "anchor_mismatch"
            prefix = f"seq {seq}: " if seq is not None else ""
            return VerifyResult(status, f"{path}: {prefix}{message}", first_bad_seq=seq,
                                fault=fault, anchors_checked=len(anchors), **base)
    tail = f"; {base['unsealed']} event(s) after the last checkpoint are not yet sealed" \
        if base["unsealed"] else ""
    anchored = f", consistent with {len(anchors)} exported head(s)" if anchors else ""
    return VerifyResult("intact", f"{path}: {total} events intact, {n_checkpoints} signed "
                        f"checkpoint(s){anchored}{tail}", anchors_checked=len(anchors or ()), **base)


def _check_checkpoints(
    cps: list[tuple[Any, ...]],
    jid: str,
    vk: VerifyingKey,
    db_key: VerifyingKey | None,
    *,
    strict: bool,
) -> tuple[Heads, int, Fault | None]:
    """Walk the checkpoint chain. Returns (size -> (number, head, previous size), sealed size, fault).

    ``strict=False`` verifies only the last signature (and reports any doubt as a fault so the
    caller re-runs strictly); ``strict=True`` verifies every signature and names the first bad one.
    """
    heads: Heads = {}
    link, last_size, expected_number = chain.NO_PREVIOUS, 0, 1
    last_index = len(cps) - 1
    for index, (number, size, head, ts, reason, prev, sig) in enumerate(cps):
        first = last_size + 1
        try:
            msg = chain.checkpoint_message(journal_id=jid, number=number, size=size, head=head,
                                           time=ts, reason=reason, prev=prev)
        except ValueError:
            return heads, last_size, Fault(first, "checkpoint_edited", f"checkpoint #{number} is malformed")
        if number != expected_number:
            return heads, last_size, Fault(
                first, "checkpoint_missing", f"checkpoint #{expected_number} is missing (deleted); "
                f"events after seq {last_size} are not sealed by a valid chain of checkpoints")
        if not isinstance(sig, bytes):
            return heads, last_size, Fault(first, "checkpoint_edited",
                                            f"checkpoint #{number} has no usable signature")
        if (strict or index == last_index) and not _check_signature(vk, msg, sig):
            if db_key is not None and _check_signature(db_key, msg, sig):
                return heads, last_size, Fault(
                    first, "public_key_substituted", f"checkpoint #{number} (seq {first}..{size}) "
                    "was signed with the substituted key stored in the database, not the pinned key")
            return heads, last_size, Fault(
                first, "checkpoint_signature", f"checkpoint #{number} (seq {first}..{size}) has a "
                "signature the pinned key did not make (checkpoint edited or re-signed with another key)")
        if prev != link:
            return heads, last_size, Fault(
                first, "checkpoint_missing", f"checkpoint #{number} does not follow checkpoint "
                f"#{number - 1} (a checkpoint was deleted or replaced)")
        if not isinstance(size, int) or size <= last_size:
            return heads, last_size, Fault(
                first, "checkpoint_edited",
                f"checkpoint #{number} has size {size} not after the previous checkpoint's {last_size}")
        heads[size] = (number, head, last_size)
        link, last_size, expected_number = chain.checkpoint_link(msg, sig), size, number + 1
    return heads, last_size, None


def _check_anchors(
    vk: VerifyingKey,
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
            msg = chain.checkpoint_message(
                journal_id=a["journal_id"], number=a["number"], size=a["size"], head=a["head"],
                time=a["time"], reason=a["reason"], prev=a["prev"])
            sig = bytes.fromhex(a["signature"])
        except (ValueError, TypeError):
            problems.append((0, None, "anchor_invalid", f"{where}: malformed exported head"))
            continue
        if not _check_signature(vk, msg, sig):
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
