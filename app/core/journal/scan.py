"""The event-chain scan behind :func:`verify`: one streaming pass, optionally split over 2 processes.

This is the part that touches every row, so it is written for speed: a flat loop over a plain
``sqlite3`` cursor with local names. A journal with many events can be split at a signed
checkpoint: the second half starts from that checkpoint's head (already proven by its
signature), so both halves are checked exactly as a single pass would, and the fault with the
lowest seq wins.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import struct
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from app.core.journal import chain
from app.core.journal.store import open_readonly

#: below this many events a second process costs more (interpreter start-up) than it saves
PARALLEL_MIN_EVENTS = 300_000
#: diagnoses that pin a fault to one row, preferred over a whole-range checkpoint mismatch
_PRECISE = {"inserted", "moved", "duplicated"}

#: 1 when a row's columns have the storage types FORMAT.md requires (the time type is a parameter)
_TYPES_OK = (
    "(typeof(ts) = ? AND typeof(kind) = 'text' AND typeof(actor) = 'text' "
    "AND typeof(critical) = 'integer' AND critical IN (0, 1) AND typeof(body) = 'blob' "
    "AND typeof(prev_hash) = 'blob' AND length(prev_hash) = 32 AND typeof(hash) = 'blob' "
    "AND length(hash) = 32 AND length(CAST(kind AS BLOB)) <= 65535 "
    "AND length(CAST(actor AS BLOB)) <= 65535)"
)
#: checkpoint size -> (checkpoint number, head hash hex, previous checkpoint size)
Heads = dict[int, tuple[int, str, int]]


@dataclass(order=True)
class Fault:
    """A fault found by verification. Ordered by seq so the earliest one is reported."""

    seq: float  # first bad seq; +inf when the fault has no position
    fault: str = field(compare=False)
    message: str = field(compare=False)


class ScanResult(NamedTuple):
    events: int  # events checked up to the fault or the end
    head: str | None  # hash of the last event checked (hex)
    fault: Fault | None
    anchor_heads: dict[int, str]  # seq -> hash hex, for the sizes of exported heads


def scan_events(
    con: sqlite3.Connection,
    path: Path,
    jid_bytes: bytes,
    heads: Heads,
    sealed_limit: int,
    anchor_sizes: set[int],
    *,
    rules: chain.Rules = chain.V2,
    workers: int | None = None,
) -> ScanResult:
    """Check the whole event chain; in two processes when it is big and more than one CPU exists.

    ``workers=None`` decides automatically (never in a frozen build, where starting a child
    process needs the executable's cooperation); ``workers=1`` forces a single pass.
    """
    genesis = rules.genesis(jid_bytes)
    plan = _split_point(con, heads, workers)
    if plan is None:
        return scan_range(con, genesis, heads, sealed_limit, anchor_sizes, rules=rules)
    split, last = plan
    start_prev = bytes.fromhex(heads[split][1])
    try:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            # the child has its own snapshot: bound it by the last seq of ours, so events
            # committed meanwhile by a running writer are not judged against our checkpoints
            later = pool.submit(_scan_in_child, str(path), start_prev, heads, sealed_limit,
                                anchor_sizes, split, last, rules.format)
            first = scan_range(con, genesis, heads, sealed_limit, anchor_sizes, end=split,
                               rules=rules)
            second = later.result()
    except (OSError, BrokenProcessPool, RuntimeError):
        return scan_range(con, genesis, heads, sealed_limit, anchor_sizes, rules=rules)
    if first.fault is not None and (second.fault is None or first.fault <= second.fault):
        return ScanResult(first.events, first.head, first.fault, {})
    return ScanResult(second.events, second.head, second.fault,
                      {**first.anchor_heads, **second.anchor_heads})


def _split_point(
    con: sqlite3.Connection, heads: Heads, workers: int | None
) -> tuple[int, int] | None:
    """(checkpoint size nearest the middle, last seq), or None for a single pass."""
    if workers == 1 or (workers is None and (getattr(sys, "frozen", False) or (os.cpu_count() or 1) < 2)):
        return None
    last = con.execute("SELECT max(seq) FROM events").fetchone()[0]
    if not isinstance(last, int) or last < PARALLEL_MIN_EVENTS or not heads:
        return None
    split = min(heads, key=lambda size: abs(size - last / 2))
    return (split, last) if 0 < split < last else None


def _scan_in_child(
    path: str, start_prev: bytes, heads: Heads, sealed_limit: int, anchor_sizes: set[int],
    start: int, end: int, journal_format: str,
) -> ScanResult:
    con = open_readonly(Path(path))
    try:
        return scan_range(con, start_prev, heads, sealed_limit, anchor_sizes, start=start, end=end,
                          rules=chain.RULES[journal_format])
    except sqlite3.DatabaseError as e:
        raise OSError(f"{path}: {e}") from None
    finally:
        con.close()


def scan_range(
    con: sqlite3.Connection,
    prev: bytes,
    heads: Heads,
    sealed_limit: int,
    anchor_sizes: set[int],
    *,
    start: int = 0,
    end: int | None = None,
    rules: chain.Rules = chain.V2,
) -> ScanResult:
    """Check events ``start+1 .. end`` (to the last when ``end`` is None); ``prev`` is hash(start).

    The loop body is deliberately flat (local names, no helper calls): it runs a million times.
    """
    sha256 = hashlib.sha256
    pack = rules.header.pack
    tag = rules.event_tag
    # v2 times never run backwards; v1 did not promise it (its writer stamped on many threads)
    check_time = rules is chain.V2
    last_ts = -(2**63)
    if start > 0 and check_time:
        row = con.execute("SELECT ts FROM events WHERE seq = ?", (start,)).fetchone()
        last_ts = row[0] if row and type(row[0]) is int else last_ts
    anchor_heads: dict[int, str] = {}
    expected = start + 1
    seq = start
    last_stored = prev
    pending: Fault | None = None
    where, args = [], []
    if start > 0:  # the first range has no lower bound, so stray rows with seq <= 0 are seen
        where.append("seq > ?")
        args.append(start)
    if end is not None:
        where.append("seq <= ?")
        args.append(end)
    # the storage-type checks of FORMAT.md ride along in the same pass (no second table scan)
    cur = con.execute(
        "SELECT seq, ts, CAST(kind AS BLOB), CAST(actor AS BLOB), critical, body, prev_hash, hash, "
        + _TYPES_OK + " FROM events " + ("WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY seq", [(rules.time_type is int and "integer") or "real", *args]
    )
    cur.arraysize = 4096

    def done(count: int, fault: Fault | None) -> ScanResult:
        return ScanResult(count, prev.hex() if count > start or start else None, fault, anchor_heads)

    try:
        for seq, ts, kind, actor, critical, body, prev_hash, stored, types_ok in cur:
            if not types_ok:
                if pending is not None or seq > expected:
                    return done(expected - 1, pending or Fault(
                        expected, "missing", f"events {expected}..{seq - 1} are missing (deleted)"
                        if seq - 1 > expected else "event is missing (deleted)"))
                return done(seq - 1, Fault(seq, "malformed", "a column holds a value of the wrong "
                                           f"storage type or range (FORMAT.md: {rules.format} events table)"))
            if seq != expected:
                if pending is not None:
                    return done(expected - 1, pending)
                if seq > expected:
                    return done(expected - 1, Fault(
                        expected, "missing",
                        f"events {expected}..{seq - 1} are missing (deleted)" if seq - 1 > expected
                        else "event is missing (deleted)"))
                return done(expected - 1, Fault(
                    expected, "bad_seq", f"unexpected row with seq {seq} (inserted)"))
            h = sha256(tag + prev + pack(seq, ts, critical, len(kind), len(actor)) + kind + actor
                       + body).digest()
            if pending is not None:
                # a checkpoint did not match at the previous row; the row after it may show a
                # more precise cause (a row inserted or moved inside the sealed range)
                if h != stored:
                    diag = diagnose(seq, ts, kind, actor, critical, body, prev_hash, stored, prev,
                                    last_stored, rules)
                    if diag.fault in _PRECISE and diag.seq >= pending.seq:
                        return done(seq - 1, diag)
                return done(seq - 1, pending)
            if h != stored:
                return done(seq - 1, diagnose(
                    seq, ts, kind, actor, critical, body, prev_hash, stored, prev, last_stored,
                    rules))
            last_stored = stored
            if check_time:
                if ts < last_ts:
                    return done(seq - 1, Fault(
                        seq, "time_backwards", f"the event is dated {ts} us, before the event "
                        f"before it ({last_ts} us): times in the journal never run backwards"))
                last_ts = ts
            if prev_hash != prev:
                return done(seq - 1, Fault(
                    seq, "chain_break", "prev_hash does not link to the event before it (edited)"))
            prev = h
            if seq in heads:
                number, head, before = heads[seq]
                if head != h.hex():
                    pending = Fault(
                        before + 1, "rechained",
                        f"events {before + 1}..{seq} do not match signed checkpoint #{number}: "
                        "altered and re-chained without the key (the exact event cannot be known "
                        "without the original)")
                    expected += 1
                    continue
            if critical and seq > sealed_limit:
                return done(seq, Fault(
                    seq, "checkpoint_missing",
                    f"critical event (kind {kind.decode('utf-8', 'replace')}) is not sealed by "
                    "any checkpoint; the writer always seals these at once, so a checkpoint was removed"))
            if seq in anchor_sizes:
                anchor_heads[seq] = h.hex()
            expected += 1
    except (TypeError, struct.error, AttributeError, OverflowError) as e:
        return done(max(seq - 1, start), Fault(
            seq or expected, "malformed", f"a column holds a value of the wrong type ({e})"))
    if pending is None and end is not None and expected - 1 < end:
        return done(expected - 1, Fault(expected, "missing",
                                        f"events {expected}..{end} are missing (deleted)"))
    return done(expected - 1, pending)


def diagnose(
    seq: int, ts: float, kind: bytes, actor: bytes, critical: int, body: bytes,
    prev_hash: bytes, stored: bytes, prev: bytes, last_stored: bytes,
    rules: chain.Rules = chain.V2,
) -> Fault:
    """Name what happened to a row whose hash does not check out (runs once, on the fault path).

    The row's own ``prev_hash`` and hash tell an edited row from one that is intact but sits in
    the wrong place: a duplicate, a row shifted by an insertion or deletion, or a row that
    belongs to another journal.
    """
    def own_hash(at: int) -> bytes:
        if rules is chain.V2:
            return chain.event_hash(prev_hash, at, int(ts), bool(critical), kind, actor, body)
        return chain.event_hash_v1(prev_hash, at, ts, bool(critical), kind, actor, body)

    if stored == last_stored:
        return Fault(seq, "duplicated", f"the row is a copy of event {seq - 1} (duplicated)")
    if own_hash(seq - 1) == stored:
        return Fault(seq - 1, "inserted",
                     f"event {seq - 1} was inserted: the row at seq {seq} was originally event "
                     f"{seq - 1} and every later row has been shifted")
    if own_hash(seq + 1) == stored:
        return Fault(seq, "moved", f"the row holds the event originally at seq {seq + 1} "
                     "(an event was deleted and rows renumbered, or rows were swapped)")
    if prev_hash != prev and own_hash(seq) == stored:
        return Fault(seq, "chain_break", "the row is internally consistent but does not link to "
                     "the event before it (inserted with a forged link, or spliced in from "
                     "another journal)")
    return Fault(seq, "content_edited", "the stored hash does not match the event "
                 "(time, kind, actor, critical flag or body edited)")
