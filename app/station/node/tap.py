"""The node's place in the sample fan-out: a sink that only hands each completed poll to the
Sparkplug publisher thread, so the core thread never waits on encoding or the network.

Pending polls are kept per device and scan group, the newest replacing an older one the
publisher has not taken yet. Report-by-exception needs only the newest values (every value is
in the node's historian anyway), so a publisher that falls behind, on a starved machine, sends
current values late by at most one round instead of an ever older backlog.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Sequence
from typing import NamedTuple

from app.core.model import Sample, Value


class Poll(NamedTuple):
    """One device's values of one moment, as the fan-out delivered them."""

    device: str
    t: float
    tags: tuple[str, ...]
    values: Sequence[Value]
    qualities: bytes | None  # one Quality code per value; None: every value GOOD


class Wakeup:
    """A flag any thread may raise, that the publisher waits on in the same ``select`` as its
    broker socket (one byte on a socket pair while raised). Raising a raised flag is a
    attribute check, so a poll that arrives while the publisher gathers costs no system call."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._raised = False

    def set(self) -> None:
        if not self._raised:
            self._raised = True
            with contextlib.suppress(OSError):  # full (so already readable), or closed at exit
                self._w.send(b"\0")

    def is_set(self) -> bool:
        return self._raised

    def clear(self) -> None:
        """Lower the flag. Emptied before it is lowered: a `set` racing with this leaves the flag
        raised (the consumer looks again) rather than lowered with the wake-up swallowed."""
        try:
            while self._r.recv(4096):
                pass
        except OSError:  # empty (BlockingIOError) or closed
            pass
        self._raised = False

    def wait(self, timeout: float) -> bool:
        if not self._raised:
            select.select([self._r], [], [], timeout)
        return self._raised

    def fileno(self) -> int:
        return self._r.fileno()

    def close(self) -> None:
        self._r.close()
        self._w.close()


class SampleTap:
    """A `PollSink`: keep the newest pending poll per device and scan group (bounded by the
    plant's size), wake the consumer. Never raises, never blocks."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, tuple[str, ...]], Poll] = {}
        self._lock = threading.Lock()
        #: raised when a poll is pending (or the publisher must look for another reason)
        self.wake = Wakeup()
        #: polls replaced by a newer one of the same device and group before being published
        self.coalesced = 0

    def on_poll(self, device: str, t: float, tags: tuple[str, ...], values: Sequence[Value],
                qualities: bytes | None) -> None:
        self._put(Poll(device, t, tags, values, qualities))

    def on_samples(self, batch: Sequence[Sample]) -> None:
        """Batches that are not one poll (a device going offline sends BAD_COMM for all its
        tags this way): regrouped per device and time."""
        groups: dict[tuple[str, float], list[Sample]] = {}
        for s in batch:
            groups.setdefault((s.tag.partition(".")[0], s.t), []).append(s)
        for (device, t), samples in groups.items():
            self._put(Poll(device, t, tuple(s.tag for s in samples), [s.value for s in samples],
                           bytes(int(s.quality) for s in samples)))

    def _put(self, poll: Poll) -> None:
        key = (poll.device, poll.tags)
        with self._lock:
            if key in self._pending:
                self.coalesced += 1
            self._pending[key] = poll
        self.wake.set()

    def drain(self) -> list[Poll]:
        with self._lock:
            polls = list(self._pending.values())
            self._pending.clear()
        return polls
