"""Registers <-> engineering values for every profile data type, byte order and word order.

Why not pymodbus's ``convert_from_registers``? It handles word order but not byte order inside a
register (common on meters that swap bytes), and the core must not import pymodbus. The tests
check this codec against pymodbus's conversions for every type where both apply.

Decoders are compiled once per point (``make_decoder``) so the per-poll cost is one slice and
one ``struct.unpack``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence

from app.core.model import Value
from app.core.profiles import DataType, Point, Profile
from app.core.textsafe import printable

_STRUCT: dict[DataType, str] = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT32: ">f",
    DataType.FLOAT64: ">d",
}

_INT_RANGE: dict[DataType, tuple[int, int]] = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**63), 2**63 - 1),
    DataType.UINT64: (0, 2**64 - 1),
}

Decoder = Callable[[Sequence[int] | Sequence[bool], int], Value]


class EncodeError(ValueError):
    """A value cannot be written to a point (wrong type, out of the type's range, not finite)."""


def registers_to_bytes(regs: Sequence[int], byte_order: str, word_order: str) -> bytes:
    """Registers as received -> bytes in big-endian significance order."""
    if word_order == "little":
        regs = list(reversed(regs))
    if byte_order == "little":
        return b"".join(((r & 0xFF) << 8 | (r >> 8) & 0xFF).to_bytes(2, "big") for r in regs)
    return b"".join((r & 0xFFFF).to_bytes(2, "big") for r in regs)


def bytes_to_registers(data: bytes, byte_order: str, word_order: str) -> list[int]:
    """Inverse of `registers_to_bytes`."""
    regs = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if byte_order == "little":
        regs = [((r & 0xFF) << 8) | (r >> 8) for r in regs]
    if word_order == "little":
        regs.reverse()
    return regs


def _apply_scale(raw: int | float, scale: float, offset: float, keep_int: bool) -> Value:
    if keep_int:
        return raw
    return raw * scale + offset


def make_decoder(profile: Profile, point: Point) -> Decoder:
    """Return ``decode(block, start) -> value`` for ``point``, where ``block`` is the words (or
    bits) returned by a block read and ``start`` the point's index inside it."""
    t = point.type
    scale, offset = point.scale, point.offset
    keep_int = scale == 1.0 and offset == 0.0
    if point.table.is_bit_table:
        return lambda block, start: bool(block[start])
    if t is DataType.BOOL:
        bit = point.bit or 0
        return lambda block, start: bool((int(block[start]) >> bit) & 1)
    bo, wo = profile.byte_order(point), profile.word_order(point)
    width = point.width
    if t is DataType.STRING:

        def decode_string(block: Sequence[int], start: int) -> Value:
            data = registers_to_bytes(block[start : start + width], bo, "big")
            # device text is untrusted: no terminal escapes, no bidi overrides on the screen
            return printable(data.split(b"\x00", 1)[0].decode("utf-8", errors="replace")).rstrip()

        return decode_string
    fmt = struct.Struct(_STRUCT[t])
    is_float = t in (DataType.FLOAT32, DataType.FLOAT64)
    keep = keep_int and not is_float
    if width == 1 and bo == "big":
        signed = t is DataType.INT16

        def decode_word(block: Sequence[int], start: int) -> Value:
            r = int(block[start])
            if signed and r >= 0x8000:
                r -= 0x10000
            return r if keep else r * scale + offset

        return decode_word

    def decode_multi(block: Sequence[int], start: int) -> Value:
        raw = fmt.unpack(registers_to_bytes(block[start : start + width], bo, wo))[0]
        if is_float:
            return raw * scale + offset if not keep_int else raw
        return raw if keep else raw * scale + offset

    return decode_multi


def decode(profile: Profile, point: Point, words: Sequence[int] | Sequence[bool]) -> Value:
    """Decode one point from exactly its own registers (or bit). Convenience for tests/tools."""
    return make_decoder(profile, point)(words, 0)


def to_raw(point: Point, value: Value) -> int | float | bool | str:
    """Engineering value -> the raw number stored in the device (undo scale and offset)."""
    t = point.type
    if t is DataType.BOOL:
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise EncodeError(f"{point.name}: expected a boolean, got {value!r}")
    if t is DataType.STRING:
        if not isinstance(value, str):
            raise EncodeError(f"{point.name}: expected text, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncodeError(f"{point.name}: expected a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise EncodeError(f"{point.name}: value must be finite")
    if isinstance(value, int) and point.scale == 1.0 and point.offset == 0.0:
        raw: int | float = value  # exact: 64-bit integers do not survive a trip through float
    else:
        raw = (float(value) - point.offset) / point.scale
    if t in _INT_RANGE:
        rounded = round(raw)
        lo, hi = _INT_RANGE[t]
        if not lo <= rounded <= hi:
            raise EncodeError(f"{point.name}: {value} does not fit {t.value}")
        return int(rounded)
    if t is DataType.FLOAT32 and abs(raw) > 3.4028234663852886e38:
        raise EncodeError(f"{point.name}: {value} does not fit float32")
    return raw


def encode(profile: Profile, point: Point, value: Value) -> list[int] | list[bool]:
    """Engineering value -> the registers (or single bit) to write.

    A bool that is a bit inside a register cannot be encoded alone (the other 15 bits must be
    read first); use `set_bit`.
    """
    raw = to_raw(point, value)
    if point.table.is_bit_table:
        return [bool(raw)]
    t = point.type
    if t is DataType.BOOL:
        raise EncodeError(f"{point.name}: a bit inside a register needs read-modify-write")
    bo, wo = profile.byte_order(point), profile.word_order(point)
    if t is DataType.STRING:
        data = str(raw).encode("utf-8")
        size = point.width * 2
        if len(data) > size:
            raise EncodeError(f"{point.name}: text longer than {size} bytes")
        return bytes_to_registers(data.ljust(size, b"\x00"), bo, "big")
    data = struct.pack(_STRUCT[t], raw)
    return bytes_to_registers(data, bo, wo)


def set_bit(register: int, bit: int, value: bool) -> int:
    return (register | (1 << bit)) if value else (register & ~(1 << bit) & 0xFFFF)
