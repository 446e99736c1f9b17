"""The Modbus TCP driver against a real pymodbus server and misbehaving peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import math
import socket
import struct

import pytest
from pymodbus.client.mixin import ModbusClientMixin
from pymodbus.constants import ExcCodes
from vigil_modbus.driver import TcpDriver

from app.core.codec import bytes_to_registers
from app.core.planner import build_plan
from app.core.profiles import Profile
from app.sdk import CommError, DeviceException, LinkConfig, MalformedReply
from poll.servers import RawPeer, Registers, make_device, start_server

DT = ModbusClientMixin.DATATYPE

# (profile type, struct format, pymodbus datatype, value)
CASES = [
    ("int16", ">h", DT.INT16, -12345),
    ("uint16", ">H", DT.UINT16, 54321),
    ("int32", ">i", DT.INT32, -123456789),
    ("uint32", ">I", DT.UINT32, 3_456_789_012),
    ("int64", ">q", DT.INT64, -(2**62) - 12345),
    ("uint64", ">Q", DT.UINT64, 2**63 + 987654321),
    ("float32", ">f", DT.FLOAT32, struct.unpack(">f", struct.pack(">f", -1234.5678))[0]),
    ("float64", ">d", DT.FLOAT64, math.pi * 1e10),
]


def _link(port: int, timeout_s: float = 0.5) -> LinkConfig:
    return LinkConfig(transport="tcp", host="127.0.0.1", port=port, timeout_s=timeout_s)


def _layout():
    """Every type in every byte/word order, packed at increasing addresses, plus the registers
    a device following that convention would hold."""
    points, words, expected = [], [0] * 200, {}
    address = 0
    for (name, fmt, _dt, value), (bo, wo) in itertools.product(
        CASES, itertools.product(["big", "little"], repeat=2)
    ):
        regs = bytes_to_registers(struct.pack(fmt, value), bo, wo)
        pname = f"{name}_{bo[0]}{wo[0]}"
        points.append(
            {"name": pname, "table": "holding", "address": address, "type": name,
             "byte_order": bo, "word_order": wo}
        )
        words[address : address + len(regs)] = regs
        expected[pname] = value
        address += len(regs)
    text = "Vigil-42"
    points.append({"name": "label", "table": "holding", "address": address, "type": "string", "count": 5})
    words[address : address + 5] = bytes_to_registers(text.encode().ljust(10, b"\0"), "big", "big")
    expected["label"] = text
    points.append({"name": "flag3", "table": "holding", "address": address + 6, "type": "bool", "bit": 3})
    words[address + 6] = 1 << 3
    expected["flag3"] = True
    points.append({"name": "scaled", "table": "input", "address": 0, "type": "int16", "scale": 0.1,
                   "offset": -5})
    expected["scaled"] = -250 * 0.1 - 5
    points.append({"name": "coil9", "table": "coil", "address": 9, "type": "bool"})
    expected["coil9"] = True
    points.append({"name": "di2", "table": "discrete", "address": 2, "type": "bool"})
    expected["di2"] = True
    profile = Profile.model_validate({"device": {"id": "all_types", "max_registers_per_read": 40},
                                      "points": points})
    return profile, words, expected


def test_every_type_and_order_decodes_exactly():
    profile, words, expected = _layout()

    async def scenario() -> dict:
        server, port = await start_server([make_device(1)])
        regs = Registers(server, 1)
        regs.set_words("holding", 0, words)
        regs.set_words("input", 0, [-250])
        regs.set_bit("coil", 9, True)
        regs.set_bit("discrete", 2, True)
        drv = TcpDriver(_link(port))
        await drv.connect()
        got = {}
        try:
            for group in build_plan(profile, 1.0):
                for block in group.blocks:
                    data = await drv.read(1, block.table.value, block.address, block.count)
                    assert len(data) == block.count
                    for item in block.items:
                        got[item.point.name] = item.decode(data, item.offset)
        finally:
            await drv.close()
            await server.shutdown()
        return got

    got = asyncio.run(scenario())
    assert got == expected
    # where pymodbus's own conversion applies (byte order big), it agrees with ours
    for name, _fmt, dt, _value in CASES:
        for wo in ("big", "little"):
            p = profile.point(f"{name}_b{wo[0]}")
            regs = words[p.address : p.address + p.width]
            assert ModbusClientMixin.convert_from_registers(regs, dt, word_order=wo) == got[p.name]


def test_exception_response_becomes_device_exception():
    async def busy(*_args):
        return ExcCodes.DEVICE_BUSY

    async def scenario():
        server, port = await start_server([make_device(1), make_device(2, action=busy)])
        drv = TcpDriver(_link(port))
        await drv.connect()
        try:
            with pytest.raises(DeviceException) as beyond:
                await drv.read(1, "holding", 250, 10)  # past the device's last register
            with pytest.raises(DeviceException) as busy_exc:
                await drv.read(2, "input", 0, 2)
            # an exception response is an answer: the link stays up and usable
            assert drv.connected
            assert await drv.read(1, "holding", 0, 2) == [0, 0]
        finally:
            await drv.close()
            await server.shutdown()
        return beyond.value.code, busy_exc.value.code

    assert asyncio.run(scenario()) == (int(ExcCodes.ILLEGAL_ADDRESS), int(ExcCodes.DEVICE_BUSY))


def test_writes_registers_and_coils():
    async def scenario():
        server, port = await start_server([make_device(1)])
        regs = Registers(server, 1)
        drv = TcpDriver(_link(port))
        await drv.connect()
        try:
            await drv.write(1, "holding", 10, [0xBEEF])
            await drv.write(1, "holding", 20, [1, 2, 3])
            await drv.write(1, "coil", 5, [True])
            assert await drv.read(1, "holding", 10, 1) == [0xBEEF]
            assert await drv.read(1, "coil", 5, 1) == [True]
            with pytest.raises(ValueError, match="read-only"):
                await drv.write(1, "input", 0, [1])
        finally:
            await drv.close()
            await server.shutdown()
        return regs.holding[10], regs.holding[20:23], regs.get_bit("coil", 5)

    assert asyncio.run(scenario()) == (0xBEEF, [1, 2, 3], True)


def test_refused_connection_is_a_connect_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario():
        drv = TcpDriver(_link(port))
        with pytest.raises(CommError) as e:
            await drv.connect()
        assert not drv.connected
        return e.value

    err = asyncio.run(scenario())
    assert err.kind == "connect" and str(port) in str(err)


@pytest.mark.parametrize(
    ("behaviour", "error", "kind"),
    [("garbage", MalformedReply, None), ("half", MalformedReply, None), ("silent", CommError, "timeout")],
)
def test_misbehaving_peer_fails_the_call_within_its_timeout(behaviour, error, kind):
    async def scenario():
        peer = RawPeer(behaviour)
        port = await peer.start()
        drv = TcpDriver(_link(port, timeout_s=0.3))
        await drv.connect()
        try:
            # the outer wait_for is only a safety net for the test itself
            with pytest.raises(error) as e:
                await asyncio.wait_for(drv.read(1, "holding", 0, 4), 5)
        finally:
            await drv.close()
            await peer.stop()
        return e.value, peer.requests

    err, requests = asyncio.run(scenario())
    assert requests == 1  # pymodbus's own retries are off: the runtime owns retrying
    if kind:
        assert err.kind == kind
    assert "127.0.0.1" in str(err)


def test_peer_closing_mid_request_is_an_io_error():
    async def scenario():
        async def hang_up(reader, writer):
            await reader.read(12)
            writer.close()

        srv = await asyncio.start_server(hang_up, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        drv = TcpDriver(_link(port, timeout_s=2.0))
        await drv.connect()
        try:
            with pytest.raises(CommError) as e:
                await asyncio.wait_for(drv.read(1, "holding", 0, 1), 5)
        finally:
            await drv.close()
            srv.close()
        return e.value

    err = asyncio.run(scenario())
    assert err.kind == "io" and "closed" in str(err)
