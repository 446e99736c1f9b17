"""Modbus TCP and RTU drivers over the pymodbus 3.16 async clients.

The Vigil runtime owns scheduling, retries, reconnects and backoff, so pymodbus's own are turned
off (``retries=0``, ``reconnect_delay=0``): a failed request surfaces at once as one of the SDK
exceptions instead of being retried behind the runtime's back.

Bounded calls: pymodbus waits for each reply under its own timeout (``timeout=``, on the reply
future, with ``retries=0``), so a silent peer or half a frame ends the call after one timeout;
connecting is bounded the same way. (An extra ``asyncio.timeout`` around every call was measured
at ~4 us, ~5 % of a whole request's CPU, and guards nothing more: the runtime never overlaps
calls, so pymodbus's request lock is never contended.) pymodbus does not fail a pending request
when the peer closes the connection or sends bytes that cannot be a reply, so received bytes
are checked as they arrive (``trace_packet``) and a reply that cannot be ours fails the pending
request at once as ``MalformedReply``; a closed connection fails it as ``CommError``. Bytes
received without a whole reply by the deadline (half a frame) are reported as
``MalformedReply``, silence as ``CommError(kind='timeout')``.

Failing a pending request early uses the client's ``ctx.response_future`` (pymodbus internals,
pinned to 3.16); if that attribute ever disappears the call still ends, at the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from app.sdk import CommError, DeviceException, LinkConfig, MalformedReply
from vigil_modbus.responses import FAST_RESPONSES

_READ_FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
_READ_METHOD = {
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
    "holding": "read_holding_registers",
    "input": "read_input_registers",
}
_BIT_TABLES = frozenset({"coil", "discrete"})


def _quiet_pymodbus_logs() -> None:
    """pymodbus logs every timeout and stray frame at ERROR level; the runtime already counts
    and reports them per device, so keep them out of the operator's console (unless someone
    configured the ``pymodbus`` logger on purpose)."""
    logger = logging.getLogger("pymodbus")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL)


class _ModbusDriver:
    """Shared logic of the TCP and RTU drivers: one pymodbus client, one request at a time."""

    #: close the link after a timeout or a malformed reply (a TCP stream may be out of step)
    close_on_fault = True

    def __init__(self, link: LinkConfig) -> None:
        self.link = link
        self.timeout_s = float(link.timeout_s)
        self.write_multiple = bool(link.options.get("write_multiple", False))
        self._client: Any = None
        self._pending = False
        self._expect_unit = 0
        self._expect_fc = 0
        self._rx_bytes = 0
        _quiet_pymodbus_logs()

    # -- subclass hooks -------------------------------------------------------------------
    def _make_client(self) -> Any:
        raise NotImplementedError

    def _where(self) -> str:
        raise NotImplementedError

    def _reply_fault(self, data: bytes) -> str | None:
        """Return why ``data`` (the receive buffer) cannot be the reply we wait for, or None."""
        return None

    # -- Driver protocol ------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.connected)

    async def connect(self) -> None:
        await self.close()
        self._client = self._make_client()
        for response_class in FAST_RESPONSES:
            self._client.register(response_class)
        try:
            ok = await self._client.connect()
        except (OSError, ModbusException, ValueError) as e:  # serial port errors, bad host...
            self._client = None
            raise CommError(f"cannot connect to {self._where()}: {e}", kind="connect") from None
        if not ok or not self._client.connected:
            self._client = None
            raise CommError(f"cannot connect to {self._where()}", kind="connect")

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing must never raise
                client.close()

    async def read(self, unit: int, table: str, address: int, count: int) -> list[int] | list[bool]:
        method = _READ_METHOD.get(table)
        if method is None:
            raise ValueError(f"unknown table '{table}'")
        client = self._require_client()
        rr = await self._call(
            unit, _READ_FC[table], getattr(client, method)(address, count=count, device_id=unit)
        )
        if table in _BIT_TABLES:
            bits = getattr(rr, "bits", None)
            if not isinstance(bits, list) or len(bits) < count or len(bits) >= count + 8:
                got = len(bits) if isinstance(bits, list) else "no"
                raise MalformedReply(f"{self._where()}: asked for {count} bits, reply holds {got}")
            return [bool(b) for b in bits[:count]]
        regs = getattr(rr, "registers", None)
        if not isinstance(regs, list) or len(regs) != count:
            got = len(regs) if isinstance(regs, list) else "no"
            raise MalformedReply(f"{self._where()}: asked for {count} registers, reply holds {got}")
        return regs

    async def write(self, unit: int, table: str, address: int, values: list[int] | list[bool]) -> None:
        client = self._require_client()
        if not values:
            raise ValueError("nothing to write")
        if table == "holding":
            regs = [int(v) & 0xFFFF for v in values]
            if len(regs) == 1 and not self.write_multiple:
                await self._call(unit, 6, client.write_register(address, regs[0], device_id=unit))
            else:
                await self._call(unit, 16, client.write_registers(address, regs, device_id=unit))
        elif table == "coil":
            bits = [bool(v) for v in values]
            if len(bits) == 1 and not self.write_multiple:
                await self._call(unit, 5, client.write_coil(address, bits[0], device_id=unit))
            else:
                await self._call(unit, 15, client.write_coils(address, bits, device_id=unit))
        else:
            raise ValueError(f"table '{table}' is read-only")

    # -- internals ------------------------------------------------------------------------
    def _require_client(self) -> Any:
        if not self.connected:
            raise CommError(f"{self._where()}: not connected", kind="io")
        return self._client

    async def _call(self, unit: int, fc: int, request: Any) -> Any:
        """Run one request with every failure mapped to an SDK exception."""
        self._pending, self._expect_unit, self._expect_fc, self._rx_bytes = True, unit, fc, 0
        try:
            rr = await request
        except _EarlyFault as e:
            await self._after_fault()
            raise e.error from None
        except (TimeoutError, ModbusIOException):
            received = self._rx_bytes
            await self._after_fault()
            if received:
                raise MalformedReply(
                    f"{self._where()}: incomplete or invalid reply ({received} bytes) "
                    f"within {self.timeout_s:g} s"
                ) from None
            raise CommError(
                f"{self._where()}: no answer from unit {unit} within {self.timeout_s:g} s", kind="timeout"
            ) from None
        except ConnectionException as e:
            await self.close()
            raise CommError(f"{self._where()}: connection lost ({e})", kind="io") from None
        except (OSError, ModbusException) as e:
            await self._after_fault()
            raise CommError(f"{self._where()}: {e}", kind="io") from None
        finally:
            self._pending = False
        if rr is None:
            raise MalformedReply(f"{self._where()}: empty reply")
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0) or 0)
            raise DeviceException(code, f"{self._where()}: unit {unit} answered exception code {code}")
        if getattr(rr, "function_code", fc) != fc:
            raise MalformedReply(
                f"{self._where()}: reply has function code {rr.function_code}, expected {fc}"
            )
        return rr

    async def _after_fault(self) -> None:
        if self.close_on_fault:
            await self.close()

    def _fail_pending(self, error: Exception) -> None:
        if not self._pending or self._client is None:
            return
        future = getattr(getattr(self._client, "ctx", None), "response_future", None)
        if isinstance(future, asyncio.Future) and not future.done():
            future.set_exception(_EarlyFault(error))

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if sending or not self._pending:
            return data
        self._rx_bytes = len(data)
        why = self._reply_fault(data)
        if why is not None:
            self._fail_pending(MalformedReply(f"{self._where()}: {why}"))
            return b""
        return data

    def _trace_connect(self, connected: bool) -> None:
        if not connected:
            self._fail_pending(CommError(f"{self._where()}: connection closed by the peer", kind="io"))


class _EarlyFault(Exception):
    """Carries an SDK error through pymodbus's pending-reply future."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class TcpDriver(_ModbusDriver):
    """Modbus TCP: one connection per device (the runtime gives each TCP device its own link)."""

    def _where(self) -> str:
        return f"modbus tcp {self.link.host}:{self.link.port}"

    def _make_client(self) -> AsyncModbusTcpClient:
        return AsyncModbusTcpClient(
            self.link.host,
            port=self.link.port,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )

    def _reply_fault(self, data: bytes) -> str | None:
        """Check the MBAP header as soon as it arrives: a wrong protocol id, length, unit or
        function code means garbage, and waiting for the timeout would only delay the verdict."""
        if len(data) >= 4 and data[2:4] != b"\x00\x00":
            return f"not a Modbus TCP reply (protocol id {data[2:4].hex()})"
        if len(data) >= 6:
            length = int.from_bytes(data[4:6], "big")
            if not 3 <= length <= 254:
                return f"not a Modbus TCP reply (length field {length})"
        if len(data) >= 7 and data[6] != self._expect_unit and self._expect_unit != 0:
            return f"reply from unit {data[6]}, expected {self._expect_unit}"
        if len(data) >= 8 and data[7] not in (self._expect_fc, self._expect_fc | 0x80):
            return f"reply has function code {data[7]}, expected {self._expect_fc}"
        return None


class RtuDriver(_ModbusDriver):
    """Modbus RTU on a serial bus shared by several unit ids (polled one after another).

    A timeout from one unit is normal on a bus (an absent device) and says nothing about the
    port, so the port stays open after faults; pymodbus clears its receive buffer before each
    request, which drops any late bytes.
    """

    close_on_fault = False

    def _where(self) -> str:
        port = self.link.serial.port if self.link.serial else "?"
        return f"modbus rtu {port}"

    def _make_client(self) -> AsyncModbusSerialClient:
        s = self.link.serial
        if s is None:
            raise CommError("transport 'rtu' needs serial settings", kind="connect")
        return AsyncModbusSerialClient(
            s.port,
            baudrate=s.baudrate,
            bytesize=s.bytesize,
            parity=s.parity,
            stopbits=s.stopbits,
            timeout=self.timeout_s,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
            trace_connect=self._trace_connect,
        )


DriverFactory = Callable[[LinkConfig], _ModbusDriver]
