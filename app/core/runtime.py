"""The polling runtime: asyncio in its own thread, one task per link, samples out to sinks.

Why this shape:

- One task per link (``DeviceConfig.link_key()``): each TCP device has its own connection, so a
  dead or garbage-speaking device only ever delays itself; RTU devices on one serial bus share
  a task because the bus carries one request at a time anyway.
- Scan groups are scheduled on absolute ticks (``t0 + k * interval``) so they do not drift;
  a tick that is already past when the previous poll ends is skipped and counted as an overrun
  instead of bunching polls up.
- Reconnects back off exponentially with jitter so a plant full of devices that lost power does
  not reconnect in lock-step when it comes back.
- Writes jump the queue: a link task checks for pending writes before every block read.
- Nothing is shown good when it is not: a failed read produces BAD_COMM / BAD_DEVICE samples
  (value None) for every point of that block, a point that cannot be decoded is BAD_CONFIG.
- Sinks are called on the core thread and must be quick; one that raises is counted and the
  polling goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from itertools import repeat
from operator import itemgetter
from typing import Any, NamedTuple

from app.core.blockcodec import BlockDecoder, compile_block
from app.core.codec import EncodeError, encode, make_decoder, set_bit, to_raw
from app.core.device_health import DeviceHealth
from app.core.diagnostics import ERROR_KINDS, STATES, DeviceDiagnostics, backoff_delay
from app.core.errors import ConfigError, VigilError
from app.core.fanout import FanOut, PollSink, SampleSink
from app.core.model import Quality, Sample, Value, tag_name
from app.core.planner import ScanGroup, build_plan
from app.core.plant import DeviceConfig, Plant
from app.core.ports.driver import CommError, DeviceException, Driver, MalformedReply
from app.core.profiles import DataType, Point, Profile

log = logging.getLogger("vigil.runtime")

__all__ = [
    "ERROR_KINDS",
    "STATES",
    "DeviceDiagnostics",
    "PollSink",
    "Runtime",
    "SampleSink",
    "WriteFailed",
    "WriteRefused",
    "WriteResult",
    "backoff_delay",
]


_GOOD = Quality.GOOD
_BAD_COMM = Quality.BAD_COMM
_BAD_DEVICE = Quality.BAD_DEVICE
_BAD_CONFIG = Quality.BAD_CONFIG
_FLOAT_TYPES = (DataType.FLOAT32, DataType.FLOAT64)
_tuple_new = tuple.__new__  # Sample(...) via its Python __new__ costs 2x more per sample
_map = map


DriverFactory = Callable[[DeviceConfig], Driver]


class WriteRefused(VigilError):
    """The write was not sent: unknown device or point, read-only point, value out of range."""


class WriteFailed(VigilError):
    """The write was attempted but the device did not confirm it (offline, timeout, exception)."""


class WriteResult(NamedTuple):
    """``old``: value before the write, ``new``: value asked for, ``readback``: value read after."""

    old: Value
    new: Value
    readback: Value


class _Block(NamedTuple):
    table: str
    address: int
    count: int  # type: ignore[assignment]  # shadows tuple.count (a mypy limitation)
    items: tuple[tuple[str, Any, int], ...]  # (tag, decode, offset)
    tags: tuple[str, ...]
    float_idx: tuple[int, ...]  # positions of float points (NaN/inf are not good values)
    decode_all: BlockDecoder  # words -> every item's value at once (the hot path)
    floats_of: Callable[[Sequence[Value]], Sequence[float]]  # the float points' values


class _Job:
    """One scan group of one device, with its next absolute due time (monotonic clock)."""

    __slots__ = ("blocks", "device", "interval", "next_due")

    def __init__(self, device: _Device, group: ScanGroup, blocks: list[_Block]) -> None:
        self.device = device
        self.interval = group.interval_s
        self.blocks = blocks
        self.next_due = 0.0

    @classmethod
    def combined(cls, device: _Device, jobs: list[_Job]) -> _Job:
        """A one-off job reading the blocks of several scan groups due at the same tick."""
        job = cls.__new__(cls)
        job.device = device
        job.interval = min(j.interval for j in jobs)
        job.blocks = [b for j in jobs for b in j.blocks]
        job.next_due = jobs[0].next_due
        return job


#: scan groups of one device whose due times are this close are read as one scan
_SAME_TICK_S = 0.001


class _Device:
    def __init__(self, cfg: DeviceConfig, profile: Profile, health: DeviceHealth) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.unit = cfg.unit
        self.profile = profile
        self.health = health
        self.diag = health.diag
        self.jobs: list[_Job] = []
        self.all_tags = tuple(tag_name(cfg.name, p.name) for p in profile.points)
        self.config_error: str | None = None


class _Write(NamedTuple):
    device: _Device
    point: Point
    value: Value
    deadline: float  # monotonic; a write not started by then is dropped
    future: asyncio.Future[WriteResult]


class _Link:
    def __init__(self, key: tuple[Any, ...], devices: list[_Device]) -> None:
        self.key = key
        self.devices = devices
        self.jobs = [j for d in devices for j in d.jobs]
        self.writes: deque[_Write] = deque()
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


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Runtime:
    """Polls every enabled device of ``plant`` and hands samples to ``sinks``.

    ``driver_factory(device_config)`` returns the Driver for a link (called once per link with
    its first device). ``on_diagnostics(diag)`` is called on the core thread with a copy of a
    device's diagnostics whenever its state changes. ``backoff_base_s``/``backoff_cap_s`` bound
    the reconnect delay (tests make them small); each link's own ceiling is its devices'
    ``reconnect_max_ms`` from the plant file.

    A sink that has ``on_poll`` as well as ``on_samples`` (``PollSink``) is given each completed
    device poll as columns through ``on_poll`` instead of ``on_samples``: the runtime holds a
    poll's tags tuple and decoded values list anyway, and a column store (the historian) then
    packs them without walking 50 Sample tuples per poll. Batches that are not one poll (a
    device going offline, a write's read-back, a scan cut short by a lost link) still go to
    ``on_samples``, so such a sink must handle both.
    """

    def __init__(
        self,
        plant: Plant,
        driver_factory: DriverFactory,
        sinks: Sequence[SampleSink | Callable[[Sequence[Sample]], None]] = (),
        on_diagnostics: Callable[[DeviceDiagnostics], None] | None = None,
        *,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        latency_window: int = 500,
    ) -> None:
        self.plant = plant
        self.driver_factory = driver_factory
        self.fanout = FanOut(sinks)
        #: how many times each sink raised (counted; polling goes on)
        self.sink_errors = self.fanout.errors
        self.on_diagnostics = on_diagnostics
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stopping = False
        self._stop_future: asyncio.Future[None] | None = None
        self._devices: dict[str, _Device] = {}
        self._links: list[_Link] = []
        self._link_of: dict[str, _Link] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._latency_window = latency_window
        self._build(latency_window)

    # ---------------------------------------------------------------- set-up
    def _make_device(self, cfg: DeviceConfig, profile: Profile, latency_window: int) -> _Device | None:
        """The device with its scan jobs; None when it is not polled (disabled, bad plan)."""
        health = DeviceHealth(cfg.name, latency_window, self._lock, self._diagnostics_changed)
        dev = _Device(cfg, profile, health)
        with self._lock:
            self._devices[cfg.name] = dev
        if not cfg.enabled:
            dev.diag.state = "disabled"
            return None
        try:
            plan = build_plan(dev.profile, cfg.interval_ms / 1000.0)
        except ConfigError as e:
            dev.config_error = f"device '{cfg.name}': {e}"
            dev.diag.state = "offline"
            dev.diag.last_error = dev.config_error
            return None
        self._add_jobs(dev, plan)
        return dev

    def _build(self, latency_window: int) -> None:
        by_key: dict[tuple[Any, ...], list[_Device]] = {}
        for cfg in self.plant.devices:
            made = self._make_device(cfg, self.plant.profiles[cfg.name], latency_window)
            if made is not None:
                by_key.setdefault(cfg.link_key(), []).append(made)
        for n, (key, devices) in enumerate(by_key.items()):
            link = _Link(key, devices)
            link.phase = n / len(by_key)
            self._links.append(link)
            for d in devices:
                self._link_of[d.name] = link

    def add_device(self, cfg: DeviceConfig, profile: Profile) -> None:
        """Start polling a device found after start (a register map discovered late), on a
        link of its own. Any thread; the plant itself is the caller's to update."""
        if cfg.name in self._devices:
            raise ValueError(f"device '{cfg.name}' is already polled")
        loop = self.loop
        if loop is None:
            raise RuntimeError("add_device() needs a started runtime")
        loop.call_soon_threadsafe(self._add_on_loop, cfg, profile)

    def _add_on_loop(self, cfg: DeviceConfig, profile: Profile) -> None:
        """Core thread: the device, its link and the link's task."""
        if self._stopping or cfg.name in self._devices:
            return
        dev = self._make_device(cfg, profile, self._latency_window)
        if dev is None:  # disabled, or a register map that cannot be read: said like at start
            self._devices[cfg.name].health.notify()
            return
        if cfg.serial is not None and any(link.key == cfg.link_key() for link in self._links):
            # a bus is polled by one link; joining it mid-run would open the port twice
            dev.config_error = (f"device '{cfg.name}': discovered after start on a shared serial "
                                "bus; restart Vigil to poll it")
            dev.health.set_state("offline", dev.config_error)
            return
        link = _Link((*cfg.link_key(), "late"), [dev])
        self._links.append(link)
        self._link_of[dev.name] = link
        self._tasks.append(asyncio.create_task(self._run_link(link), name=f"link {link.key}"))

    def _add_jobs(self, dev: _Device, plan: list[ScanGroup]) -> None:
        cfg = dev.cfg
        for group in plan:
            blocks = []
            for b in group.blocks:
                order, decode_all = compile_block(dev.profile, b)
                ordered = [b.items[i] for i in order]  # the order decode_all returns values in
                items = tuple((tag_name(cfg.name, i.point.name), i.decode, i.offset) for i in ordered)
                floats = tuple(n for n, i in enumerate(ordered) if i.point.type in _FLOAT_TYPES)
                tags = tuple(t for t, _, _ in items)
                blocks.append(_Block(b.table.value, b.address, b.count, items, tags, floats,
                                     decode_all, _picker(floats)))
            dev.jobs.append(_Job(dev, group, blocks))

    # ---------------------------------------------------------------- public API
    def start(self) -> None:
        """Start the core thread (asyncio loop); returns once the loop runs."""
        if self._thread is not None:
            raise RuntimeError("Runtime already started")
        self._thread = threading.Thread(target=self._thread_main, name="vigil-core", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling, close every link and join the core thread."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(self._request_stop)
        thread.join(timeout)

    def diagnostics(self) -> dict[str, DeviceDiagnostics]:
        """Copies of every device's diagnostics (safe from any thread)."""
        with self._lock:
            return {name: dev.health.snapshot_locked() for name, dev in self._devices.items()}

    def write(self, device: str, point: str, value: Value, timeout: float = 5.0) -> WriteResult:
        """Write ``value`` (engineering units) to ``device.point``, read it back; any thread but
        the core thread. Raises WriteRefused before sending anything if the request is invalid,
        WriteFailed if the device did not confirm it."""
        dev = self._devices.get(device)
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
        loop = self.loop
        if loop is None or self._stopping or not loop.is_running():
            raise WriteFailed(f"write failed: {where}: the runtime is not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("Runtime.write() blocks; call it from another thread")
        cf = asyncio.run_coroutine_threadsafe(self._submit_write(dev, p, value, timeout), loop)
        try:
            return cf.result(timeout + 1.0)
        except TimeoutError:
            cf.cancel()
            raise WriteFailed(
                f"write failed: {where}: no confirmation within {timeout:g} s "
                "(it may or may not have been applied)"
            ) from None

    # ---------------------------------------------------------------- core thread
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # never let the core thread die silently
            log.exception("core thread stopped by an unexpected error")
            self._ready.set()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop_future = self.loop.create_future()
        self._ready.set()
        for dev in self._devices.values():
            if dev.config_error:
                t = time.time()
                self._emit([Sample(tag, None, _BAD_CONFIG, t) for tag in dev.all_tags], dev)
                dev.health.notify()
        tasks = self._tasks
        tasks += [asyncio.create_task(self._run_link(link), name=f"link {link.key}") for link in self._links]
        await self._stop_future
        for link in self._links:
            if link.wake is not None:
                _resolve(link.wake)
        _done, pending = await asyncio.wait(tasks, timeout=3.0) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._links:
            if link.driver is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.driver.close(), 1.0)
            while link.writes:
                w = link.writes.popleft()
                if not w.future.done():
                    w.future.set_exception(WriteFailed("write failed: the runtime is stopping"))

    def _request_stop(self) -> None:
        self._stopping = True
        if self._stop_future is not None and not self._stop_future.done():
            self._stop_future.set_result(None)

    async def _run_link(self, link: _Link) -> None:
        first = link.devices[0]
        try:
            link.driver = self.driver_factory(first.cfg)
        except Exception as e:
            msg = f"no driver for transport '{first.cfg.transport}': {e}"
            for dev in link.devices:
                dev.config_error = f"device '{dev.name}': {msg}"
                dev.health.set_state("offline", dev.config_error)
                self._emit([Sample(tag, None, _BAD_CONFIG, time.time()) for tag in dev.all_tags], dev)
            return
        while not self._stopping:
            try:
                if not link.driver.connected:
                    if link.failures:
                        await self._sleep(link, self._backoff(link, link.failures - 1), writes_wake=False)
                        if self._stopping:
                            break
                    if not await self._connect(link):
                        link.failures += 1
                        continue
                if link.writes:
                    await self._do_write(link, link.writes.popleft())
                    continue
                jobs = link.jobs
                job = jobs[0] if len(jobs) == 1 else min(jobs, key=_due)
                delay = job.next_due - time.monotonic()
                if delay > 0:
                    await self._sleep(link, delay)
                    # woken by the timer: poll now rather than go round the loop again (cheaper);
                    # woken by a write or a stop: go round
                    if link.writes or self._stopping or job.next_due > time.monotonic():
                        continue
                # every scan group of this device due at the same tick is read in one scan, so
                # its samples share one timestamp (one poll cycle = one row for detectors)
                due = job.next_due + _SAME_TICK_S
                batch = [j for j in jobs if j.device is job.device and j.next_due <= due]
                if len(batch) == 1:
                    await self._poll(link, job)
                else:
                    await self._poll(link, _Job.combined(job.device, batch))
                now = time.monotonic()
                for j in batch:
                    j.next_due += j.interval
                    if j.next_due <= now:
                        missed = int((now - j.next_due) / j.interval) + 1
                        j.next_due += missed * j.interval
                        with self._lock:
                            j.device.diag.overruns += missed
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a bug in a driver must not end polling of this link
                log.warning("link %s: unexpected error: %s", link.key, e)
                for dev in link.devices:
                    dev.health.record_error("io", f"driver error: {type(e).__name__}: {e}")
                link.failures += 1
                await self._sleep(link, self._backoff(link, link.failures - 1), writes_wake=False)

    async def _connect(self, link: _Link) -> bool:
        """Open the link once; on failure mark its devices offline (the caller backs off)."""
        assert link.driver is not None
        if link.failures == 0:
            for dev in link.devices:
                if dev.diag.state != "offline":
                    dev.health.set_state("connecting", dev.diag.last_error)
        try:
            await link.driver.connect()
        except Exception as e:
            kind = e.kind if isinstance(e, CommError) and e.kind in ERROR_KINDS else "connect"
            text = str(e) if isinstance(e, CommError) else f"connect failed: {type(e).__name__}: {e}"
            for dev in link.devices:
                dev.health.record_error(kind, text)
                self._go_offline(dev, text)
            self._fail_writes(link, f"device offline ({text})")
            return False
        now = time.monotonic()
        # first connection: spread links over the interval; after a reconnect: poll at once
        delay = 0.0 if link.ever_connected else link.phase * min(j.interval for j in link.jobs)
        link.ever_connected = True
        for job in link.jobs:
            job.next_due = now + delay
        return True

    def _backoff(self, link: _Link, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_base_s, min(self.backoff_cap_s, link.reconnect_cap_s))

    def reconnect_delay(self, device: str, attempt: int) -> float:
        """The wait before reconnect attempt ``attempt`` (0 = first retry) of ``device``'s link:
        doubling from ``backoff_base_s``, capped by the plant file, jittered."""
        return self._backoff(self._link_of[device], attempt)

    async def _sleep(self, link: _Link, delay: float, writes_wake: bool = True) -> None:
        """Sleep up to ``delay`` s; a stop request (and, if ``writes_wake``, a write) wakes early."""
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        link.wake = fut if writes_wake else None
        handle = loop.call_later(delay, _resolve, fut)
        stop = self._stop_future
        try:
            if writes_wake:
                await fut
            else:
                assert stop is not None
                await asyncio.wait([fut, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            handle.cancel()
            link.wake = None

    async def _poll(self, link: _Link, job: _Job) -> None:
        dev = job.device
        driver = link.driver
        assert driver is not None
        out: list[Sample] = []
        perf = time.perf_counter
        good = comm_failed = False
        #: the poll as columns while every block so far decoded GOOD on the fast path
        col_tags: list[tuple[str, ...]] = []
        col_values: list[Value] = []
        all_good = True
        for n, block in enumerate(job.blocks):
            if link.writes:  # writes go first, even in the middle of a scan
                while link.writes:
                    await self._do_write(link, link.writes.popleft())
            t0 = perf()
            try:
                data = await driver.read(dev.unit, block.table, block.address, block.count)  # type: ignore[arg-type]
            except DeviceException as e:
                t = time.time()
                dev.health.record_error("exception", str(e), code=e.code, latency=perf() - t0)
                out.extend([Sample(tag, None, _BAD_DEVICE, t) for tag in block.tags])
                all_good = False
                continue
            except Exception as e:
                t = time.time()
                comm_failed = True
                if isinstance(e, CommError):
                    kind = e.kind if e.kind in ERROR_KINDS else "io"
                elif isinstance(e, MalformedReply):
                    kind = "malformed"
                else:
                    kind, e = "io", RuntimeError(f"driver error: {type(e).__name__}: {e}")
                dev.health.record_error(kind, str(e))
                if driver.connected:
                    out.extend([Sample(tag, None, _BAD_COMM, t) for tag in block.tags])
                    all_good = False
                    continue
                # the link is gone: everything not yet read in this scan is bad too
                for rest in job.blocks[n:]:
                    out.extend([Sample(tag, None, _BAD_COMM, t) for tag in rest.tags])
                self._emit(out, dev)
                link.failures += 1
                done = {s.tag for s in out}
                for other in link.devices:
                    self._go_offline(other, str(e), done if other is dev else frozenset())
                return
            t = time.time()
            latency = perf() - t0
            try:
                values = block.decode_all(data)
            except Exception:
                samples = self._decode_carefully(dev, block, data, t)
                check_floats = True
            else:
                fields = zip(block.tags, values, repeat(_GOOD), repeat(t))
                samples = list(_map(_tuple_new, repeat(Sample), fields))
                # one C-level sum tells whether any float is NaN/inf (or the sum overflowed)
                check_floats = bool(block.float_idx) and not math.isfinite(sum(block.floats_of(values)))
            if check_floats:
                all_good = False
                for i in block.float_idx:
                    v = samples[i].value
                    if isinstance(v, float) and not math.isfinite(v):
                        samples[i] = Sample(samples[i].tag, None, _BAD_DEVICE, t)
            out.extend(samples)
            if all_good:
                col_tags.append(block.tags)
                col_values += values
            good = True
            dev.health.record_good(t, latency)
            if dev.diag.state != "online":
                dev.health.set_state("online", dev.diag.last_error)
        if len(job.blocks) > 1 and out:
            # One scan, one timestamp: every sample of a device's scan carries the time the
            # scan completed, so consumers (detector rows, trend cursors, CSV) can join the
            # points of one poll exactly. Single-block scans already share theirs.
            t_end = out[-1][3]
            if out[0][3] != t_end:
                out = [_tuple_new(Sample, (s[0], s[1], s[2], t_end)) for s in out]
        if out:
            self._emit_poll(dev, out, col_tags if all_good else None, col_values)
        if good:
            link.failures = 0
        elif comm_failed:  # answered nothing usable this scan (e.g. a silent unit on a shared bus)
            self._go_offline(dev, dev.diag.last_error, {s.tag for s in out})

    def _decode_carefully(self, dev: _Device, block: _Block, data: Sequence[Any], t: float) -> list[Sample]:
        samples = []
        for tag, dec, off in block.items:
            try:
                samples.append(Sample(tag, dec(data, off), _GOOD, t))
            except Exception as e:
                with self._lock:
                    dev.diag.last_error = f"{tag}: cannot decode: {e}"
                    dev.diag.last_error_t = t
                samples.append(Sample(tag, None, _BAD_CONFIG, t))
        return samples

    def _emit(self, batch: list[Sample], dev: _Device | None = None) -> None:
        """Hand a batch that is not (or not only) one completed poll to every sink."""
        if not batch:
            return
        if dev is not None:
            dev.diag.samples += len(batch)
        self.fanout.emit(batch)

    def _emit_poll(
        self, dev: _Device, out: list[Sample], col_tags: list[tuple[str, ...]] | None, col_values: list[Value]
    ) -> None:
        """Hand one completed poll to the sinks (as columns to those that take them)."""
        dev.diag.samples += len(out)
        self.fanout.emit_poll(dev.name, out, col_tags, col_values)

    # ---------------------------------------------------------------- state and diagnostics
    def _go_offline(self, dev: _Device, reason: str, already: AbstractSet[str] = frozenset()) -> None:
        """Mark ``dev`` offline and, once per outage, send BAD_COMM for every tag of it not in
        ``already`` (those just got their bad sample) so no value of it stays shown as good."""
        if dev.diag.state == "offline":
            return
        t = time.time()
        self._emit([Sample(tag, None, _BAD_COMM, t) for tag in dev.all_tags if tag not in already], dev)
        dev.health.set_state("offline", reason)

    def _diagnostics_changed(self, snap: DeviceDiagnostics) -> None:
        if self.on_diagnostics is not None:
            self.on_diagnostics(snap)

    # ---------------------------------------------------------------- writes
    async def _submit_write(self, dev: _Device, point: Point, value: Value, timeout: float) -> WriteResult:
        link = self._link_of.get(dev.name)
        where = f"{dev.name}.{point.name}"
        if link is None or dev.config_error:
            raise WriteFailed(f"write failed: {where}: device is not polled ({dev.diag.last_error})")
        if link.driver is None or not link.driver.connected:
            reason = dev.diag.last_error or "not connected"
            raise WriteFailed(f"write failed: {where}: device offline ({reason})")
        fut: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        # the caller may have given up (timeout) by the time this resolves: mark any error as seen
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        link.writes.append(_Write(dev, point, value, time.monotonic() + timeout, fut))
        if link.wake is not None:
            _resolve(link.wake)
        return await asyncio.wait_for(asyncio.shield(fut), timeout)

    def _fail_writes(self, link: _Link, reason: str) -> None:
        while link.writes:
            w = link.writes.popleft()
            if not w.future.done():
                w.future.set_exception(WriteFailed(f"write failed: {w.device.name}.{w.point.name}: {reason}"))

    async def _do_write(self, link: _Link, w: _Write) -> None:
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

    async def _write_point(self, link: _Link, w: _Write) -> WriteResult:
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
        self._emit([Sample(tag_name(dev.name, p.name), readback, _GOOD, time.time())], dev)
        return WriteResult(old, w.value, readback)


def _picker(indices: tuple[int, ...]) -> Callable[[Sequence[Value]], Sequence[Any]]:
    """``values -> the values at indices`` as a tuple (itemgetter is C; it returns a bare value
    for a single index, hence the wrapper)."""
    if len(indices) == 1:
        i = indices[0]
        return lambda values: (values[i],)
    if not indices:
        return lambda values: ()
    return itemgetter(*indices)


def _due(job: _Job) -> float:
    return job.next_due
