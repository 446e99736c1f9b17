"""The demo simulator over real Modbus TCP: a real pymodbus client on 127.0.0.1 reads back the
model's values through the profiles, writes reach the model, faults show as the protocol
would show them."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from app.core.codec import decode, encode
from app.core.profiles import DataType, Table
from app.sim.demo import DEMO_DEVICES, load_demo_profiles
from app.sim.model import PlantModel
from app.sim.server import SimulatorThread
from tests.sim.conftest import with_client

PROFILES = load_demo_profiles()
FREEZE = 0.001  # update_hz so low the model stays at t=0 for the whole test: exact comparisons


async def _read_table(client: AsyncModbusTcpClient, unit: int, table: Table, size: int) -> list:
    """Read a whole table in chunks the protocol allows."""
    out: list = []
    step = 2000 if table.is_bit_table else 120
    for start in range(0, size, step):
        n = min(step, size - start)
        if table is Table.COIL:
            r = await client.read_coils(start, count=n, device_id=unit)
        elif table is Table.DISCRETE:
            r = await client.read_discrete_inputs(start, count=n, device_id=unit)
        elif table is Table.HOLDING:
            r = await client.read_holding_registers(start, count=n, device_id=unit)
        else:
            r = await client.read_input_registers(start, count=n, device_id=unit)
        assert not r.isError(), (unit, table, start, r)
        out.extend(r.bits[:n] if table.is_bit_table else r.registers)
    return out


@pytest.mark.parametrize("device", list(DEMO_DEVICES))
def test_client_decodes_the_models_values_with_the_profile(start_sim, device: str) -> None:
    sim = start_sim(update_hz=FREEZE)
    prof = PROFILES[device]
    unit = DEMO_DEVICES[device][1]
    sizes = sim.call(lambda s: s.devices[device].image.sizes())
    expected = sim.values()[device]

    async def read_all(client):
        return {t: await _read_table(client, unit, t, n) for t, n in sizes.items() if n}

    tables = with_client(sim.port, read_all)
    assert tables, "device serves no table at all"
    for p in prof.points:
        got = decode(prof, p, tables[p.table][p.address : p.address + p.width])
        want = expected[p.name]
        if p.table.is_bit_table or p.type is DataType.BOOL:
            assert got is bool(want), p.name
        elif p.type is DataType.STRING:
            assert isinstance(want, str) and want.startswith(got) and got, p.name
        else:
            # exactly what the profile's own encoding of the model value decodes to
            assert got == decode(prof, p, encode(prof, p, want)), p.name
            assert abs(got - want) <= max(abs(p.scale) / 2, abs(want) * 1e-6) + 1e-9, p.name


def test_values_move_while_the_simulator_runs(start_sim) -> None:
    sim = start_sim()

    async def two_reads(client):
        a = (await client.read_input_registers(0, count=4, device_id=1)).registers
        await asyncio.sleep(0.5)
        b = (await client.read_input_registers(0, count=4, device_id=1)).registers
        return a, b

    a, b = with_client(sim.port, two_reads)
    assert a != b


def test_writing_the_tank_setpoint_changes_the_model_and_moves_the_valve(start_sim) -> None:
    sim = start_sim()
    sp = PROFILES["tank"].point("valve_setpoint")
    pos = PROFILES["tank"].point("valve_position")
    unit = DEMO_DEVICES["tank"][1]

    async def write_and_watch(client):
        r = await client.write_registers(sp.address, encode(PROFILES["tank"], sp, 80.0), device_id=unit)
        assert not r.isError(), r
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            regs = (await client.read_input_registers(pos.address, count=1, device_id=unit)).registers
            if decode(PROFILES["tank"], pos, regs) >= 79.9:
                return True
            await asyncio.sleep(0.1)
        return False

    assert with_client(sim.port, write_and_watch), "valve never reached the written setpoint"
    assert sim.values()["tank"]["valve_setpoint"] == 80.0


def test_out_of_range_setpoint_is_refused_with_illegal_value(start_sim) -> None:
    sim = start_sim()
    sp = PROFILES["tank"].point("valve_setpoint")

    async def write(client):
        return await client.write_register(sp.address, 1500, device_id=3)  # 150.0 % > max 100

    r = with_client(sim.port, write)
    assert r.isError() and r.exception_code == 3
    assert sim.values()["tank"]["valve_setpoint"] == 50.0


def test_writes_to_read_only_or_unmapped_addresses_are_refused(start_sim) -> None:
    sim = start_sim()

    async def writes(client):
        a = await client.write_register(5, 1, device_id=3)  # beyond the holding table
        b = await client.write_coil(3, True, device_id=1)  # coil space with no point
        return a, b

    a, b = with_client(sim.port, writes)
    assert a.isError() and b.isError() and b.exception_code == 2


def test_coil_writes_reach_the_model(start_sim) -> None:
    sim = start_sim()
    run = PROFILES["pump"].point("run")
    pump_run = PROFILES["tank"].point("pump_run")

    async def writes(client):
        assert not (await client.write_coil(run.address, False, device_id=1)).isError()
        assert not (await client.write_coil(pump_run.address, False, device_id=3)).isError()
        return (await client.read_coils(run.address, count=1, device_id=1)).bits[0]

    assert with_client(sim.port, writes) is False
    v = sim.values()
    assert v["pump"]["run"] is False and v["tank"]["pump_run"] is False


def test_exception_fault_answers_with_exception_code_4(start_sim) -> None:
    sim = start_sim(faults="exception:meter@0")

    async def reads(client):
        meter = await client.read_input_registers(0, count=2, device_id=2)
        pump = await client.read_input_registers(0, count=2, device_id=1)
        return meter, pump

    meter, pump = with_client(sim.port, reads)
    assert meter.isError() and meter.exception_code == 4
    assert not pump.isError()


def test_dead_device_does_not_answer_and_others_still_do(start_sim) -> None:
    sim = start_sim(faults="dead:vitals@0+1.5")

    async def dead_read(client):
        with pytest.raises(ModbusIOException):
            await client.read_input_registers(0, count=2, device_id=4)

    with_client(sim.port, dead_read, timeout=0.5)

    async def pump_read(client):
        return await client.read_input_registers(0, count=2, device_id=1)

    assert not with_client(sim.port, pump_read).isError()

    async def until_alive(client):  # the fault ends at 1.5 s: the device answers again
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                r = await client.read_input_registers(0, count=2, device_id=4)
                if not r.isError():
                    return True
            except ModbusIOException:
                pass
            await asyncio.sleep(0.2)
        return False

    assert with_client(sim.port, until_alive, timeout=0.5)


def test_unknown_unit_gets_gateway_no_response(start_sim) -> None:
    sim = start_sim(update_hz=FREEZE)

    async def read(client):
        return await client.read_input_registers(0, count=2, device_id=9)

    r = with_client(sim.port, read)
    assert r.isError() and r.exception_code == 11


def test_a_taken_port_is_reported_not_hung(start_sim) -> None:
    first = start_sim(update_hz=FREEZE)
    second = SimulatorThread(port=first.port, update_hz=FREEZE)
    with pytest.raises(OSError):
        second.start(timeout=10.0)
    second.stop()


def test_stop_is_clean_and_idempotent() -> None:
    sim = SimulatorThread(update_hz=FREEZE)
    port = sim.start()
    sim.stop()
    sim.stop()

    async def connect():
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.5, retries=0)
        ok = await client.connect()
        client.close()
        return ok

    assert asyncio.run(connect()) is False


def test_a_quiet_simulator_stands_still_and_a_request_sees_the_current_step(start_sim) -> None:
    """Nobody asks: the model does not step (no 10 Hz wake-ups for registers nobody reads). A
    request after a quiet spell answers with the values of the current step, the same values
    a model stepped on a timer would have had."""
    sim = start_sim()
    time.sleep(1.2)
    assert sim.simulator.model.t == 0.0  # read without catching up: it has not moved by itself
    prof = PROFILES["pump"]
    unit = DEMO_DEVICES["pump"][1]
    size = sim.call(lambda s: s.devices["pump"].image.sizes()[Table.INPUT])

    async def read(client):
        return await _read_table(client, unit, Table.INPUT, size)

    words = with_client(sim.port, read)
    t_seen = sim.simulator.model.t
    assert t_seen >= 1.1  # brought to the step of the request
    stepped = PlantModel(seed=7)
    while stepped.t < t_seen - 1e-9:  # the same model stepped 10 times a second, as before
        stepped.step(0.1)
    want = stepped.values()["pump"]
    checked = 0
    for p in prof.points:
        if p.table is Table.INPUT and p.type is not DataType.STRING and p.bit is None:
            checked += 1
            got = decode(prof, p, words[p.address : p.address + p.width])
            assert got == decode(prof, p, encode(prof, p, want[p.name])), p.name
    assert checked >= 3
