"""The hash chain and the checkpoint message: the formulas a verifier must reproduce exactly.

``hash(seq) = SHA-256(EVENT_TAG || prev_hash || seq, ts, flags, len(kind), len(actor) || kind
|| actor || body)``. The domain tag keeps an event hash from ever being mistaken for any other
SHA-256 the project computes; the sequence number makes a row's position part of its identity
(so moved, duplicated or swapped rows break the chain); ``ts``, ``kind``, ``actor`` and the
critical flag are inside the hash so none of them can be edited unnoticed. The first
``prev_hash`` is derived from the random journal id, so events spliced in from another journal
never link up.

A checkpoint signs ``(journal id, number, size, head hash, time, reason, previous checkpoint)``
as canonical JSON; chaining each checkpoint to the previous one makes a deleted or reordered
checkpoint visible.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from app.core.journal.canonical import canonical_json

EVENT_TAG = b"vigil/journal/event/v1\x00"
GENESIS_TAG = b"vigil/journal/genesis/v1\x00"
CHECKPOINT_LINK_TAG = b"vigil/journal/checkpoint-link/v1\x00"
CHECKPOINT_FORMAT = "vigil-journal-checkpoint/1"
#: prev link of checkpoint number 1
NO_PREVIOUS = "0" * 64

FLAG_CRITICAL = 1

#: seq, ts, flags, len(kind), len(actor) -- big-endian, fixed width
EVENT_HEADER = struct.Struct(">QdBHH")


def genesis_hash(journal_id: bytes) -> bytes:
    """The ``prev_hash`` of event 1, bound to this journal's random id."""
    return hashlib.sha256(GENESIS_TAG + journal_id).digest()


def event_hash(
    prev: bytes, seq: int, ts: float, critical: bool, kind: bytes, actor: bytes, body: bytes
) -> bytes:
    """Chain hash of one event. ``kind`` and ``actor`` are UTF-8 bytes (length-prefixed)."""
    return hashlib.sha256(
        EVENT_TAG
        + prev
        + EVENT_HEADER.pack(seq, ts, FLAG_CRITICAL if critical else 0, len(kind), len(actor))
        + kind
        + actor
        + body
    ).digest()


def checkpoint_message(
    *,
    journal_id: str,
    number: int,
    size: int,
    head: str,
    time: float,
    reason: str,
    prev: str,
) -> bytes:
    """The exact bytes a checkpoint signature covers (canonical JSON of the signed fields)."""
    return canonical_json(
        {
            "format": CHECKPOINT_FORMAT,
            "journal_id": journal_id,
            "number": number,
            "size": size,
            "head": head,
            "time": time,
            "reason": reason,
            "prev": prev,
        },
        what="checkpoint",
    )


def checkpoint_link(message: bytes, signature: bytes) -> str:
    """What the next checkpoint's ``prev`` field holds: a digest of this signed checkpoint."""
    return hashlib.sha256(CHECKPOINT_LINK_TAG + message + signature).hexdigest()


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
