"""Register images of SunSpec devices, for tests and demos: what a real inverter would serve.

``sunspec_registers(...)`` returns ``{start address: [register values]}`` ready for
``app.plugin_testing.SimServer`` (or any Modbus simulator).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vigil_sunspec.models import INVERTER_FIELDS, INVERTER_LENGTH, MARKER, NOT_IMPLEMENTED

#: scale-factor register offsets inside the inverter model, by the name of a value they scale
SF_OFFSETS = {f.name: f.sf_offset for f in INVERTER_FIELDS if f.sf_offset is not None}


def text_registers(text: str, count: int) -> list[int]:
    data = text.encode("ascii")[: count * 2].ljust(count * 2, b"\x00")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def _u16(v: int) -> int:
    return v & 0xFFFF


def inverter_content(raw: Mapping[str, int], sf: Mapping[int, int]) -> list[int]:
    """50 registers of model 101/102/103. ``raw`` holds raw (unscaled) values by field name;
    fields not given are "not implemented". ``sf`` maps scale-factor offsets to exponents."""
    regs = [0] * INVERTER_LENGTH
    for f in INVERTER_FIELDS:
        if f.sunspec_type in ("acc32", "bitfield32"):
            v = raw.get(f.name, NOT_IMPLEMENTED[f.sunspec_type])
            regs[f.offset], regs[f.offset + 1] = (v >> 16) & 0xFFFF, v & 0xFFFF
        else:
            regs[f.offset] = _u16(raw.get(f.name, NOT_IMPLEMENTED[f.sunspec_type]))
    for offset in {f.sf_offset for f in INVERTER_FIELDS if f.sf_offset is not None}:
        regs[offset] = _u16(sf.get(offset, -32768))
    return regs


def sunspec_registers(
    *,
    manufacturer: str = "Acme Solar",
    model: str = "AS-5000",
    version: str = "1.2.3",
    serial: str = "SN0001",
    inverter_model: int | None = 103,
    raw: Mapping[str, int] | None = None,
    sf: Mapping[int, int] | None = None,
    base: int = 40000,
    extra_models: Sequence[tuple[int, Sequence[int]]] = (),
) -> dict[int, list[int]]:
    """A whole SunSpec device: marker, common model 1 (length 66), optional inverter model,
    ``extra_models`` as (id, content), then the end marker."""
    common = [0] * 66
    common[0:16] = text_registers(manufacturer, 16)
    common[16:32] = text_registers(model, 16)
    common[32:40] = text_registers("", 8)
    common[40:48] = text_registers(version, 8)
    common[48:64] = text_registers(serial, 16)
    common[64] = 1
    regs = [*MARKER, 1, len(common), *common]
    if inverter_model is not None:
        regs += [inverter_model, INVERTER_LENGTH, *inverter_content(raw or {}, sf or {})]
    for model_id, content in extra_models:
        regs += [model_id, len(content), *content]
    regs += [0xFFFF, 0]
    return {base: regs}
