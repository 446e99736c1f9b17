"""Sparkplug sequence numbers: ``seq`` (0..255, every node message after NBIRTH) and ``bdSeq``
(0..255, one per MQTT session: the NDEATH in the Will and the NBIRTH carry the same one)."""

from __future__ import annotations

import threading

SEQ_MODULO = 256


def next_seq(seq: int) -> int:
    """The seq that follows ``seq`` (255 -> 0)."""
    return (seq + 1) % SEQ_MODULO


class SeqCounter:
    """Hands out 0, 1, ... 255, 0, ... ; `reset()` starts again at 0 (at every NBIRTH).
    Thread-safe, so births and data published from different threads never share a number."""

    def __init__(self, start: int = 0) -> None:
        if not 0 <= start < SEQ_MODULO:
            raise ValueError(f"seq starts within 0..{SEQ_MODULO - 1}, not {start}")
        self._next = start
        self._lock = threading.Lock()

    def take(self) -> int:
        with self._lock:
            value = self._next
            self._next = next_seq(value)
            return value

    def reset(self, start: int = 0) -> None:
        with self._lock:
            self._next = start % SEQ_MODULO

    def peek(self) -> int:
        with self._lock:
            return self._next
