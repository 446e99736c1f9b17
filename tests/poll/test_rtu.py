"""Modbus RTU over a virtual serial pair: a pymodbus serial server on one pty, Vigil on the other."""

from __future__ import annotations

import asyncio
import struct

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from vigil_modbus.driver import RtuDriver

from app.core.codec import bytes_to_registers
from app.core.model import Quality
from app.core.runtime import Runtime
from app.sdk import DeviceException, LinkConfig, SerialSettings
from poll.ptybridge import PtyBridge
from poll.servers import Collector, Registers, make_device, make_plant

PROFILE = """
[device]
id = "meter"
[[points]]
name = "energy"
table = "input"
address = 4
type = "uint32"
word_order = "little"
[[points]]
name = "limit"
table = "holding"
address = 0
type = "int16"
access = "rw"
"""


@pytest.fixture
def serial_bus(peers):
    bridge = PtyBridge()

    async def broken(function_code, *_args):
        return ExcCodes.ILLEGAL_FUNCTION if function_code == 4 else None

    async def start():
        units = [make_device(1), make_device(2), make_device(3, action=broken)]
        server = ModbusSerialServer(units, port=bridge.port_b, baudrate=115200)
        await server.serve_forever(background=True)
        return server

    server = peers.run(start())
    yield bridge, server
    peers.run(server.shutdown())
    bridge.close()


def test_rtu_driver_reads_and_writes_over_a_serial_pair(serial_bus):
    bridge, server = serial_bus
    Registers(server, 2).set_words("input", 4, bytes_to_registers(struct.pack(">I", 123456), "big", "little"))
    link = LinkConfig(transport="rtu", serial=SerialSettings(bridge.port_a, baudrate=115200), timeout_s=1.0)

    async def scenario():
        drv = RtuDriver(link)
        await drv.connect()
        try:
            words = await drv.read(2, "input", 4, 2)
            await drv.write(2, "holding", 0, [0x1234])
            back = await drv.read(2, "holding", 0, 1)
            with pytest.raises(DeviceException) as e:
                await drv.read(3, "input", 0, 1)
            still = await drv.read(2, "holding", 0, 1)  # the bus stays usable after a fault
        finally:
            await drv.close()
        return words, back, e.value.code, still

    words, back, code, still = asyncio.run(scenario())
    assert struct.unpack(">I", struct.pack(">HH", words[1], words[0]))[0] == 123456
    assert back == still == [0x1234] and code == int(ExcCodes.ILLEGAL_FUNCTION)
    assert bridge.bytes_copied > 0


def test_runtime_shares_one_bus_between_units(serial_bus):
    bridge, server = serial_bus
    Registers(server, 1).set_words("input", 4, bytes_to_registers(struct.pack(">I", 7), "big", "little"))
    Registers(server, 2).set_words("input", 4, bytes_to_registers(struct.pack(">I", 8), "big", "little"))
    serial = {"port": bridge.port_a, "baudrate": 115200}
    devices = [
        {"name": f"m{u}", "profile": "meter", "transport": "rtu", "unit": u, "interval_ms": 50,
         "timeout_ms": 1000, "serial": dict(serial)}
        for u in (1, 2, 3)
    ]
    plant = make_plant(PROFILE, devices)
    assert len({d.link_key() for d in plant.devices}) == 1
    made = []

    def factory(cfg):
        made.append(cfg.name)
        return RtuDriver(cfg.link_config())

    sink = Collector()
    rt = Runtime(plant, factory, [sink])
    rt.start()
    try:
        got = sink.wait_for(lambda s: {x.tag for x in s} >= {"m1.energy", "m2.energy", "m3.energy"})
        res = rt.write("m2", "limit", -5)
        diag = rt.diagnostics()
    finally:
        rt.stop()
    assert made == ["m1"]  # one driver (one serial port) for the whole bus
    last = {s.tag: s for s in got}
    assert (last["m1.energy"].value, last["m2.energy"].value) == (7, 8)
    assert last["m3.energy"].quality is Quality.BAD_DEVICE and last["m3.limit"].quality is Quality.GOOD
    assert res.readback == -5 and Registers(server, 2).holding[0] == 0xFFFB
    assert diag["m1"].state == diag["m2"].state == "online" and diag["m3"].errors["exception"] >= 1


def test_missing_serial_port_is_a_connect_error_naming_it(tmp_path):
    from app.sdk import CommError

    missing = str(tmp_path / "ttyUSB9")
    link = LinkConfig(transport="rtu", serial=SerialSettings(missing), timeout_s=0.5)

    async def scenario():
        drv = RtuDriver(link)
        with pytest.raises(CommError) as e:
            await drv.connect()
        return e.value, drv.connected

    err, connected = asyncio.run(scenario())
    assert err.kind == "connect" and missing in str(err) and not connected
