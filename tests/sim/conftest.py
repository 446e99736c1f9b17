"""Fixtures for the simulator tests: a real demo simulator on 127.0.0.1 (port 0) in its own
thread, and a helper that runs a real pymodbus client coroutine against it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
from pymodbus.client import AsyncModbusTcpClient

from app.sim.faults import parse_faults
from app.sim.server import SimulatorThread

T = TypeVar("T")


@pytest.fixture
def start_sim() -> Iterator[Callable[..., SimulatorThread]]:
    """``start_sim(faults="...", update_hz=...)`` -> a running SimulatorThread, stopped after."""
    started: list[SimulatorThread] = []

    def start(faults: str = "", update_hz: float = 10.0, seed: int = 7) -> SimulatorThread:
        sim = SimulatorThread(seed=seed, faults=parse_faults(faults), update_hz=update_hz)
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


def with_client(
    port: int, fn: Callable[[AsyncModbusTcpClient], Awaitable[T]], timeout: float = 1.0
) -> T:
    """Connect a real pymodbus client, run ``fn(client)``, close; bounded by pytest-timeout."""

    async def main() -> T:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=timeout, retries=0)
        assert await client.connect(), f"cannot connect to the simulator on port {port}"
        try:
            return await fn(client)
        finally:
            client.close()

    return asyncio.run(main())
