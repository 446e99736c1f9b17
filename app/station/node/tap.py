"""The node's place in the sample fan-out: a sink that only queues each completed poll for the
Sparkplug publisher thread, so the core thread never waits on encoding or the network."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

from app.core.model import Quality, Sample, Value

#: polls kept while the publisher is behind (a few seconds of a large plant); beyond it the
#: oldest are dropped and counted (the next poll of a device still carries its current values)
MAX_QUEUED_POLLS = 20_000


class Poll(NamedTuple):
    """One device's values of one moment, as the fan-out delivered them."""

    device: str
    t: float
    tags: tuple[str, ...]
    values: Sequence[Value]
    qualities: bytes | None  # one Quality code per value; None: every value GOOD


class SampleTap:
    """A `PollSink`: queue polls (bounded), wake the consumer. Never raises, never blocks."""

    def __init__(self, max_polls: int = MAX_QUEUED_POLLS) -> None:
        self._polls: deque[Poll] = deque()
        self._max = max_polls
        self._lock = threading.Lock()
        self.wake = threading.Event()
        self.dropped = 0

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
        with self._lock:
            if len(self._polls) >= self._max:
                self._polls.popleft()
                self.dropped += 1
            self._polls.append(poll)
        self.wake.set()

    def drain(self) -> list[Poll]:
        with self._lock:
            polls = list(self._polls)
            self._polls.clear()
        return polls


def quality_at(poll: Poll, i: int) -> Quality:
    return Quality.GOOD if poll.qualities is None else Quality(poll.qualities[i])
