"""The runtime's write path: check a setpoint write, queue it on its link, write, read back.

Why this shape:

- Everything that can be refused is refused before anything is sent (:func:`check_write`), on
  the caller's thread, with a message naming the device, the point and the reason.
- Writes jump the queue: the link's task takes pending writes before every block read, so a
  setpoint waits for at most one block read, not a whole scan.
- A write reads the old value, writes, and reads back, so the operator (and the journal) see
  what the device actually holds. The read-back goes out as a sample like any poll.
- A write not started by its deadline is dropped, never sent late; a caller that gave up
  (timed out) leaves a future whose error is marked as seen.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from app.core.codec import EncodeError, encode, make_decoder, set_bit, to_raw
from app.core.diagnostics import ERROR_KINDS
from app.core.errors import VigilError
from app.core.model import Quality, Sample, Value, tag_name
from app.core.ports.driver import CommError, DeviceException, MalformedReply
from app.core.profiles import DataType, Point
from app.core.runtime_plan import Device, Link, resolve


class WriteRefused(VigilError):
    """The write was not sent: unknown device or point, read-only point, value out of range."""


class WriteFailed(VigilError):
    """The write was attempted but the device did not confirm it (offline, timeout, exception)."""


class WriteResult(NamedTuple):
    """``old``: value before the write, ``new``: value asked for, ``readback``: value read after."""

    old: Value
    new: Value
    readback: Value


class PendingWrite(NamedTuple):
    """A write queued on its link, waiting for the link's task."""

    device: Device
    point: Point
    value: Value
    deadline: float  # monotonic; a write not started by then is dropped
    future: asyncio.Future[WriteResult]


def check_write(dev: Device | None, device: str, point: str, value: Value) -> Point:
    """The point to write, or WriteRefused saying why nothing will be sent."""
    if dev is None:
        raise WriteRefused(f"write refused: unknown device '{device}'")
    try:
        p = dev.profile.point(point)
    except KeyError:
        raise WriteRefused(f"write refused: device '{device}' has no point '{point}'") from None
    where = f"{device}.{point}"
    if not p.writable:
        raise WriteRefused(f"write refused: {where} is read-only")
    if not dev.cfg.enabled:
        raise WriteRefused(f"write refused: device '{device}' is disabled")
    try:
        to_raw(p, value)
        if not (p.type is DataType.BOOL and not p.table.is_bit_table):
            encode(dev.profile, p, value)
    except EncodeError as e:
        raise WriteRefused(f"write refused: {where}: {e}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if p.min is not None and value < p.min:
            raise WriteRefused(f"write refused: {where}: {value} is below the minimum {p.min:g}")
        if p.max is not None and value > p.max:
            raise WriteRefused(f"write refused: {where}: {value} is above the maximum {p.max:g}")
    return p


class WritePath:
    """Queues writes on links and carries them out on the core thread.

    ``emit(batch, device)`` hands the read-back sample to the runtime's sinks; ``lock`` is the
    runtime's diagnostics lock."""

    def __init__(self, emit: Callable[[list[Sample], Device], None], lock: threading.Lock) -> None:
        self._emit = emit
        self._lock = lock

    async def submit(self, link: Link | None, dev: Device, point: Point, value: Value,
                     timeout: float) -> WriteResult:
        """Core thread: queue the write on ``link`` and wait for its result."""
        where = f"{dev.name}.{point.name}"
        if link is None or dev.config_error:
            raise WriteFailed(f"write failed: {where}: device is not polled ({dev.diag.last_error})")
        if link.driver is None or not link.driver.connected:
            reason = dev.diag.last_error or "not connected"
            raise WriteFailed(f"write failed: {where}: device offline ({reason})")
        fut: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        # the caller may have given up (timeout) by the time this resolves: mark any error as seen
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        link.writes.append(PendingWrite(dev, point, value, time.monotonic() + timeout, fut))
        if link.wake is not None:
            resolve(link.wake)
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    @staticmethod
    def fail_all(link: Link, reason: str) -> None:
        """Fail every write queued on ``link`` (it went offline, or the runtime stops)."""
        while link.writes:
            w = link.writes.popleft()
            if not w.future.done():
                w.future.set_exception(WriteFailed(f"write failed: {w.device.name}.{w.point.name}: {reason}"))

    async def run(self, link: Link, w: PendingWrite) -> None:
        """Carry out one queued write and settle its future."""
        if w.future.done():
            return
        if time.monotonic() > w.deadline:
            where = f"{w.device.name}.{w.point.name}"
            w.future.set_exception(WriteFailed(f"write failed: {where}: not sent in time"))
            return
        try:
            result = await self._write_point(link, w)
        except Exception as e:
            if not w.future.done():
                w.future.set_exception(e)
        else:
            if not w.future.done():
                w.future.set_result(result)

    async def _write_point(self, link: Link, w: PendingWrite) -> WriteResult:
        dev, p = w.device, w.point
        driver = link.driver
        assert driver is not None
        where = f"{dev.name}.{p.name}"
        table = p.table.value
        decode = make_decoder(dev.profile, p)
        step = "reading the old value"
        try:
            before = await driver.read(dev.unit, table, p.address, p.width)  # type: ignore[arg-type]
            old = decode(before, 0)
            if p.table.is_bit_table:
                words: list[int] | list[bool] = [bool(to_raw(p, w.value))]
            elif p.type is DataType.BOOL:
                words = [set_bit(int(before[0]), p.bit or 0, bool(to_raw(p, w.value)))]
            else:
                words = encode(dev.profile, p, w.value)
            step = "writing"
            await driver.write(dev.unit, table, p.address, words)  # type: ignore[arg-type]
            step = "reading back"
            after = await driver.read(dev.unit, table, p.address, p.width)  # type: ignore[arg-type]
        except DeviceException as e:
            dev.health.record_error("exception", str(e), code=e.code)
            raise WriteFailed(
                f"write failed: {where}: device refused while {step} (exception code {e.code})"
            ) from None
        except CommError as e:
            dev.health.record_error(e.kind if e.kind in ERROR_KINDS else "io", str(e))
            raise WriteFailed(f"write failed: {where}: {e} while {step}") from None
        except MalformedReply as e:
            dev.health.record_error("malformed", str(e))
            raise WriteFailed(f"write failed: {where}: {e} while {step}") from None
        readback = decode(after, 0)
        with self._lock:
            dev.diag.requests += 3
        self._emit([Sample(tag_name(dev.name, p.name), readback, Quality.GOOD, time.time())], dev)
        return WriteResult(old, w.value, readback)
