"""How an OPC UA server is presented through the SDK's Driver contract, which speaks registers.

The SDK 1.x `Driver` reads numbered words, so the driver gives every configured point a slot of
four holding registers (``address = 4 x index``): a float64, int64 or uint64 value big-endian,
or a bool in bit 0 of the slot's first register. The profile it builds reads at most four
registers at a time and never bridges a gap, so every point is its own read and a bad OPC UA
status fails exactly that point. The profile itself is served as zlib-compressed JSON in the input
table (register 0: length in bytes; the data from register 1), which is how the ``opcua`` device type
learns it through the same contract during discovery.

OPC UA status codes map onto Vigil qualities like this (raised from ``read``):

- Good...: GOOD, the value.
- the Bad communication family (NoCommunication, NotConnected, Timeout, WaitingForInitialData,
  Shutdown, ...): BAD_COMM, raised as CommError.
- Uncertain... (unless the device sets ``uncertain_as_good``): BAD_DEVICE, DeviceException(4).
- every other Bad... (SensorFailure, DeviceFailure, OutOfService, NodeIdUnknown, ...):
  BAD_DEVICE, DeviceException(4), with the status named in the device's diagnostics.

SDK 1.1 has no way for a driver to say UNCERTAIN, so an Uncertain value is withheld (bad
quality, status named in the device diagnostics) rather than shown as good.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from typing import Any

from asyncua import ua

from app.sdk import CommError, DeviceException

SLOT = 4
_STRUCT = {"float64": struct.Struct(">d"), "int64": struct.Struct(">q"), "uint64": struct.Struct(">Q")}

#: statuses that say the value could not be fetched at all: shown as a communication fault
COMM_STATUSES = frozenset(
    {
        ua.StatusCodes.BadCommunicationError,
        ua.StatusCodes.BadNoCommunication,
        ua.StatusCodes.BadNotConnected,
        ua.StatusCodes.BadServerNotConnected,
        ua.StatusCodes.BadTimeout,
        ua.StatusCodes.BadWaitingForInitialData,
        ua.StatusCodes.BadShutdown,
        ua.StatusCodes.BadServerHalted,
        ua.StatusCodes.BadConnectionClosed,
        ua.StatusCodes.BadSecureChannelClosed,
        ua.StatusCodes.BadSessionClosed,
    }
)

#: OPC UA variant types -> the slot type that holds them without loss
VARIANT_SLOT = {
    ua.VariantType.Boolean: "bool",
    ua.VariantType.SByte: "int64",
    ua.VariantType.Byte: "int64",
    ua.VariantType.Int16: "int64",
    ua.VariantType.UInt16: "int64",
    ua.VariantType.Int32: "int64",
    ua.VariantType.UInt32: "int64",
    ua.VariantType.Int64: "int64",
    ua.VariantType.UInt64: "uint64",
    ua.VariantType.Float: "float64",
    ua.VariantType.Double: "float64",
}


def status_name(code: int) -> str:
    try:
        name = ua.status_codes.get_name_and_doc(code)[0]
    except Exception:  # an unknown code from a vendor server
        name = "unknown status"
    return f"{name} (0x{code:08X})"


def status_error(code: int, uncertain_as_good: bool, where: str) -> Exception | None:
    """The SDK error a read must raise for this status, or None when the value is usable."""
    sc = ua.StatusCode(ua.UInt32(code))
    if sc.is_good() or (uncertain_as_good and sc.is_uncertain()):
        return None
    if code in COMM_STATUSES:
        return CommError(f"{where}: server reports {status_name(code)}", kind="io")
    return DeviceException(4, f"{where}: server reports {status_name(code)}")


def slot_words(slot_type: str, value: Any) -> list[int]:
    """A value as its slot's registers (raises ValueError/TypeError/OverflowError if it is not one)."""
    if slot_type == "bool":
        return [1 if bool(value) else 0]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"value {value!r} is not a number")
    if slot_type == "float64":
        data = _STRUCT["float64"].pack(float(value))
    else:
        data = _STRUCT[slot_type].pack(int(value))
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, 8, 2)]


def words_value(slot_type: str, words: list[int] | list[bool]) -> bool | int | float:
    """The inverse of `slot_words` (what a write carries)."""
    if slot_type == "bool":
        return bool(int(words[0]) & 1)
    if len(words) != SLOT:
        raise ValueError(f"a {slot_type} slot is {SLOT} registers, got {len(words)}")
    data = b"".join(int(w).to_bytes(2, "big") for w in words)
    value: bool | int | float = _STRUCT[slot_type].unpack(data)[0]
    return value


def catalogue_words(profile: dict[str, Any]) -> list[int]:
    """Register 0: byte count; then the zlib-compressed JSON, two bytes per register (a plant
    of thousands of points still fits the 65,535 registers of the table)."""
    data = zlib.compress(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode("utf-8"), 6)
    if len(data) > 2 * 65534:
        raise ValueError(f"too many points: the catalogue needs {len(data)} bytes")
    size = len(data)
    if size % 2:
        data += b"\0"
    return [size] + [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


def catalogue_from_words(words: list[int], size: int) -> dict[str, Any]:
    data = b"".join(int(w).to_bytes(2, "big") for w in words)[:size]
    value = json.loads(zlib.decompress(data).decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("catalogue is not a JSON object")
    return value


def build_profile(endpoint: str, points: list[tuple[Any, str, str]]) -> dict[str, Any]:
    """The Vigil profile (as a dict) for ``points``: (PointConfig, slot type, resolved node id)."""
    entries = []
    for i, (pc, slot_type, node_id) in enumerate(points):
        entry: dict[str, Any] = {
            "name": pc.name,
            "description": pc.extra.get("description") or f"OPC UA {node_id}",
            "table": "holding",
            "address": SLOT * i,
            "type": slot_type,
            "access": pc.access,
        }
        if slot_type == "bool":
            entry["bit"] = 0
        entry.update({k: v for k, v in pc.extra.items() if k != "description"})
        entries.append(entry)
    digest = hashlib.sha256(json.dumps([endpoint, entries], sort_keys=True).encode()).hexdigest()[:10]
    device = {
        "id": f"opcua-{digest}",
        "vendor": "OPC UA server",
        "model": endpoint,
        "description": f"OPC UA server at {endpoint}",
        "source": f"discovered from the server's address space at {endpoint}",
        "max_registers_per_read": SLOT,
        "max_gap": 0,
        "scan_classes": {"fast": 1.0, "normal": 1.0, "slow": 10.0},
    }
    return {"device": device, "points": entries}
