"""The driver contract: how the core talks to one link (a TCP connection or a serial bus).

The runtime owns scheduling, retries, backoff and diagnostics; a driver only connects and moves
words. It reports failures by raising one of the three exception kinds below, which the runtime
maps to sample quality: `CommError` and `MalformedReply` -> BAD_COMM, `DeviceException` ->
BAD_DEVICE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

TableName = Literal["coil", "discrete", "holding", "input"]


class DriverError(Exception):
    """Base of everything a driver raises on purpose."""


class CommError(DriverError):
    """No usable answer: refused, reset, timed out. ``kind`` is 'timeout', 'connect' or 'io'."""

    def __init__(self, message: str, kind: str = "io"):
        super().__init__(message)
        self.kind = kind


class MalformedReply(DriverError):
    """The peer answered with bytes that are not a valid reply to our request."""


class DeviceException(DriverError):
    """The device answered with a Modbus exception response (``code`` 1-11)."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(message or f"exception response code {code}")
        self.code = code


@dataclass(frozen=True)
class SerialSettings:
    port: str
    baudrate: int = 19200
    parity: Literal["N", "E", "O"] = "N"
    stopbits: int = 1
    bytesize: int = 8


@dataclass(frozen=True)
class LinkConfig:
    """What a driver needs to open one link. ``options`` carries driver-specific settings from
    the plant file's ``[devices.options]`` table, untouched."""

    transport: str  # "tcp" | "rtu" | a plugin's own transport name
    host: str = "127.0.0.1"
    port: int = 502
    serial: SerialSettings | None = None
    timeout_s: float = 1.0
    options: dict[str, object] = field(default_factory=dict)


@runtime_checkable
class Driver(Protocol):
    """One link. Calls are never concurrent: the runtime awaits each before the next."""

    async def connect(self) -> None:
        """Open the link; raise CommError(kind='connect') if it cannot be opened."""

    async def close(self) -> None:
        """Close the link; must not raise."""

    @property
    def connected(self) -> bool: ...

    async def read(
        self, unit: int, table: TableName, address: int, count: int
    ) -> list[int] | list[bool]:
        """Read ``count`` words (holding/input) or bits (coil/discrete) from 0-based ``address``.

        Returns exactly ``count`` items or raises.
        """
        ...

    async def write(
        self, unit: int, table: TableName, address: int, values: list[int] | list[bool]
    ) -> None:
        """Write registers (holding) or bits (coil) starting at ``address``."""
        ...
