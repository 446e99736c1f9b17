"""The signed, hash-chained event journal: who did what, when, provably.

Write with :class:`Journal` (one writer thread, group commits, signed checkpoints); read with
:func:`read_events`; check with :func:`verify` and anchor with :func:`export_head`. The formulas
are in :mod:`app.core.journal.chain`, so an auditor can re-implement verification from them.
"""

from app.core.journal.canonical import JournalBodyError, canonical_json
from app.core.journal.keys import Identity, KeyFileError, load_identity
from app.core.journal.reader import JournalEvent, export_head, read_events, read_sealed
from app.core.journal.store import JournalError
from app.core.journal.verify import VerifyResult, load_anchors, verify
from app.core.journal.writer import Journal, JournalStats

__all__ = [
    "Identity",
    "Journal",
    "JournalBodyError",
    "JournalError",
    "JournalEvent",
    "JournalStats",
    "KeyFileError",
    "VerifyResult",
    "canonical_json",
    "export_head",
    "load_anchors",
    "load_identity",
    "read_events",
    "read_sealed",
    "verify",
]
