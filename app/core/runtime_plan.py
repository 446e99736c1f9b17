"""What the runtime polls, compiled once at start: devices, their scan jobs, the block reads of
each job with their decoders, and the links (connections) devices are polled over.

Kept apart from the runtime's loop so the loop reads as scheduling, and so this compiled form
(the hot path's data) can be looked at on its own. Nothing here does I/O or touches a thread.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from app.core.blockcodec import BlockDecoder, compile_block
from app.core.codec import Decoder
from app.core.device_health import DeviceHealth
from app.core.model import Value, tag_name
from app.core.planner import ScanGroup
from app.core.plant import DeviceConfig
from app.core.ports.driver import Driver
from app.core.profiles import DataType, Profile

if TYPE_CHECKING:
    from app.core.runtime_writes import PendingWrite

_FLOAT_TYPES = (DataType.FLOAT32, DataType.FLOAT64)
#: scan groups of one device whose due times are this close are read as one scan
SAME_TICK_S = 0.001


class BlockPoint(NamedTuple):
    """One point of a compiled block: its tag and how to decode it from the block's words."""

    tag: str
    decode: Decoder
    offset: int


class Block(NamedTuple):
    """One block read of a scan, ready for the hot path."""

    table: str
    address: int
    count: int  # type: ignore[assignment]  # shadows tuple.count (a mypy limitation)
    items: tuple[BlockPoint, ...]
    tags: tuple[str, ...]
    float_idx: tuple[int, ...]  # positions of float points (NaN/inf are not good values)
    decode_all: BlockDecoder  # words -> every item's value at once (the hot path)
    floats_of: Callable[[Sequence[Value]], Sequence[float]]  # the float points' values


class Job:
    """One scan group of one device, with its next absolute due time (monotonic clock)."""

    __slots__ = ("blocks", "device", "interval", "next_due")

    def __init__(self, device: Device, group: ScanGroup, blocks: list[Block]) -> None:
        self.device = device
        self.interval = group.interval_s
        self.blocks = blocks
        self.next_due = 0.0

    @classmethod
    def combined(cls, device: Device, jobs: list[Job]) -> Job:
        """A one-off job reading the blocks of several scan groups due at the same tick."""
        job = cls.__new__(cls)
        job.device = device
        job.interval = min(j.interval for j in jobs)
        job.blocks = [b for j in jobs for b in j.blocks]
        job.next_due = jobs[0].next_due
        return job


class Device:
    """One polled (or not polled: disabled, unplannable) device of the plant."""

    def __init__(self, cfg: DeviceConfig, profile: Profile, health: DeviceHealth) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.unit = cfg.unit
        self.profile = profile
        self.health = health
        self.diag = health.diag
        self.jobs: list[Job] = []
        self.all_tags = tuple(tag_name(cfg.name, p.name) for p in profile.points)
        self.config_error: str | None = None

    def add_jobs(self, plan: list[ScanGroup]) -> None:
        """Compile each scan group's block reads (decoders, float positions) into a job."""
        for group in plan:
            blocks = []
            for b in group.blocks:
                order, decode_all = compile_block(self.profile, b)
                ordered = [b.items[i] for i in order]  # the order decode_all returns values in
                items = tuple(BlockPoint(tag_name(self.name, i.point.name), i.decode, i.offset)
                              for i in ordered)
                floats = tuple(n for n, i in enumerate(ordered) if i.point.type in _FLOAT_TYPES)
                tags = tuple(i.tag for i in items)
                blocks.append(Block(b.table.value, b.address, b.count, items, tags, floats,
                                    decode_all, picker(floats)))
            self.jobs.append(Job(self, group, blocks))


class Link:
    """One connection (a TCP device, or a serial bus shared by its devices) and its task's state."""

    def __init__(self, key: tuple[object, ...], devices: list[Device]) -> None:
        self.key = key
        self.devices = devices
        self.jobs = [j for d in devices for j in d.jobs]
        self.writes: deque[PendingWrite] = deque()
        self.wake: asyncio.Future[None] | None = None
        self.driver: Driver | None = None
        #: consecutive failures (connect or link loss) since the last good read: drives backoff
        self.failures = 0
        #: fraction of an interval this link's first poll is delayed by, so that links do not all
        #: fire on the same instant every tick (bursts queue up in servers, gateways and here)
        self.phase = 0.0
        self.ever_connected = False
        #: the plant file's ``reconnect_max_ms`` (the shortest of the devices sharing the link)
        self.reconnect_cap_s = min(d.cfg.reconnect_max_ms for d in devices) / 1000.0


def picker(indices: tuple[int, ...]) -> Callable[[Sequence[Value]], Sequence[Any]]:
    """``values -> the values at indices`` as a tuple (itemgetter is C; it returns a bare value
    for a single index, hence the wrapper). Typed ``Any``: the indices are the float points',
    which the type system cannot know."""
    if len(indices) == 1:
        i = indices[0]
        return lambda values: (values[i],)
    if not indices:
        return lambda values: ()
    return itemgetter(*indices)


def job_due(job: Job) -> float:
    return job.next_due


def resolve(fut: asyncio.Future[None]) -> None:
    """Wake whoever awaits ``fut`` (a link's sleep), once."""
    if not fut.done():
        fut.set_result(None)
