"""Read replies decoded in one step, registered with each pymodbus client.

pymodbus 3.16 decodes a read-registers reply one register at a time (a slice and a
``struct.unpack`` each), a read-bits reply one bit at a time, and then formats the whole reply,
value list included, for a debug line that is dropped unless pymodbus's DEBUG logging is on. At
80 registers per reply that was about a fifth of a poll's client CPU, more than all of Vigil's
own decoding. These subclasses decode the same bytes with one precompiled ``unpack_from`` (bits:
a 256-entry table, one lookup per byte) and build the long text only when someone could read
it; what they accept, reject and return is pymodbus's own (checked against the stock classes in
``tests/poll/test_modbus_responses.py``).

They go through pymodbus's public ``client.register(response_class)``, which replaces the
decoder for that function code in that client only.
"""

from __future__ import annotations

import logging
import struct
from itertools import chain

from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse

_PYMODBUS_LOG = logging.getLogger("pymodbus")
#: one precompiled big-endian unpacker per register count (a reply holds at most 127)
_UNPACK = [struct.Struct(f">{n}H").unpack_from for n in range(128)]
#: byte -> its 8 bits, least significant first (Modbus's bit order within a byte)
_BITS = tuple(tuple(bool(byte >> k & 1) for k in range(8)) for byte in range(256))
_from_iterable = chain.from_iterable


def _decode_registers(pdu: ReadHoldingRegistersResponse, data: bytes) -> None:
    """The stock decode (byte count, then that many bytes of big-endian registers; a byte count
    beyond the data is a ModbusIOException; an odd last byte is ignored), in one call."""
    if (data_len := int(data[0])) >= len(data):
        raise ModbusIOException(
            f"byte_count {data_len} > length of packet {len(data)}",
            function_code=pdu.function_code,
        )
    pdu.registers = list(_UNPACK[data_len // 2](data, 1))


def _decode_bits(pdu: ReadCoilsResponse, data: bytes) -> None:
    """The stock decode (every byte after the byte count, 8 bits each, least significant
    first; the byte count itself is not checked), by table lookup."""
    pdu.bits = list(_from_iterable(map(_BITS.__getitem__, data[1:])))


def _short_text(pdu: ModbusPDU) -> str:
    """What pymodbus's debug line gets while nobody listens (no value list)."""
    return (f"{type(pdu).__name__}(dev_id={pdu.dev_id}, transaction_id={pdu.transaction_id}, "
            f"{len(pdu.registers)} registers, {len(pdu.bits)} bits)")


class _QuietText(ModbusPDU):
    """The reply's long text (every value) only while pymodbus's DEBUG log could print it."""

    def __str__(self) -> str:
        if _PYMODBUS_LOG.isEnabledFor(logging.DEBUG):
            return super().__str__()
        return _short_text(self)


class FastReadHoldingRegistersResponse(_QuietText, ReadHoldingRegistersResponse):
    """Function code 3 reply: registers decoded at once."""

    def decode(self, data: bytes) -> None:
        _decode_registers(self, data)


class FastReadInputRegistersResponse(_QuietText, ReadInputRegistersResponse):
    """Function code 4 reply: registers decoded at once."""

    def decode(self, data: bytes) -> None:
        _decode_registers(self, data)


class FastReadCoilsResponse(_QuietText, ReadCoilsResponse):
    """Function code 1 reply: bits decoded by table."""

    def decode(self, data: bytes) -> None:
        _decode_bits(self, data)


class FastReadDiscreteInputsResponse(_QuietText, ReadDiscreteInputsResponse):
    """Function code 2 reply: bits decoded by table."""

    def decode(self, data: bytes) -> None:
        _decode_bits(self, data)


#: what a driver registers with every client it makes
FAST_RESPONSES = (FastReadCoilsResponse, FastReadDiscreteInputsResponse,
                  FastReadHoldingRegistersResponse, FastReadInputRegistersResponse)
