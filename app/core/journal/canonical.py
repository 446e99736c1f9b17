"""Canonical JSON: the one byte form of an event body that is hashed and stored.

A hash chain is only checkable if every reader turns the same body into the same bytes, so the
body is serialised exactly once (sorted keys, no whitespace, UTF-8) and those bytes are stored
as they were hashed. NaN and Infinity have no JSON spelling that every reader agrees on, so
they are refused rather than silently written as non-standard tokens.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


class JournalBodyError(ValueError):
    """An event body cannot be written to the journal (not JSON, NaN/Infinity, bad text)."""


def canonical_json(value: Any, *, what: str = "event body") -> bytes:
    """Serialise ``value`` to canonical JSON bytes, or raise :class:`JournalBodyError` saying why."""
    try:
        return _ENCODER.encode(value).encode("utf-8")
    except ValueError as e:  # allow_nan=False and circular references both raise ValueError
        if "Out of range float" in str(e):
            raise JournalBodyError(
                f"{what}: NaN and Infinity are not allowed in the journal (JSON has no such "
                f"numbers); record them as null or as a string such as \"nan\""
            ) from None
        raise JournalBodyError(f"{what}: {e}") from None
    except TypeError as e:
        raise JournalBodyError(
            f"{what}: only str, int, float, bool, None, list and dict can be journalled ({e})"
        ) from None
    except UnicodeEncodeError as e:
        raise JournalBodyError(f"{what}: text is not valid Unicode ({e.reason})") from None
