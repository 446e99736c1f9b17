"""A station for the bridge's tests: the real snapshot buffer the core feeds, behind the few
methods the bridge calls, with samples pushed from another thread as the core does (the
``station`` and ``bridge`` fixtures in conftest.py are built on it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from app.core.model import Quality, Sample
from app.core.snapshot import SnapshotBuffer


class BufferStation:
    """What the bridge reads of a station, over a real ``SnapshotBuffer``; counts drains."""

    def __init__(self) -> None:
        self.buffer = SnapshotBuffer()
        self.drains = 0
        self.alarm_listener: Callable[[Any], None] | None = None

    def drain_samples(self) -> list[Sample]:
        self.drains += 1
        return self.buffer.drain()

    def samples_dropped(self) -> int:
        return self.buffer.dropped

    def diagnostics(self) -> dict[str, Any]:
        return {}

    def in_flood(self) -> bool:
        return False

    def alarms(self) -> list[Any]:
        return []

    def subscribe_alarms(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        self.alarm_listener = callback
        return lambda: None

    def push(self, samples: list[Sample]) -> None:
        """As the core does: from its own thread."""
        t = threading.Thread(target=self.buffer.on_samples, args=(samples,))
        t.start()
        t.join()


class NotifyingStation(BufferStation):
    def notify_samples(self, waiting: Callable[[], None] | None) -> None:
        self.buffer.notify(waiting)


def sample(i: int, tag: str = "tank.level") -> Sample:
    return Sample(tag, float(i), Quality.GOOD, time.time())
