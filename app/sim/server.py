"""Serve the demo plant over Modbus TCP with pymodbus 3.16: one port, one unit id per device.

Registers are produced on demand: every request runs the device's ``action`` hook, which copies
the current register image (the model's values encoded through the device's profile) into
pymodbus's store before it answers, and turns client writes into model writes. The model moves
in update steps (10 Hz by default) against the wall clock, so simulated time = real time (times
``speed``); it is brought up to the current step when someone looks (a request, or
``SimulatorThread.call``), and a device's image is encoded again only when the model moved
since its last request. The model's ticks are fixed, so the values are the same as stepping it
on a timer, without waking 10 times a second to encode registers nobody reads.

Faults: a ``dead`` device does not answer at all (the request is dropped, the client times out);
an ``exception`` device answers every request with exception 4 (server device failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from app.core.profiles import Profile, Table
from app.sim.demo import DEMO_DEVICES, load_demo_profiles
from app.sim.faults import FaultSpec
from app.sim.model import PlantModel
from app.sim.registers import RegisterImage, WriteRefused

log = logging.getLogger(__name__)
T = TypeVar("T")

_TABLE_OF_FC: dict[int, Table] = {
    1: Table.COIL, 5: Table.COIL, 15: Table.COIL,
    2: Table.DISCRETE,
    3: Table.HOLDING, 6: Table.HOLDING, 16: Table.HOLDING, 22: Table.HOLDING, 23: Table.HOLDING,
    4: Table.INPUT,
}
#: SimDevice's non-shared layout order
_TUPLE_ORDER = (Table.COIL, Table.DISCRETE, Table.HOLDING, Table.INPUT)


def _sim_blocks(
    image: RegisterImage,
) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
    """pymodbus store blocks shaped like the image: every address up to the last point valid."""
    sizes = image.sizes()
    blocks: list[list[SimData]] = []
    for table in _TUPLE_ORDER:
        n = sizes[table]
        if table.is_bit_table:
            # bit blocks must be BITS; an absent table is refused in the action instead
            blocks.append([SimData(0, values=[False] * max(n, 16), datatype=DataType.BITS)])
        elif n:
            blocks.append([SimData(0, values=[0] * n, datatype=DataType.REGISTERS)])
        else:
            blocks.append([SimData(0, datatype=DataType.INVALID)])
    coils, discrete, holding, inputs = blocks
    return coils, discrete, holding, inputs


class _SameLoopHandler(ServerRequestHandler):
    """pymodbus 3.16's connection handler, answering on its own loop without a thread hop.

    pymodbus starts each request's handling with ``run_coroutine_threadsafe`` from the loop's
    own thread, which wakes the loop a second time through its self-pipe and builds a
    thread-safe future for every request; the demo plant is polled for as long as the window is
    open, so that hop is a visible share of its idle CPU.
    """

    #: requests being answered, on every connection (the loop keeps only weak references)
    _tasks: ClassVar[set[asyncio.Task[None]]] = set()

    def handle_later(self) -> None:
        task = self.loop.create_task(self.handle_request())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _DemoServer(ModbusTcpServer):
    def callback_new_connection(self) -> ServerRequestHandler:
        return _SameLoopHandler(self, self.trace_packet, self.trace_pdu, self.trace_connect)


class _ServedDevice:
    """One unit id: its profile's register image and the pymodbus action hook."""

    def __init__(
        self, key: str, unit: int, profile: Profile, model: PlantModel,
        catch_up: Callable[[], None] = lambda: None,
    ):
        self.key = key
        self.unit = unit
        self.profile = profile
        self.model = model
        self.image = RegisterImage(profile)
        self.sizes = self.image.sizes()
        self.requests = 0
        self.refused_writes = 0
        self._catch_up = catch_up
        self._image_version: tuple[int, int] | None = None  # the model state last encoded

    def refresh(self) -> None:
        self.image.update(self.model.values()[self.key])
        self._image_version = self.model.version

    def refresh_if_moved(self) -> None:
        if self._image_version != self.model.version:
            self.refresh()

    def sim_device(self) -> SimDevice:
        return SimDevice(id=self.unit, simdata=_sim_blocks(self.image), action=self.action)

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        current_registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Called by pymodbus for every request to this unit, before it answers."""
        self.requests += 1
        self._catch_up()
        self.refresh_if_moved()
        state = self.model.device_state(self.key)
        if state == "dead":
            # with ignore_missing_devices=True pymodbus drops the request without a reply
            raise NoSuchIdException(f"demo device '{self.key}' is dead (simulated fault)")
        if state == "exception":
            return ExcCodes.DEVICE_FAILURE
        table = _TABLE_OF_FC.get(function_code)
        if table is None:
            return ExcCodes.ILLEGAL_FUNCTION
        if not self.sizes[table]:
            return ExcCodes.ILLEGAL_ADDRESS
        if set_values is not None:
            try:
                writes = self.image.apply_write(table, address, list(set_values))
                for w in writes:
                    self.model.write(self.key, w.point, w.value)
            except WriteRefused as e:
                self.refused_writes += 1
                log.info("unit %d (%s): write refused: %s", self.unit, self.key, e)
                return ExcCodes(e.code)
            except (KeyError, ValueError) as e:
                self.refused_writes += 1
                log.info("unit %d (%s): write refused by the model: %s", self.unit, self.key, e)
                return ExcCodes.ILLEGAL_VALUE
            self.refresh()
        packed = self.image.packed(table)
        current_registers[: len(packed)] = packed
        return None


async def _no_such_unit(*_args: Any) -> ExcCodes:
    """Unit ids nobody serves answer like a Modbus TCP gateway whose target is absent."""
    return ExcCodes.GATEWAY_NO_RESPONSE


def _catch_all_device() -> SimDevice:
    """id 0 = every unit id not defined otherwise; without it pymodbus logs a traceback.

    It covers addresses 0-1023 (a full 64 Ki map costs ~0.5 s to build); beyond that pymodbus
    answers "illegal address", which is still an answer naming the fault."""
    bits = [SimData(0, values=[False] * 1024, datatype=DataType.BITS)]
    words = [SimData(0, values=[0] * 1024, datatype=DataType.REGISTERS)]
    return SimDevice(id=0, simdata=(bits, list(bits), words, list(words)), action=_no_such_unit)


class DemoSimulator:
    """The demo plant on one Modbus TCP port: unit 1 pump, 2 meter (SDM630), 3 tank, 4 vitals.

    ``await start()`` returns the port (0 = pick a free one); ``await stop()`` shuts the server
    and the update timer down. Use `SimulatorThread` to run it beside a synchronous program.
    """

    def __init__(
        self,
        seed: int = 0,
        faults: Iterable[FaultSpec] = (),
        update_hz: float = 10.0,
        speed: float = 1.0,
        profiles: dict[str, Profile] | None = None,
    ):
        if not 0 < update_hz <= 1000:
            raise ValueError(f"update_hz must be in (0, 1000], got {update_hz!r}")
        if not 0 < speed <= 1000:
            raise ValueError(f"speed must be in (0, 1000], got {speed!r}")
        self.model = PlantModel(seed=seed, faults=faults)
        self.update_hz = update_hz
        self.speed = speed
        profiles = profiles if profiles is not None else load_demo_profiles()
        self.devices = {
            key: _ServedDevice(key, unit, profiles[key], self.model, self.catch_up)
            for key, (_pid, unit, _name, _ms) in DEMO_DEVICES.items()
        }
        self.port: int | None = None
        self.host: str | None = None
        self._server: ModbusTcpServer | None = None
        self._t0 = 0.0
        self._step = 0  # the update step the model was last brought to

    def unit_ids(self) -> dict[str, int]:
        return {k: d.unit for k, d in self.devices.items()}

    def catch_up(self) -> None:
        """Bring the model to the current update step (on the simulator's loop). A step is
        taken once however many requests ask in it; between steps the model stands still."""
        wall = asyncio.get_running_loop().time() - self._t0
        step = math.floor(wall * self.update_hz)
        if step <= self._step:
            return
        self._step = step
        elapsed = wall * self.speed
        if elapsed > self.model.t:
            try:
                self.model.values_at(elapsed)
            except Exception:  # a bug here must not silently freeze the plant: log and go on
                log.exception("demo simulator update failed")

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Start serving; returns the TCP port actually bound."""
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._t0 = asyncio.get_running_loop().time()
        self._step = 0
        for d in self.devices.values():
            d.refresh()
        server = _DemoServer(
            [*(d.sim_device() for d in self.devices.values()), _catch_all_device()],
            address=(host, port),
            ignore_missing_devices=True,
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError:  # pymodbus's way of saying the bind failed (it logs the errno)
            sockets = None
        else:
            sockets = getattr(server.transport, "sockets", None)
        if not sockets:
            with contextlib.suppress(Exception):
                await server.shutdown()
            raise OSError(
                f"demo simulator could not listen on {host}:{port} (port in use, or not an "
                "address of this machine?)"
            )
        self._server = server
        self.host = host
        self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop the server; safe to call twice."""
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()


class SimulatorThread:
    """`DemoSimulator` in its own thread and asyncio loop, for synchronous callers (``vigil
    run`` without ``--plant``, tests, benchmarks).

    ``start()`` blocks until the port is listening and returns it (or raises what went wrong);
    ``stop()`` shuts down and joins. ``call(fn)`` runs ``fn(simulator)`` on the simulator's loop
    thread, which is the only thread that may touch the model while it runs.
    """

    def __init__(
        self,
        seed: int = 0,
        faults: Iterable[FaultSpec] = (),
        update_hz: float = 10.0,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
    ):
        self.simulator = DemoSimulator(seed=seed, faults=faults, update_hz=update_hz, speed=speed)
        self.host = host
        self._requested_port = port
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float = 10.0) -> int:
        if self._thread is not None:
            raise RuntimeError("simulator thread already started")
        self._thread = threading.Thread(target=self._run, name="vigil-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"demo simulator did not start within {timeout:g} s")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        assert self.port is not None
        return self.port

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported to start(); never lost in a dying thread
            self._error = self._error or e
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        try:
            self.port = await self.simulator.start(self.host, self._requested_port)
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.simulator.stop()

    def call(self, fn: Callable[[DemoSimulator], T], timeout: float = 5.0) -> T:
        """Run ``fn(simulator)`` on the simulator thread and return its result."""
        if self._loop is None or self.port is None:
            raise RuntimeError("simulator thread is not running")

        async def run() -> T:
            self.simulator.catch_up()  # the model as it is now, as a request would see it
            return fn(self.simulator)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    def values(self) -> dict[str, dict[str, Any]]:
        """The model's current values (a copy), read safely from another thread."""
        return self.call(lambda sim: sim.model.values())

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop_event is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(timeout)
        self._thread = None


def demo_plant_toml(port: int, host: str = "127.0.0.1") -> str:
    """Re-exported from `app.sim.demo` so callers that start the server find it here too."""
    from app.sim.demo import demo_plant_toml as build

    return build(port, host)
