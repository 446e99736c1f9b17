"""The hash chain and the checkpoint message: the formulas a verifier must reproduce exactly.

``hash(seq) = SHA-256(EVENT_TAG || prev_hash || seq, time, critical, len(kind), len(actor) ||
kind || actor || body)``. The domain tag keeps an event hash from ever being mistaken for any
other SHA-256 the project computes; the sequence number makes a row's position part of its
identity (so moved, duplicated or swapped rows break the chain); time, kind, actor and the
critical flag are inside the hash so none of them can be edited unnoticed. The first
``prev_hash`` is derived from the random journal id, so events spliced in from another journal
never link up.

A checkpoint signs the RFC 8785 canonical JSON of (journal format, journal id, signing key
fingerprint, number, size, head hash, time, reason, journal state, previous checkpoint link);
chaining each checkpoint to the previous one makes a deleted or reordered checkpoint visible,
and signing the format, key and state covers the ``meta`` values a verifier relies on.

Two versions exist: ``vigil-journal/2`` (written today: integer microsecond times, RFC 8785) and
``vigil-journal/1`` (float seconds, Python's JSON), which is still verified. FORMAT.md is the
normative description; this module and the standalone verifier both implement it.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.journal.canonical import canonical_json, legacy_json

FORMAT_V1 = "vigil-journal/1"
FORMAT_V2 = "vigil-journal/2"

EVENT_TAG = b"vigil/journal/event/v2\x00"
GENESIS_TAG = b"vigil/journal/genesis/v2\x00"
CHECKPOINT_LINK_TAG = b"vigil/journal/checkpoint-link/v2\x00"
CHECKPOINT_FORMAT = "vigil-journal-checkpoint/2"

EVENT_TAG_V1 = b"vigil/journal/event/v1\x00"
GENESIS_TAG_V1 = b"vigil/journal/genesis/v1\x00"
CHECKPOINT_LINK_TAG_V1 = b"vigil/journal/checkpoint-link/v1\x00"
CHECKPOINT_FORMAT_V1 = "vigil-journal-checkpoint/1"

#: prev link of checkpoint number 1
NO_PREVIOUS = "0" * 64

FLAG_CRITICAL = 1

#: v2 header: seq u64, time i64 (microseconds since the Unix epoch, UTC), critical u8,
#: len(kind) u16, len(actor) u16 -- big-endian, fixed width
EVENT_HEADER = struct.Struct(">QqBHH")
#: v1 header: the same with time as an IEEE double of seconds
EVENT_HEADER_V1 = struct.Struct(">QdBHH")

REASONS_V1 = frozenset({"count", "interval", "critical", "shutdown"})
#: ``recovered`` seals a tail found after a crash; ``rotate`` seals a key rotation with the old key
REASONS = frozenset({"count", "interval", "critical", "shutdown", "recovered", "rotate"})

#: the event that hands signing over to a new key (sealed by a ``rotate`` checkpoint of the old key)
KEY_ROTATED = "journal.key_rotated"
#: another journal's signed head, recorded in this journal
WITNESS = "journal.witness"

STATE_OPEN = "open"
STATE_CLEAN = "clean"


def to_micros(seconds: float) -> int:
    """Epoch seconds -> integer microseconds, the only time form stored in a v2 journal."""
    return round(seconds * 1_000_000)


def genesis_hash(journal_id: bytes) -> bytes:
    """The ``prev_hash`` of event 1 (v2), bound to this journal's random id (16 raw bytes)."""
    return hashlib.sha256(GENESIS_TAG + journal_id).digest()


def genesis_hash_v1(journal_id: bytes) -> bytes:
    return hashlib.sha256(GENESIS_TAG_V1 + journal_id).digest()


def event_hash(
    prev: bytes, seq: int, ts: int, critical: bool, kind: bytes, actor: bytes, body: bytes
) -> bytes:
    """Chain hash of one v2 event; ``ts`` in integer microseconds, ``kind``/``actor`` UTF-8."""
    return hashlib.sha256(
        EVENT_TAG + prev
        + EVENT_HEADER.pack(seq, ts, FLAG_CRITICAL if critical else 0, len(kind), len(actor))
        + kind + actor + body
    ).digest()


def event_hash_v1(
    prev: bytes, seq: int, ts: float, critical: bool, kind: bytes, actor: bytes, body: bytes
) -> bytes:
    return hashlib.sha256(
        EVENT_TAG_V1 + prev
        + EVENT_HEADER_V1.pack(seq, ts, FLAG_CRITICAL if critical else 0, len(kind), len(actor))
        + kind + actor + body
    ).digest()


def checkpoint_message(
    *,
    journal_id: str,
    key: str,
    number: int,
    size: int,
    head: str,
    time: int,
    reason: str,
    state: str,
    prev: str,
) -> bytes:
    """The exact bytes a v2 checkpoint signature covers (RFC 8785 JSON of the signed fields).

    ``key`` is the signing key's fingerprint, ``time`` integer microseconds, ``state`` the
    ``meta`` state committed with the checkpoint (``clean`` only for a shutdown checkpoint).
    """
    return canonical_json(
        {
            "format": CHECKPOINT_FORMAT,
            "journal": FORMAT_V2,
            "journal_id": journal_id,
            "key": key,
            "number": number,
            "size": size,
            "head": head,
            "time": time,
            "reason": reason,
            "state": state,
            "prev": prev,
        },
        what="checkpoint",
    )


def checkpoint_message_v1(
    *, journal_id: str, number: int, size: int, head: str, time: float, reason: str, prev: str,
) -> bytes:
    return legacy_json(
        {"format": CHECKPOINT_FORMAT_V1, "journal_id": journal_id, "number": number, "size": size,
         "head": head, "time": time, "reason": reason, "prev": prev},
        what="checkpoint",
    )


def checkpoint_link(message: bytes, signature: bytes) -> str:
    """What the next v2 checkpoint's ``prev`` field holds: a digest of this signed checkpoint."""
    return hashlib.sha256(CHECKPOINT_LINK_TAG + message + signature).hexdigest()


def checkpoint_link_v1(message: bytes, signature: bytes) -> str:
    return hashlib.sha256(CHECKPOINT_LINK_TAG_V1 + message + signature).hexdigest()


@dataclass(frozen=True)
class Rules:
    """What differs between format versions, so one verifier walks both."""

    format: str
    genesis: Callable[[bytes], bytes]
    event_tag: bytes
    header: struct.Struct
    link: Callable[[bytes, bytes], str]
    reasons: frozenset[str]
    time_type: type


V2 = Rules(FORMAT_V2, genesis_hash, EVENT_TAG, EVENT_HEADER, checkpoint_link, REASONS, int)
V1 = Rules(FORMAT_V1, genesis_hash_v1, EVENT_TAG_V1, EVENT_HEADER_V1, checkpoint_link_v1,
           REASONS_V1, float)
RULES = {FORMAT_V2: V2, FORMAT_V1: V1}


def head_fields(row: Any) -> dict[str, Any]:
    """Checkpoint row ``(number, size, head, time, reason, prev, signature)`` -> exportable dict."""
    number, size, head, ts, reason, prev, signature = row
    return {
        "number": number,
        "size": size,
        "head": head,
        "time": ts,
        "reason": reason,
        "prev": prev,
        "signature": signature.hex() if isinstance(signature, bytes) else signature,
    }
