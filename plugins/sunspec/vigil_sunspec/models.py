"""The parts of the SunSpec Information Model this plugin understands, as data.

Offsets are relative to the first register after a model's (id, length) header. Integer
inverter models (101 single phase, 102 split phase, 103 three phase) share one 50-register
layout in which each measured value has a sibling scale-factor register (``*_SF``, int16,
value = raw x 10^SF). Float models (111-113) and others are listed but not mapped.
"""

from __future__ import annotations

from typing import NamedTuple

MARKER = (0x5375, 0x6E53)  # "SunS"
#: where the marker may be (protocol addresses), in the order the spec says to try them
BASE_ADDRESSES = (40000, 0, 50000)
END_MODEL_ID = 0xFFFF
COMMON_MODEL = 1
INVERTER_MODELS = {101: "single phase", 102: "split phase", 103: "three phase"}
INVERTER_LENGTH = 50

#: "not implemented" markers, per SunSpec type
NOT_IMPLEMENTED = {"int16": 0x8000, "uint16": 0xFFFF, "acc32": 0, "enum16": 0xFFFF, "bitfield32": 0xFFFFFFFF}


class CommonField(NamedTuple):
    name: str
    offset: int
    count: int  # type: ignore[assignment]  # shadows tuple.count (a mypy limitation)
    description: str


#: model 1 (length 65 or 66)
COMMON_FIELDS = (
    CommonField("manufacturer", 0, 16, "Manufacturer (Mn)"),
    CommonField("model", 16, 16, "Model (Md)"),
    CommonField("options", 32, 8, "Options (Opt)"),
    CommonField("version", 40, 8, "Firmware version (Vr)"),
    CommonField("serial_number", 48, 16, "Serial number (SN)"),
)
COMMON_MIN_LENGTH = 65


class InverterField(NamedTuple):
    name: str
    offset: int
    sunspec_type: str  # int16 | uint16 | acc32 | enum16 | bitfield32
    sf_offset: int | None  # offset of its scale factor register, None: unscaled
    unit: str
    description: str


INVERTER_FIELDS = (
    InverterField("ac_current", 0, "uint16", 4, "A", "AC current, total (A)"),
    InverterField("ac_current_a", 1, "uint16", 4, "A", "AC current, phase A (AphA)"),
    InverterField("ac_current_b", 2, "uint16", 4, "A", "AC current, phase B (AphB)"),
    InverterField("ac_current_c", 3, "uint16", 4, "A", "AC current, phase C (AphC)"),
    InverterField("ac_voltage_ab", 5, "uint16", 11, "V", "Phase voltage AB (PPVphAB)"),
    InverterField("ac_voltage_bc", 6, "uint16", 11, "V", "Phase voltage BC (PPVphBC)"),
    InverterField("ac_voltage_ca", 7, "uint16", 11, "V", "Phase voltage CA (PPVphCA)"),
    InverterField("ac_voltage_an", 8, "uint16", 11, "V", "Phase voltage AN (PhVphA)"),
    InverterField("ac_voltage_bn", 9, "uint16", 11, "V", "Phase voltage BN (PhVphB)"),
    InverterField("ac_voltage_cn", 10, "uint16", 11, "V", "Phase voltage CN (PhVphC)"),
    InverterField("ac_power", 12, "int16", 13, "W", "AC power (W)"),
    InverterField("ac_frequency", 14, "uint16", 15, "Hz", "Line frequency (Hz)"),
    InverterField("ac_apparent_power", 16, "int16", 17, "VA", "AC apparent power (VA)"),
    InverterField("ac_reactive_power", 18, "int16", 19, "var", "AC reactive power (VAr)"),
    InverterField("ac_power_factor", 20, "int16", 21, "%", "Power factor (PF)"),
    InverterField("ac_energy", 22, "acc32", 24, "Wh", "AC energy, lifetime (WH)"),
    InverterField("dc_current", 25, "uint16", 26, "A", "DC current (DCA)"),
    InverterField("dc_voltage", 27, "uint16", 28, "V", "DC voltage (DCV)"),
    InverterField("dc_power", 29, "int16", 30, "W", "DC power (DCW)"),
    InverterField("cabinet_temperature", 31, "int16", 35, "°C", "Cabinet temperature (TmpCab)"),
    InverterField("heatsink_temperature", 32, "int16", 35, "°C", "Heat sink temperature (TmpSnk)"),
    InverterField("transformer_temperature", 33, "int16", 35, "°C", "Transformer temperature (TmpTrns)"),
    InverterField("other_temperature", 34, "int16", 35, "°C", "Other temperature (TmpOt)"),
    InverterField(
        "operating_state", 36, "enum16", None, "", "Operating state (St): 1 off ... 4 MPPT ... 7 fault"
    ),
    InverterField("events", 38, "bitfield32", None, "", "Event flags (Evt1)"),
)

#: SunSpec type -> Vigil profile data type
PROFILE_TYPE = {
    "int16": "int16",
    "uint16": "uint16",
    "acc32": "uint32",
    "enum16": "uint16",
    "bitfield32": "uint32",
}
