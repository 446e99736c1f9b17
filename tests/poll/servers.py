"""Real Modbus peers for the polling tests: pymodbus servers and misbehaving raw sockets on
127.0.0.1, run on their own asyncio loop in a background thread so that the code under test
(which has its own loop thread) talks to them over real TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

T = TypeVar("T")

#: registers (and coil/discrete bits) every test device offers, from address 0
REGISTERS = 256


def make_device(unit: int, action: Callable[..., Awaitable[Any]] | None = None) -> SimDevice:
    """A device with separate coil, discrete, holding and input tables, all addresses 0..255."""
    bits = [SimData(0, count=REGISTERS // 16, values=0, datatype=DataType.BITS)]
    regs = [SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)]
    return SimDevice(
        id=unit,
        simdata=(list(bits), [SimData(0, count=REGISTERS // 16, values=0, datatype=DataType.BITS)],
                 list(regs), [SimData(0, count=REGISTERS, values=0, datatype=DataType.REGISTERS)]),
        action=action,
    )


class Registers:
    """Direct access to a running server's memory for one unit (set values under test)."""

    def __init__(self, server: ModbusTcpServer, unit: int) -> None:
        blocks = server.context.devices[unit].block  # type: ignore[union-attr]
        self.holding: list[int] = blocks["h"][2]
        self.input: list[int] = blocks["i"][2]
        self._coils: list[int] = blocks["c"][2]
        self._discrete: list[int] = blocks["d"][2]

    def set_words(self, table: str, address: int, words: list[int]) -> None:
        target = self.holding if table == "holding" else self.input
        target[address : address + len(words)] = [w & 0xFFFF for w in words]

    def set_bit(self, table: str, address: int, value: bool) -> None:
        words = self._coils if table == "coil" else self._discrete
        reg, bit = divmod(address, 16)
        words[reg] = (words[reg] | (1 << bit)) if value else (words[reg] & ~(1 << bit))

    def get_bit(self, table: str, address: int) -> bool:
        words = self._coils if table == "coil" else self._discrete
        reg, bit = divmod(address, 16)
        return bool(words[reg] >> bit & 1)


class LoopThread:
    """An asyncio loop in a daemon thread; ``run(coro)`` executes a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-peers", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(_cancel_all(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


async def start_server(devices: list[SimDevice], port: int = 0) -> tuple[ModbusTcpServer, int]:
    """Start a pymodbus TCP server on 127.0.0.1 (port 0 = any free port); return it and its port."""
    server = ModbusTcpServer(devices, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    actual = server.transport.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return server, actual


class RawPeer:
    """A TCP listener that misbehaves on purpose; ``behaviour`` decides what to do with each
    request it receives: 'garbage', 'half' (first half of a valid-looking reply), 'silent'."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        try:
            while True:
                header = await reader.readexactly(7)
                length = int.from_bytes(header[4:6], "big")
                pdu = await reader.readexactly(length - 1)
                self.requests += 1
                if self.behaviour == "garbage":
                    writer.write(b"\x13\x37garbage that is not modbus at all\r\n")
                elif self.behaviour == "half":
                    count = int.from_bytes(pdu[3:5], "big")
                    body = bytes([pdu[0], 2 * count]) + b"\x00" * (2 * count)
                    reply = header[:4] + (len(body) + 1).to_bytes(2, "big") + header[6:7] + body
                    writer.write(reply[: len(reply) // 2])
                # 'silent': read and never answer
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for w in self._writers:
            w.close()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)


# ------------------------------------------------------------------ plant and sink helpers
def make_plant(profile_toml: str, devices: list[dict[str, Any]]):
    """A validated Plant from one profile (TOML text) and device entries (dicts of plant keys)."""
    import tomllib

    from app.core.plant import parse_plant
    from app.core.profiles import ProfileLibrary, parse_profile

    lib = ProfileLibrary()
    lib.add(parse_profile(profile_toml.encode(), "test-profile.toml"))
    lines = []
    for d in devices:
        lines.append("[[devices]]")
        serial = d.pop("serial", None)
        for k, v in d.items():
            lines.append(f"{k} = {v!r}" if not isinstance(v, bool) else f"{k} = {str(v).lower()}")
        if serial:
            lines.append("[devices.serial]")
            lines += [f"{k} = {v!r}" for k, v in serial.items()]
    text = "\n".join(lines).replace("'", '"')
    tomllib.loads(text)  # fail here, clearly, if the helper produced bad TOML
    return parse_plant(text.encode(), "test-plant.toml", lib)


class Collector:
    """A sink that keeps every sample (thread-safe) and can wait for a condition."""

    def __init__(self) -> None:
        self.samples: list = []
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)

    def on_samples(self, batch) -> None:
        with self._cond:
            self.samples.extend(batch)
            self._cond.notify_all()

    def snapshot(self) -> list:
        with self._lock:
            return list(self.samples)

    def wait_for(self, predicate: Callable[[list], bool], timeout: float = 10.0) -> list:
        """Wait until ``predicate(samples)`` holds; the timeout only bounds a broken test."""
        import time

        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.samples):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met within {timeout} s; {len(self.samples)} samples")
                self._cond.wait(min(left, 0.05))
            return list(self.samples)


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(0.01)
