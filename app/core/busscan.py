"""Find out what a Modbus link answers: which unit ids reply, and which addresses of a table read.

Used by ``vigil scan``. It speaks only through the SDK `Driver` contract, so the same code scans
Modbus TCP, an RTU bus, or any transport a plugin adds, and never imports pymodbus.

Politeness matters on a live plant bus, so the scan:

- keeps one request in flight (each is awaited before the next is sent);
- paces requests to at most ``rate_hz`` per second, measured from the start of one request to
  the start of the next, so even instant answers cannot turn it into a flood;
- bounds every request by the link's timeout (the driver's job) and the whole scan of one unit
  by ``max_requests_per_unit``;
- reconnects, paced the same way, when a silent unit made the driver drop a TCP link.

How an answer is read: data means readable; "illegal data address" (and other exception
responses) mean the unit is there but some address of that block is not readable. Such a block
is walked address by address, and each readable run found is measured with doubling reads and
a binary search for its end, which gives the exact readable ranges. A fully readable map costs
one request per block; a sparse one about one request per unreadable address. A gateway's
"target failed to respond" (exception 11) or "path unavailable" (10), and silence, mean no unit
answers at that id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.core.ports.driver import CommError, DeviceException, Driver, MalformedReply

TableName = Literal["coil", "discrete", "holding", "input"]
#: exception codes with which a Modbus gateway says "nobody answered at that unit id"
GATEWAY_NO_TARGET = frozenset({10, 11})


@dataclass(frozen=True)
class ScanOptions:
    units: Sequence[int]
    table: TableName = "holding"
    start: int = 0
    end: int = 99  # inclusive
    block: int = 0  # largest read; 0 = 125 registers or 256 bits
    rate_hz: float = 10.0
    max_requests_per_unit: int = 2000

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end <= 65535:
            raise ValueError(f"range {self.start}-{self.end} is not within 0-65535")
        if not self.units or any(not 0 <= u <= 255 for u in self.units):
            raise ValueError("unit ids must be 0-255")
        if not 0 < self.rate_hz <= 1000:
            raise ValueError("rate must be above 0 and at most 1000 requests per second")
        limit = 2000 if self.table in ("coil", "discrete") else 125
        if not 0 <= self.block <= limit:
            raise ValueError(f"block must be 1-{limit} for table '{self.table}'")

    @property
    def read_size(self) -> int:
        if self.block:
            return self.block
        return 256 if self.table in ("coil", "discrete") else 125


@dataclass
class UnitReport:
    """What one unit id did. ``ranges`` are inclusive (first, last) readable addresses."""

    unit: int
    answered: bool = False
    first_answer: str = ""  # "data", "exception 2", "no answer", "garbled reply", ...
    ranges: list[tuple[int, int]] = field(default_factory=list)
    requests: int = 0
    complete: bool = True  # False when the request budget ran out before the range was covered
    values: dict[int, int | bool] = field(default_factory=dict)

    @property
    def readable(self) -> int:
        return sum(b - a + 1 for a, b in self.ranges)


Sleep = Callable[[float], Awaitable[None]]


class _Pacer:
    """At most ``rate_hz`` request starts per second, one at a time."""

    def __init__(self, rate_hz: float, clock: Callable[[], float], sleep: Sleep) -> None:
        self.interval = 1.0 / rate_hz
        self.clock = clock
        self.sleep = sleep
        self.next_start = -float("inf")

    async def wait_turn(self) -> None:
        now = self.clock()
        if now < self.next_start:
            await self.sleep(self.next_start - now)
            now = self.clock()
        self.next_start = max(now, self.next_start) + self.interval


class BusScanner:
    """Scans through ``driver`` (connected or not); see the module docstring for the rules."""

    def __init__(
        self,
        driver: Driver,
        options: ScanOptions,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        on_progress: Callable[[UnitReport], None] | None = None,
    ) -> None:
        self.driver = driver
        self.options = options
        self._pacer = _Pacer(options.rate_hz, clock, sleep)
        self.on_progress = on_progress

    async def scan(self) -> list[UnitReport]:
        reports = []
        for unit in self.options.units:
            report = UnitReport(unit)
            await self._scan_unit(report)
            reports.append(report)
            if self.on_progress is not None:
                self.on_progress(report)
        return reports

    async def _request(self, report: UnitReport, address: int, count: int) -> list[int] | list[bool]:
        """One paced read; reconnects first if the link is down. Raises the driver's errors."""
        if not self.driver.connected:
            await self._pacer.wait_turn()
            await self.driver.connect()
        await self._pacer.wait_turn()
        report.requests += 1
        return await self.driver.read(report.unit, self.options.table, address, count)

    async def _scan_unit(self, report: UnitReport) -> None:
        o = self.options
        address = o.start
        while address <= o.end:
            if report.requests >= o.max_requests_per_unit:
                report.complete = False
                break
            n = min(o.read_size, o.end - address + 1)
            read = await self._probe(report, address, n)
            if not report.answered:
                return  # the first request already said nobody is there
            address = address + n if read else await self._walk(report, address, address + n - 1)
        report.ranges = _merge(report.ranges)

    async def _walk(self, report: UnitReport, first: int, last: int) -> int:
        """Find the readable runs inside a block that did not read as a whole; returns the
        address after the block. One request per unreadable address (a read of several
        addresses fails if any one is unreadable, so there is nothing to halve), and about
        2 x log2(length) per readable run (doubling reads, then a binary search for its end)."""
        x = first
        budget = self.options.max_requests_per_unit
        while x <= last:
            if report.requests >= budget:
                report.complete = False
                return self.options.end + 1
            if not await self._probe(report, x, 1):
                x += 1
                continue
            good, bad = 1, 0  # lengths known to read / known to fail (0 = none failed yet)
            room = last - x + 1
            while not bad and good < room and report.requests < budget:
                n = min(good * 2, room)
                if await self._probe(report, x, n):
                    good = n
                else:
                    bad = n
            while bad and bad - good > 1 and report.requests < budget:
                mid = (good + bad) // 2
                if await self._probe(report, x, mid):
                    good = mid
                else:
                    bad = mid
            # [x, x + good) reads; if a longer read failed, address x + good cannot be read
            x += good + (1 if bad == good + 1 else 0)
        return last + 1

    async def _probe(self, report: UnitReport, address: int, count: int) -> bool:
        """Read one block; True if it read. Sets ``answered`` from the first answer."""
        try:
            data = await self._request(report, address, count)
        except DeviceException as e:
            if not report.answered:
                if e.code in GATEWAY_NO_TARGET:
                    report.first_answer = f"gateway: no response from the unit (exception {e.code})"
                    return False
                report.answered, report.first_answer = True, f"exception {e.code}"
            return False
        except CommError as e:
            if not report.answered:
                report.first_answer = "no answer" if e.kind == "timeout" else f"link fault: {e}"
            # a unit that answered before and now stays silent on a block: treat like a refusal
            return False
        except MalformedReply as e:
            if not report.answered:
                report.first_answer = f"garbled reply: {e}"
            return False
        if not report.answered:
            report.answered, report.first_answer = True, "data"
        report.ranges.append((address, address + count - 1))
        for i, v in enumerate(data):
            report.values[address + i] = v
        return True


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def parse_id_list(text: str, low: int, high: int, what: str) -> list[int]:
    """'1-5,7,9-10' -> [1, 2, 3, 4, 5, 7, 9, 10]; raises ValueError naming the bad part."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            a, _, b = part.partition("-")
            first, last = int(a), int(b) if b else int(a)
        except ValueError:
            raise ValueError(f"{what} '{part}' is not a number or a range like 1-247") from None
        if not low <= first <= last <= high:
            raise ValueError(f"{what} '{part}' is not within {low}-{high}")
        out.extend(range(first, last + 1))
    return sorted(set(out))
