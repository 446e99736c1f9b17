"""The Modbus driver's one-step reply decoding (registers and bits) gives exactly what pymodbus's
own gives."""

from __future__ import annotations

import asyncio
import logging
import random
import struct

import pytest
from pymodbus.exceptions import ModbusIOException
from pymodbus.pdu import DecodePDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import ReadHoldingRegistersResponse, ReadInputRegistersResponse
from vigil_modbus.driver import TcpDriver
from vigil_modbus.responses import (
    FastReadCoilsResponse,
    FastReadDiscreteInputsResponse,
    FastReadHoldingRegistersResponse,
    FastReadInputRegistersResponse,
)

from app.sdk import LinkConfig
from poll.servers import Registers, make_device, start_server

PAIRS = [
    (ReadHoldingRegistersResponse, FastReadHoldingRegistersResponse),
    (ReadInputRegistersResponse, FastReadInputRegistersResponse),
]
BIT_PAIRS = [
    (ReadCoilsResponse, FastReadCoilsResponse),
    (ReadDiscreteInputsResponse, FastReadDiscreteInputsResponse),
]


def _payloads() -> list[bytes]:
    """Reply payloads (byte count + data) a device could send, well-formed or not: every byte
    count 0..255 with exactly enough data, with one byte short, with extra bytes, and odd counts."""
    rng = random.Random(7)
    out = []
    for count in range(256):
        data = bytes(rng.randrange(256) for _ in range(count + 3))
        out += [bytes([count]) + data[:count], bytes([count]) + data[: max(count - 1, 0)],
                bytes([count]) + data]
    return out


@pytest.mark.parametrize(("stock", "fast"), PAIRS)
def test_fast_decode_agrees_with_pymodbus_on_every_payload(stock, fast):
    for payload in _payloads():
        want, got = stock(), fast()
        try:
            want.decode(payload)
        except ModbusIOException:
            with pytest.raises(ModbusIOException):
                got.decode(payload)
            continue
        got.decode(payload)
        assert got.registers == want.registers, payload.hex()
        assert type(got.registers) is list
        assert got.count == want.count


@pytest.mark.parametrize(("stock", "fast"), BIT_PAIRS)
def test_fast_bit_decode_agrees_with_pymodbus_on_every_payload(stock, fast):
    for payload in _payloads():
        want, got = stock(), fast()
        want.decode(payload)
        got.decode(payload)
        assert got.bits == want.bits, payload.hex()
        assert all(type(b) is bool for b in got.bits)


def test_full_range_registers_decode_exactly():
    words = [0, 1, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF] * 20 + [0x1234] * 5  # 125: the largest read
    payload = bytes([250]) + struct.pack(">125H", *words)
    pdu = FastReadHoldingRegistersResponse()
    pdu.decode(payload)
    assert pdu.registers == words


def test_text_is_pymodbus_own_when_its_debug_log_is_on():
    pdu, stock = FastReadInputRegistersResponse(), ReadInputRegistersResponse()
    payload = bytes([6]) + struct.pack(">3H", 10, 20, 30)
    for p in (pdu, stock):
        p.decode(payload)
        p.dev_id, p.transaction_id = 4, 99
    logger = logging.getLogger("pymodbus")
    old = logger.level
    try:
        logger.setLevel(logging.DEBUG)
        assert str(pdu) == str(stock).replace("ReadInput", "FastReadInput")
        logger.setLevel(logging.CRITICAL)
        short = str(pdu)
        assert "dev_id=4" in short and "transaction_id=99" in short and "3 registers" in short
        assert "10, 20, 30" not in short
    finally:
        logger.setLevel(old)


def test_driver_clients_decode_register_replies_with_the_fast_classes():
    """Both read-register function codes of every client the driver opens use the one-step
    decoder, and the values read from a real server are exact."""

    async def scenario():
        server, port = await start_server([make_device(1)])
        regs = Registers(server, 1)
        words = [(i * 2654435761) & 0xFFFF for i in range(125)]
        regs.set_words("holding", 0, words)
        regs.set_words("input", 0, words[::-1])
        drv = TcpDriver(LinkConfig(transport="tcp", host="127.0.0.1", port=port, timeout_s=1.0))
        await drv.connect()
        try:
            decoder: DecodePDU = drv._client.ctx.framer.decoder
            classes = {fc: decoder.lookupPduClass(bytes([1, fc, 2, 0, 0])) for fc in (1, 2, 3, 4)}
            holding = await drv.read(1, "holding", 0, 125)
            inputs = await drv.read(1, "input", 0, 125)
            for a in (0, 5, 17, 200):
                regs.set_bit("coil", a, True)
            regs.set_bit("discrete", 9, True)
            coils = await drv.read(1, "coil", 0, 201)
            discrete = await drv.read(1, "discrete", 3, 10)
            # a reconnect makes a new client, which gets the fast classes too
            await drv.connect()
            again = drv._client.ctx.framer.decoder.lookupPduClass(bytes([1, 3, 2, 0, 0]))
        finally:
            await drv.close()
            await server.shutdown()
        return classes, holding, inputs, words, again, coils, discrete

    classes, holding, inputs, words, again, coils, discrete = asyncio.run(scenario())
    assert classes == {1: FastReadCoilsResponse, 2: FastReadDiscreteInputsResponse,
                       3: FastReadHoldingRegistersResponse, 4: FastReadInputRegistersResponse}
    assert coils == [a in (0, 5, 17, 200) for a in range(201)]
    assert discrete == [a == 9 for a in range(3, 13)]
    assert again is FastReadHoldingRegistersResponse
    assert holding == words
    assert inputs == words[::-1]
