"""A real pymodbus 3.16 TCP server on 127.0.0.1 (port 0) serving register images, in its own
thread, for the device-library and bus-scanner tests.

Each unit gets four separate tables (coil, discrete, holding, input) sized exactly as asked, so
an address past the end answers "illegal data address" as a real device does; unit ids not
served get no answer at all (``ignore_missing_devices``), as on a serial bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from app.core.profiles import Profile, Table
from app.sim.registers import RegisterImage

_ORDER = (Table.COIL, Table.DISCRETE, Table.HOLDING, Table.INPUT)
_TABLE_OF_FC = {
    1: Table.COIL,
    5: Table.COIL,
    15: Table.COIL,
    2: Table.DISCRETE,
    3: Table.HOLDING,
    6: Table.HOLDING,
    16: Table.HOLDING,
    4: Table.INPUT,
}
_BLOCK_KEY = {Table.COIL: "c", Table.DISCRETE: "d", Table.HOLDING: "h", Table.INPUT: "i"}


@dataclass
class UnitTables:
    """What one unit serves: ``words`` for holding/input, ``bits`` for coil/discrete, from 0."""

    words: dict[Table, list[int]] = field(default_factory=dict)
    bits: dict[Table, list[bool]] = field(default_factory=dict)
    #: further register blocks (start address, words) with unreadable gaps between them
    segments: dict[Table, list[tuple[int, list[int]]]] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Profile, values: Mapping[str, object]) -> UnitTables:
        """The profile's register image with ``values`` encoded by Vigil's own codec."""
        image = RegisterImage(profile)
        image.update(values)
        if image.encode_errors:
            raise ValueError(f"{profile.device.id}: cannot encode {image.encode_errors}")
        return cls(
            words={t: list(w) for t, w in image.words.items() if w},
            bits={t: list(b) for t, b in image.bits.items() if b},
        )


def _blocks(tables: UnitTables) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
    out: list[list[SimData]] = []
    for t in _ORDER:
        if t.is_bit_table:
            bits = tables.bits.get(t, [])
            n = max(1, -(-len(bits) // 16))
            # pymodbus wants a BITS block even for a table the unit lacks: _refuse_absent answers
            out.append([SimData(0, count=n, values=0, datatype=DataType.BITS)])
        else:
            words = tables.words.get(t, [])
            segments = ([(0, words)] if words else []) + tables.segments.get(t, [])
            out.append(
                [SimData(a, values=list(w), datatype=DataType.REGISTERS) for a, w in segments]
                or [SimData(0, datatype=DataType.INVALID)]
            )
    coils, discrete, holding, inputs = out
    return coils, discrete, holding, inputs


def _refuse_absent(tables: UnitTables):
    """A unit without a coil or discrete table answers "illegal data address" for it."""
    absent = {t for t in (Table.COIL, Table.DISCRETE) if not tables.bits.get(t)}

    async def action(function_code: int, *_args: object) -> ExcCodes | None:
        if _TABLE_OF_FC.get(function_code) in absent:
            return ExcCodes.ILLEGAL_ADDRESS
        return None

    return action


async def _silence(*_args: object) -> ExcCodes | None:
    """Unit ids nobody serves: pymodbus drops the request unanswered, as an absent unit on a
    serial bus stays silent (without this catch-all, pymodbus 3.16 answers exception 4)."""
    raise NoSuchIdException("no such unit in this test")


def _catch_all() -> SimDevice:
    """pymodbus checks the address before calling the action, so the catch-all covers 0-1023
    (the tests scan below that; a whole 64 Ki map costs 0.5 s to build)."""
    bits = [SimData(0, count=64, values=0, datatype=DataType.BITS)]
    words = [SimData(0, count=1024, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(id=0, simdata=(bits, list(bits), words, list(words)), action=_silence)


class TableServer:
    """Serve ``units`` (unit id -> tables) until ``stop()``."""

    def __init__(self, units: Mapping[int, UnitTables], serial_port: str | None = None):
        """Modbus TCP on 127.0.0.1 (port chosen by the OS), or Modbus RTU on ``serial_port``."""
        self.units = dict(units)
        self.serial_port = serial_port
        self.host = "127.0.0.1"
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | ModbusSerialServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="test-table-server")

    def start(self) -> TableServer:
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise RuntimeError(f"test server did not start: {self._error}")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()
            return
        self._loop.run_forever()
        if self._server is not None:
            self._loop.run_until_complete(self._server.shutdown())
        self._loop.close()

    async def _serve(self) -> None:
        devices = [
            SimDevice(id=u, simdata=_blocks(t), action=_refuse_absent(t))
            for u, t in sorted(self.units.items())
        ]
        devices.append(_catch_all())
        if self.serial_port is not None:
            self._server = ModbusSerialServer(
                devices, port=self.serial_port, baudrate=115200, ignore_missing_devices=True
            )
            await self._server.serve_forever(background=True)
        else:
            self._server = ModbusTcpServer(devices, address=(self.host, 0), ignore_missing_devices=True)
            await self._server.serve_forever(background=True)
            self.port = self._server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        for unit, tables in self.units.items():
            blocks = self._server.context.devices[unit].block  # type: ignore[union-attr]
            for t, bits in tables.bits.items():
                regs = blocks[_BLOCK_KEY[t]][2]
                for i, b in enumerate(bits):
                    if b:
                        regs[i // 16] |= 1 << (i % 16)
        self._ready.set()

    def stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
