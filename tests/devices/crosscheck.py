"""The cross-check table: for every real product in ``device_profiles/``, a handful of points
as an independent open-source implementation reads them, transcribed from that source (not
from our profile) into protocol addresses (0-based).

Each entry: (point name, table, protocol address, type, scale). ``scale`` is the factor the
source multiplies the raw number by (its divisor inverted); None where the source reads the
value unscaled or as a float. The named repository and file must also appear in the profile's
``[device] cross_check`` so a reader of the profile can find the same source.
"""

from __future__ import annotations

from typing import NamedTuple


class Check(NamedTuple):
    point: str
    table: str
    address: int
    type: str
    scale: float | None = None


class CrossCheck(NamedTuple):
    source: str  # "owner/repo path", as named in the profile's cross_check
    checks: tuple[Check, ...]


H, I, C, D = "holding", "input", "coil", "discrete"  # noqa: E741 - table initials

TABLE: dict[str, CrossCheck] = {
    # mbmd: Voltage 0x0000, Current 0x0006, Power 0x000C, Frequency 0x0046, Import 0x0048,
    # Sum 0x0156; ReadInputReg, ReadLen 2, RTUIeee754ToFloat64
    "eastron-sdm120": CrossCheck(
        "volkszaehler/mbmd meters/rs485/sdm120.go",
        (
            Check("voltage", I, 0x0000, "float32"),
            Check("current", I, 0x0006, "float32"),
            Check("active_power", I, 0x000C, "float32"),
            Check("power_factor", I, 0x001E, "float32"),
            Check("frequency", I, 0x0046, "float32"),
            Check("import_energy", I, 0x0048, "float32"),
            Check("export_energy", I, 0x004A, "float32"),
            Check("total_energy", I, 0x0156, "float32"),
        ),
    ),
    # mbmd: Power 0x0034, Import 0x0048, Export 0x004a, Sum 0x0156; ReadInputReg, IEEE 754
    "eastron-sdm72d-m": CrossCheck(
        "volkszaehler/mbmd meters/rs485/sdm72.go",
        (
            Check("total_power", I, 0x0034, "float32"),
            Check("import_energy", I, 0x0048, "float32"),
            Check("export_energy", I, 0x004A, "float32"),
            Check("total_energy", I, 0x0156, "float32"),
        ),
    ),
    # mbmd: ReadHoldingReg; voltages snip32u /10, currents snip32u /100, cosphi snip16i /1000,
    # frequency snip16u /100, powers snip32i /100, energies snip64u /100
    "abb-b23": CrossCheck(
        "volkszaehler/mbmd meters/rs485/abb.go",
        (
            Check("v_l1", H, 0x5B00, "uint32", 0.1),
            Check("v_l3", H, 0x5B04, "uint32", 0.1),
            Check("i_l1", H, 0x5B0C, "uint32", 0.01),
            Check("active_power", H, 0x5B14, "int32", 0.01),
            Check("frequency", H, 0x5B2C, "uint16", 0.01),
            Check("power_factor", H, 0x5B3A, "int16", 0.001),
            Check("import_energy", H, 0x5000, "uint64", 0.01),
            Check("export_energy", H, 0x5004, "uint64", 0.01),
        ),
    ),
    # mbmd: ReadHoldingReg, ReadLen 2, IEEE 754 (powers x 0.001 there: kW -> W; we keep kW)
    "schneider-iem3155": CrossCheck(
        "volkszaehler/mbmd meters/rs485/iem3000.go",
        (
            Check("v_l1", H, 0x5002, "float32"),
            Check("frequency", H, 0x5008, "float32"),
            Check("i_l1", H, 0x500C, "float32"),
            Check("active_power", H, 0x5012, "float32"),
            Check("power_factor", H, 0x502A, "float32"),
            Check("total_energy", H, 0x6000, "float32"),
            Check("import_energy", H, 0x600C, "float32"),
            Check("export_energy", H, 0x6018, "float32"),
        ),
    ),
    # mbmd: ReadInputReg; snip32 = RTUInt32ToFloat64Swapped (low word first); voltages /10,
    # currents /1000, cosphi snip16 /1000, frequency snip16 /10, powers and energies /10
    "carlo-gavazzi-em24": CrossCheck(
        "volkszaehler/mbmd meters/rs485/carlogavazzi-em24.go",
        (
            Check("v_l1", I, 0x00, "int32", 0.1),
            Check("i_l1", I, 0x0C, "int32", 0.001),
            Check("active_power_l1", I, 0x12, "int32", 0.1),
            Check("active_power", I, 0x28, "int32", 0.1),
            Check("power_factor", I, 0x35, "int16", 0.001),
            Check("frequency", I, 0x37, "int16", 0.1),
            Check("import_energy", I, 0x42, "int32", 0.1),
            Check("export_energy", I, 0x5C, "int32", 0.1),
        ),
    ),
    # mbmd: ReadHoldingReg; DCVoltageS1 32016 /10, DCCurrentS1 32017 /100, DCPower 32064,
    # Power 32080, VoltageL1 32069 /10, Efficiency 32086 /100, InsideTemperature 32087 /10,
    # GeneratedEnergyTotal 32106 /100, ExportPower 37113
    "huawei-sun2000": CrossCheck(
        "volkszaehler/mbmd meters/rs485/sun2000ktl.go",
        (
            Check("pv1_voltage", H, 32016, "int16", 0.1),
            Check("pv1_current", H, 32017, "int16", 0.01),
            Check("input_power", H, 32064, "int32"),
            Check("v_a", H, 32069, "uint16", 0.1),
            Check("active_power", H, 32080, "int32"),
            Check("efficiency", H, 32086, "uint16", 0.01),
            Check("internal_temperature", H, 32087, "int16", 0.1),
            Check("energy_total", H, 32106, "uint32", 0.01),
            Check("meter_active_power", H, 37113, "int32"),
        ),
    ),
    # pyse: did 40_069; _read_sequence_scaled_uint16(40_071, 4) -> SF at 40_075; power
    # _read_scaled_int16(40_083) -> SF 40_084; frequency uint16 40_085 / SF 40_086; energy
    # acc32 40_093 with SF 40_095; temperature 40_103 with SF 40_106; status 40_107
    "solaredge-sunspec": CrossCheck(
        "timsavage/solaredge-modbus pyse/models.py",
        (
            Check("sunspec_did", H, 40069, "uint16"),
            Check("ac_current", H, 40071, "uint16"),
            Check("ac_current_sf", H, 40075, "int16"),
            Check("ac_power", H, 40083, "int16"),
            Check("ac_power_sf", H, 40084, "int16"),
            Check("ac_frequency", H, 40085, "uint16"),
            Check("ac_energy", H, 40093, "uint32"),
            Check("heat_sink_temperature", H, 40103, "int16"),
            Check("temperature_sf", H, 40106, "int16"),
            Check("status", H, 40107, "uint16"),
        ),
    ),
    # gs2_vfd.c: read 13 registers from 0x2100; freq_cmd/freq_out/current/DC bus/output volts
    # x 0.1, RPM as is, load x 0.1; writes 0x091A speed (1/10 Hz), +1 run, +2 direction,
    # +4 fault reset
    "automationdirect-gs2": CrossCheck(
        "LinuxCNC/linuxcnc src/hal/user_comps/gs2_vfd.c",
        (
            Check("status_1", H, 0x2100, "uint16"),
            Check("frequency_command", H, 0x2102, "uint16", 0.1),
            Check("output_frequency", H, 0x2103, "uint16", 0.1),
            Check("output_current", H, 0x2104, "uint16", 0.1),
            Check("dc_bus_voltage", H, 0x2105, "uint16", 0.1),
            Check("motor_rpm", H, 0x2107, "uint16"),
            Check("load_percent", H, 0x210B, "uint16", 0.1),
            Check("speed_reference", H, 0x091A, "uint16", 0.1),
            Check("run_command", H, 0x091B, "uint16"),
            Check("fault_reset", H, 0x091E, "uint16"),
        ),
    ),
    # minimalmodbus: read_register(4096, 1) PV, read_register(4097, 1) SV, 4101 mode,
    # write_bit(2068) run/stop, 4144 start pattern
    "omega-cn7500": CrossCheck(
        "pyhys/minimalmodbus omegacn7500.py",
        (
            Check("process_value", H, 4096, "int16", 0.1),
            Check("setpoint", H, 4097, "int16", 0.1),
            Check("control_mode", H, 4101, "uint16"),
            Check("start_pattern", H, 4144, "uint16"),
            Check("run", C, 2068, "bool"),
        ),
    ),
    # minimalmodbus: PV loop1 289 (1 decimal), SP target 2, working SP 5, SP1 24, rate 35,
    # OP 85, inhibit 268, manual 273, PV loop2 1313, alarm summary 10213, alarm1 10241
    "eurotherm-3500": CrossCheck(
        "pyhys/minimalmodbus eurotherm3500.py",
        (
            Check("pv_loop1", H, 289, "int16", 0.1),
            Check("sp_target_loop1", H, 2, "int16", 0.1),
            Check("working_sp_loop1", H, 5, "int16", 0.1),
            Check("sp1_loop1", H, 24, "int16", 0.1),
            Check("output_loop1", H, 85, "int16", 0.1),
            Check("pv_loop2", H, 1313, "int16", 0.1),
            Check("alarm1_threshold", H, 10241, "int16", 0.1),
        ),
    ),
    # SecPi: client.read_discrete_inputs(address=0, count=12), channel di<i+1> = bit i
    "advantech-adam-6050": CrossCheck(
        "SecPi/SecPi worker/adam6000.py",
        (
            Check("di0", D, 0, "bool"),
            Check("di5", D, 5, "bool"),
            Check("di11", D, 11, "bool"),
        ),
    ),
    # register map: R1 flow rate float32, R5 velocity, R9/R13 totalizers uint32, R25 net,
    # R33/R35 temperatures, R72 error code, R92 signal quality; "modbus_addr = register - 1";
    # REAL4 low word first (BADC as bytes)
    "tuf-2000m": CrossCheck(
        "arivin29/note-rencana iot-service/iot-device-test/TUF2000M-REGISTER-MAP.md",
        (
            Check("flow_rate", H, 0, "float32"),
            Check("velocity", H, 4, "float32"),
            Check("positive_total", H, 8, "uint32"),
            Check("negative_total", H, 12, "uint32"),
            Check("temperature_inlet", H, 32, "float32"),
            Check("temperature_outlet", H, 34, "float32"),
            Check("error_code", H, 71, "uint16"),
            Check("signal_quality", H, 91, "uint16"),
        ),
    ),
}

#: word order the independent source decodes 32-bit values with, where it says so
WORD_ORDER: dict[str, str] = {
    "carlo-gavazzi-em24": "little",  # RTUInt32ToFloat64Swapped
    "tuf-2000m": "little",  # low word first
    "eastron-sdm120": "big",  # RTUIeee754ToFloat64
    "abb-b23": "big",
    "huawei-sun2000": "big",
}
