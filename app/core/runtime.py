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
- Writes jump the queue: a link task checks for pending writes before every block read (the
  write path itself is ``runtime_writes.py``; what is polled, compiled once, ``runtime_plan.py``;
  the hand-over to sinks ``fanout.py``; per-device counters and state ``device_health.py``).
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
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from itertools import repeat

from app.core.device_health import DeviceHealth
from app.core.diagnostics import ERROR_KINDS, STATES, DeviceDiagnostics, backoff_delay
from app.core.errors import ConfigError
from app.core.fanout import FanOut, PollSink, SampleSink
from app.core.model import Quality, Sample, Value
from app.core.planner import build_plan
from app.core.plant import DeviceConfig, Plant
from app.core.ports.driver import CommError, DeviceException, Driver, MalformedReply
from app.core.profiles import Profile
from app.core.runtime_plan import SAME_TICK_S, Block, Device, Job, Link, job_due, resolve
from app.core.runtime_writes import WriteFailed, WritePath, WriteRefused, WriteResult, check_write

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
_tuple_new = tuple.__new__  # Sample(...) via its Python __new__ costs 2x more per sample
_map = map


DriverFactory = Callable[[DeviceConfig], Driver]


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
        self._devices: dict[str, Device] = {}
        self._links: list[Link] = []
        self._link_of: dict[str, Link] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._latency_window = latency_window
        self._writes = WritePath(self._emit, self._lock)
        self._build(latency_window)

    # ---------------------------------------------------------------- set-up
    def _make_device(self, cfg: DeviceConfig, profile: Profile, latency_window: int) -> Device | None:
        """The device with its scan jobs; None when it is not polled (disabled, bad plan)."""
        health = DeviceHealth(cfg.name, latency_window, self._lock, self._diagnostics_changed)
        dev = Device(cfg, profile, health)
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
        dev.add_jobs(plan)
        return dev

    def _build(self, latency_window: int) -> None:
        by_key: dict[tuple[object, ...], list[Device]] = {}
        for cfg in self.plant.devices:
            made = self._make_device(cfg, self.plant.profiles[cfg.name], latency_window)
            if made is not None:
                by_key.setdefault(cfg.link_key(), []).append(made)
        for n, (key, devices) in enumerate(by_key.items()):
            link = Link(key, devices)
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
        link = Link((*cfg.link_key(), "late"), [dev])
        self._links.append(link)
        self._link_of[dev.name] = link
        self._tasks.append(asyncio.create_task(self._run_link(link), name=f"link {link.key}"))

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
        p = check_write(dev, device, point, value)
        assert dev is not None  # check_write refused an unknown device
        where = f"{device}.{point}"
        loop = self.loop
        if loop is None or self._stopping or not loop.is_running():
            raise WriteFailed(f"write failed: {where}: the runtime is not running")
        if threading.current_thread() is self._thread:
            raise RuntimeError("Runtime.write() blocks; call it from another thread")
        submit = self._writes.submit(self._link_of.get(dev.name), dev, p, value, timeout)
        cf = asyncio.run_coroutine_threadsafe(submit, loop)
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
                resolve(link.wake)
        _done, pending = await asyncio.wait(tasks, timeout=3.0) if tasks else (set(), set())
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._links:
            if link.driver is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.driver.close(), 1.0)
            self._writes.fail_all(link, "the runtime is stopping")

    def _request_stop(self) -> None:
        self._stopping = True
        if self._stop_future is not None and not self._stop_future.done():
            self._stop_future.set_result(None)

    async def _run_link(self, link: Link) -> None:
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
                    await self._writes.run(link, link.writes.popleft())
                    continue
                jobs = link.jobs
                job = jobs[0] if len(jobs) == 1 else min(jobs, key=job_due)
                delay = job.next_due - time.monotonic()
                if delay > 0:
                    await self._sleep(link, delay)
                    # woken by the timer: poll now rather than go round the loop again (cheaper);
                    # woken by a write or a stop: go round
                    if link.writes or self._stopping or job.next_due > time.monotonic():
                        continue
                # every scan group of this device due at the same tick is read in one scan, so
                # its samples share one timestamp (one poll cycle = one row for detectors)
                due = job.next_due + SAME_TICK_S
                batch = [j for j in jobs if j.device is job.device and j.next_due <= due]
                if len(batch) == 1:
                    await self._poll(link, job)
                else:
                    await self._poll(link, Job.combined(job.device, batch))
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

    async def _connect(self, link: Link) -> bool:
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
            self._writes.fail_all(link, f"device offline ({text})")
            return False
        now = time.monotonic()
        # first connection: spread links over the interval; after a reconnect: poll at once
        delay = 0.0 if link.ever_connected else link.phase * min(j.interval for j in link.jobs)
        link.ever_connected = True
        for job in link.jobs:
            job.next_due = now + delay
        return True

    def _backoff(self, link: Link, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_base_s, min(self.backoff_cap_s, link.reconnect_cap_s))

    def reconnect_delay(self, device: str, attempt: int) -> float:
        """The wait before reconnect attempt ``attempt`` (0 = first retry) of ``device``'s link:
        doubling from ``backoff_base_s``, capped by the plant file, jittered."""
        return self._backoff(self._link_of[device], attempt)

    async def _sleep(self, link: Link, delay: float, writes_wake: bool = True) -> None:
        """Sleep up to ``delay`` s; a stop request (and, if ``writes_wake``, a write) wakes early."""
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        link.wake = fut if writes_wake else None
        handle = loop.call_later(delay, resolve, fut)
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

    async def _poll(self, link: Link, job: Job) -> None:
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
                    await self._writes.run(link, link.writes.popleft())
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

    def _decode_carefully(
        self, dev: Device, block: Block, data: Sequence[int] | Sequence[bool], t: float
    ) -> list[Sample]:
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

    def _emit(self, batch: list[Sample], dev: Device | None = None) -> None:
        """Hand a batch that is not (or not only) one completed poll to every sink."""
        if not batch:
            return
        if dev is not None:
            dev.diag.samples += len(batch)
        self.fanout.emit(batch)

    def _emit_poll(
        self, dev: Device, out: list[Sample], col_tags: list[tuple[str, ...]] | None, col_values: list[Value]
    ) -> None:
        """Hand one completed poll to the sinks (as columns to those that take them)."""
        dev.diag.samples += len(out)
        self.fanout.emit_poll(dev.name, out, col_tags, col_values)

    # ---------------------------------------------------------------- state and diagnostics
    def _go_offline(self, dev: Device, reason: str, already: AbstractSet[str] = frozenset()) -> None:
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
