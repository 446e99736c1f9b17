"""SunSpec model discovery: turn whatever models an inverter carries into a Vigil profile.

A SunSpec device does not have one fixed register map: it announces itself with the marker
"SunS" at holding register 40000 (or 0, or 50000), followed by a chain of models, each a header
(model id, length) and its registers, ended by id 0xFFFF. Scale factors are registers too. So
the profile can only be built by asking the device: `discover` walks the chain, reads the common
model (identity) and the first integer inverter model (101/102/103), and bakes each value's
scale factor (10^SF) into its point. Values the device marks "not implemented" at discovery are
left out; if one becomes "not implemented" later, the `decoder` hook returns None for it (bad
quality) instead of showing the marker as a number.

Scale factors are read once per discovery, which SunSpec allows for fixed-SF devices (nearly
all); the runtime rediscovers on reconnect.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from app.sdk import (
    Decoder,
    DeviceException,
    DeviceTypeBase,
    DiscoveryError,
    Driver,
    Point,
    Profile,
    Value,
)
from vigil_sunspec.models import (
    BASE_ADDRESSES,
    COMMON_FIELDS,
    COMMON_MIN_LENGTH,
    COMMON_MODEL,
    END_MODEL_ID,
    INVERTER_FIELDS,
    INVERTER_LENGTH,
    INVERTER_MODELS,
    MARKER,
    NOT_IMPLEMENTED,
    PROFILE_TYPE,
    InverterField,
)

MAX_MODELS = 100  # a chain longer than this is broken, not a device
MAX_READ = 125
_FIELDS_BY_NAME = {f.name: f for f in INVERTER_FIELDS}


async def read_block(driver: Driver, unit: int, address: int, count: int) -> list[int]:
    """Read ``count`` holding registers in requests of at most 125."""
    out: list[int] = []
    while count > 0:
        n = min(count, MAX_READ)
        out += [int(v) for v in await driver.read(unit, "holding", address, n)]
        address += n
        count -= n
    return out


def registers_text(regs: Sequence[int]) -> str:
    """SunSpec strings: two ASCII bytes per register, padded with NULs (or spaces)."""
    raw = b"".join(int(r).to_bytes(2, "big") for r in regs)
    return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()


def _signed16(v: int) -> int:
    return v - 0x10000 if v & 0x8000 else v


def _raw_value(content: Sequence[int], f: InverterField) -> int:
    if f.sunspec_type in ("acc32", "bitfield32"):
        return (content[f.offset] << 16) | content[f.offset + 1]
    return content[f.offset]


class SunSpecDeviceType(DeviceTypeBase):
    """``device_type = "sunspec"``: discovers models and returns a profile named after the
    device (``sunspec_<manufacturer>_<model>``)."""

    async def discover(self, driver: Driver, unit: int) -> Profile:
        base = await self._find_base(driver, unit)
        models = await self._walk(driver, unit, base)
        common = next(((a, n) for mid, a, n in models if mid == COMMON_MODEL), None)
        if common is None:
            raise DiscoveryError(f"unit {unit}: SunSpec chain at {base} has no common model (id 1)")
        if common[1] < COMMON_MIN_LENGTH:
            raise DiscoveryError(
                f"unit {unit}: common model at {common[0]} has length {common[1]}, expected >= 65"
            )
        points: list[dict[str, Any]] = []
        identity = await self._common(driver, unit, common[0], points)
        inverters = [(mid, a, n) for mid, a, n in models if mid in INVERTER_MODELS]
        notes = []
        if inverters:
            mid, addr, length = inverters[0]
            if length < INVERTER_LENGTH:
                raise DiscoveryError(
                    f"unit {unit}: inverter model {mid} at {addr} has length {length}, expected 50"
                )
            notes += await self._inverter(driver, unit, addr, points)
        mapped = {COMMON_MODEL} | ({inverters[0][0]} if inverters else set())
        unmapped = sorted({mid for mid, _, _ in models} - mapped)
        found = ", ".join(str(mid) for mid, _, _ in models)
        description = f"SunSpec models {found}" + (
            f" (not mapped: {', '.join(map(str, unmapped))})" if unmapped else ""
        )
        if notes:
            description += "; " + "; ".join(notes)
        slug = re.sub(r"[^a-z0-9]+", "_", f"{identity['manufacturer']}_{identity['model']}".lower()).strip(
            "_"
        )
        device = {
            "id": f"sunspec_{slug or 'device'}"[:64],
            "vendor": identity["manufacturer"],
            "model": identity["model"],
            "description": description,
            "source": f"SunSpec discovery, unit {unit}, base address {base}",
        }
        raw = {"device": device, "points": points}
        digest = hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()
        try:
            return Profile.model_validate({**raw, "path": f"sunspec:unit{unit}", "sha256": digest})
        except ValueError as e:  # our own bug or a device with absurd values: say so plainly
            raise DiscoveryError(f"unit {unit}: discovered layout is not a valid profile: {e}") from None

    def decoder(self, profile: Profile, point: Point) -> Decoder | None:
        """Inverter values: None for SunSpec's "not implemented" markers, else raw x 10^SF."""
        field = _FIELDS_BY_NAME.get(point.name)
        if field is None or point.table != "holding":
            return None
        marker = NOT_IMPLEMENTED[field.sunspec_type]
        wide = field.sunspec_type in ("acc32", "bitfield32")
        signed = field.sunspec_type == "int16"
        scale = point.scale

        def decode(block: Sequence[int] | Sequence[bool], start: int) -> Value:
            raw = (int(block[start]) << 16 | int(block[start + 1])) if wide else int(block[start])
            if raw == marker and field.sunspec_type != "acc32":
                return None
            value = _signed16(raw) if signed else raw
            return value if scale == 1.0 else value * scale

        return decode

    # ------------------------------------------------------------------ steps

    async def _find_base(self, driver: Driver, unit: int) -> int:
        seen = []
        for base in BASE_ADDRESSES:
            try:
                regs = await driver.read(unit, "holding", base, 2)
            except DeviceException as e:
                seen.append(f"{base}: exception {e.code}")
                continue
            if tuple(regs) == MARKER:
                return base
            seen.append(f"{base}: {regs[0]:#06x} {regs[1]:#06x}")
        where = ", ".join(map(str, BASE_ADDRESSES))
        raise DiscoveryError(
            f"unit {unit}: not a SunSpec device: no 'SunS' marker at {where} (found {'; '.join(seen)})"
        )

    async def _walk(self, driver: Driver, unit: int, base: int) -> list[tuple[int, int, int]]:
        """(model id, content address, length) for each model in the chain."""
        models: list[tuple[int, int, int]] = []
        addr = base + 2
        for _ in range(MAX_MODELS):
            if addr + 2 > 65536:
                raise DiscoveryError(f"unit {unit}: model chain runs past register 65535")
            model_id, length = await read_block(driver, unit, addr, 2)
            if model_id == END_MODEL_ID:
                return models
            if addr + 2 + length > 65536:
                raise DiscoveryError(
                    f"unit {unit}: model {model_id} at {addr} claims length {length}, past register 65535"
                )
            models.append((model_id, addr + 2, length))
            addr += 2 + length
        raise DiscoveryError(f"unit {unit}: no end marker (0xFFFF) after {MAX_MODELS} models from {base}")

    async def _common(
        self, driver: Driver, unit: int, addr: int, points: list[dict[str, Any]]
    ) -> dict[str, str]:
        content = await read_block(driver, unit, addr, COMMON_MIN_LENGTH)
        identity = {}
        for f in COMMON_FIELDS:
            identity[f.name] = registers_text(content[f.offset : f.offset + f.count])
            points.append(
                {
                    "name": f.name,
                    "description": f.description,
                    "table": "holding",
                    "address": addr + f.offset,
                    "type": "string",
                    "count": f.count,
                    "scan": "slow",
                }
            )
        return identity

    async def _inverter(
        self, driver: Driver, unit: int, addr: int, points: list[dict[str, Any]]
    ) -> list[str]:
        content = await read_block(driver, unit, addr, INVERTER_LENGTH)
        skipped = []
        for f in INVERTER_FIELDS:
            scale = 1.0
            if f.sf_offset is not None:
                sf = _signed16(content[f.sf_offset])
                if sf == -32768 or not -10 <= sf <= 10:
                    skipped.append(f.name)
                    continue
                scale = 10.0**sf
            raw = _raw_value(content, f)
            if f.sunspec_type != "acc32" and raw == NOT_IMPLEMENTED[f.sunspec_type]:
                skipped.append(f.name)
                continue
            points.append(
                {
                    "name": f.name,
                    "description": f.description,
                    "unit": f.unit,
                    "table": "holding",
                    "address": addr + f.offset,
                    "type": PROFILE_TYPE[f.sunspec_type],
                    "scale": scale,
                }
            )
        return [f"not implemented by the device: {', '.join(skipped)}"] if skipped else []
