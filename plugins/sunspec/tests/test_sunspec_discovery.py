"""SunSpec discovery against a real pymodbus server laid out as a SunSpec inverter, reached
through the real Modbus TCP driver plugin and the real plugin host."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from vigil_sunspec.simulate import SF_OFFSETS, sunspec_registers

from app.plugin_testing import connect_driver, journal_events, read_points
from app.sdk import DiscoveryError, Profile

PLUGINS = Path(__file__).resolve().parents[2]
SUNSPEC = PLUGINS / "sunspec"
MODBUS = PLUGINS / "modbus"

RAW = {
    "ac_current": 2175,  # x 10^-2 -> 21.75 A
    "ac_current_a": 725,
    "ac_current_b": 726,
    "ac_current_c": 724,
    "ac_voltage_an": 2301,  # x 10^-1 -> 230.1 V
    "ac_voltage_bn": 2299,
    "ac_voltage_cn": 2302,
    "ac_power": -1234 & 0xFFFF,  # int16, x 10^1 -> -12340 W (importing)
    "ac_frequency": 5002,  # x 10^-2 -> 50.02 Hz
    "ac_energy": 123_456_789,  # acc32, x 10^0
    "dc_voltage": 6105,
    "cabinet_temperature": 415,  # x 10^-1 -> 41.5 C
    "operating_state": 4,  # MPPT
    "events": 0,
}
SF = {
    SF_OFFSETS["ac_current"]: -2,
    SF_OFFSETS["ac_voltage_an"]: -1,
    SF_OFFSETS["ac_power"]: 1,
    SF_OFFSETS["ac_frequency"]: -2,
    SF_OFFSETS["ac_energy"]: 0,
    SF_OFFSETS["dc_voltage"]: -1,
    SF_OFFSETS["cabinet_temperature"]: -1,
}


def _discover_and_read(host, server, unit: int = 1) -> tuple[Profile, dict]:
    async def go():
        driver = connect_driver(host, "tcp", server)
        await driver.connect()
        try:
            dt = host.device_type("sunspec")
            await dt.login(driver, unit)
            profile = await dt.discover(driver, unit)
            values = await read_points(driver, unit, profile, dt.decoder)
            return profile, values
        finally:
            await driver.close()

    return asyncio.run(go())


def _discover_error(host, server, unit: int = 1) -> str:
    async def go():
        driver = connect_driver(host, "tcp", server)
        await driver.connect()
        try:
            with pytest.raises(DiscoveryError) as err:
                await host.device_type("sunspec").discover(driver, unit)
            return str(err.value)
        finally:
            await driver.close()

    return asyncio.run(go())


def test_three_phase_inverter_is_discovered_and_scaled(plugin_host, modbus_server, plugin_journal):
    server = modbus_server(sunspec_registers(raw=RAW, sf=SF, serial="SN-42"))
    host = plugin_host(SUNSPEC, MODBUS)
    profile, values = _discover_and_read(host, server)

    assert profile.device.id == "sunspec_acme_solar_as_5000"
    assert profile.device.vendor == "Acme Solar"
    assert values["serial_number"] == "SN-42"
    assert values["version"] == "1.2.3"
    assert values["ac_current"] == pytest.approx(21.75)
    assert values["ac_voltage_an"] == pytest.approx(230.1)
    assert values["ac_power"] == pytest.approx(-12340.0)
    assert values["ac_frequency"] == pytest.approx(50.02)
    assert values["ac_energy"] == 123_456_789
    assert values["cabinet_temperature"] == pytest.approx(41.5)
    assert values["operating_state"] == 4
    # addresses are protocol addresses: content of model 103 starts after marker(2) +
    # common header(2) + common(66) + inverter header(2)
    assert profile.point("ac_current").address == 40000 + 2 + 2 + 66 + 2
    # fields the device marks "not implemented" (no SF, or marker values) are left out
    names = {p.name for p in profile.points}
    assert "ac_voltage_ab" not in names and "dc_power" not in names and "ac_reactive_power" not in names
    assert "not implemented by the device" in profile.device.description
    loads = [e for e in journal_events(plugin_journal, "plugin.load") if e.body["plugin"] == "vigil.sunspec"]
    assert len(loads) == 1 and len(loads[0].body["sha256"]) == 64


def test_single_phase_without_phase_b_c_and_an_unmapped_model(plugin_host, modbus_server):
    raw = {
        k: v
        for k, v in RAW.items()
        if k not in ("ac_current_b", "ac_current_c", "ac_voltage_bn", "ac_voltage_cn")
    }
    server = modbus_server(
        sunspec_registers(inverter_model=101, raw=raw, sf=SF, extra_models=[(160, [0] * 8)])
    )
    profile, values = _discover_and_read(plugin_host(SUNSPEC, MODBUS), server)
    names = {p.name for p in profile.points}
    assert "ac_current_a" in names and "ac_current_b" not in names and "ac_voltage_bn" not in names
    assert "SunSpec models 1, 101, 160 (not mapped: 160)" in profile.device.description
    assert values["ac_current_a"] == pytest.approx(7.25)


def test_marker_at_base_zero_is_found(plugin_host, modbus_server):
    server = modbus_server(sunspec_registers(base=0, raw=RAW, sf=SF))
    profile, values = _discover_and_read(plugin_host(SUNSPEC, MODBUS), server)
    assert profile.device.source.endswith("base address 0")
    assert values["ac_frequency"] == pytest.approx(50.02)


def test_value_that_becomes_not_implemented_reads_as_none(plugin_host, modbus_server):
    """The decoder hook keeps SunSpec's 0x8000 marker from being shown as -3276.8 W."""
    regs = sunspec_registers(raw=RAW, sf=SF)
    server = modbus_server(regs)
    host = plugin_host(SUNSPEC, MODBUS)
    profile, _ = _discover_and_read(host, server)
    point = profile.point("ac_power")
    decode = host.device_type("sunspec").decoder(profile, point)
    assert decode([0x8000], 0) is None
    assert decode([(-5) & 0xFFFF], 0) == pytest.approx(-50.0)


def test_not_a_sunspec_device_is_refused_with_addresses(plugin_host, modbus_server):
    server = modbus_server({40000: [1, 2, 3, 4]})
    msg = _discover_error(plugin_host(SUNSPEC, MODBUS), server)
    assert "not a SunSpec device" in msg and "40000: 0x0001 0x0002" in msg and "0: exception 2" in msg


def test_model_overrunning_the_register_space_is_refused(plugin_host, modbus_server):
    regs = sunspec_registers(raw=RAW, sf=SF)[40000]
    regs = regs[:-2]  # replace the end marker by a model header claiming 65000 registers
    server = modbus_server({40000: [*regs, 7, 65000]})
    msg = _discover_error(plugin_host(SUNSPEC, MODBUS), server)
    assert "model 7" in msg and "past register 65535" in msg


def test_missing_common_model_is_refused(plugin_host, modbus_server):
    server = modbus_server({40000: [0x5375, 0x6E53, 103, 50, *([0] * 50), 0xFFFF, 0]})
    msg = _discover_error(plugin_host(SUNSPEC, MODBUS), server)
    assert "no common model" in msg
