"""A device's register image: model values encoded through its profile, and client writes
decoded back into model writes.

Why through the profile and `app.core.codec`: the simulator then serves exactly the map Vigil
reads, with the same byte/word order, scale and offset, so profile and simulator can never
disagree. No pymodbus here, so it is testable on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.core.codec import EncodeError, decode, encode, set_bit
from app.core.model import Value
from app.core.profiles import DataType, Point, Profile, Table


class WriteRefused(Exception):
    """A client write that the device refuses; ``code`` is the Modbus exception code to send."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3


@dataclass(frozen=True)
class PointWrite:
    point: str
    value: float | bool


def _bits_to_registers(bits: list[bool]) -> list[int]:
    """Pack bits 16 to a register, bit 0 first (how pymodbus's simulator stores coils)."""
    regs = []
    for i in range(0, len(bits), 16):
        reg = 0
        for j, b in enumerate(bits[i : i + 16]):
            if b:
                reg |= 1 << j
        regs.append(reg)
    return regs


class RegisterImage:
    """The four tables of one device, sized to cover every point of its profile.

    Register tables are lists of 16-bit words from address 0; bit tables are bool lists from
    address 0 (length a multiple of 16). Every address up to the last point is readable, as on
    most devices, so a client's merged block reads across small gaps succeed.
    """

    def __init__(self, profile: Profile):
        self.profile = profile
        size = {t: 0 for t in Table}
        for p in profile.points:
            size[p.table] = max(size[p.table], p.address + p.width)
        for t in (Table.COIL, Table.DISCRETE):
            size[t] = -(-size[t] // 16) * 16 if size[t] else 0
        self.words: dict[Table, list[int]] = {
            Table.HOLDING: [0] * size[Table.HOLDING],
            Table.INPUT: [0] * size[Table.INPUT],
        }
        self.bits: dict[Table, list[bool]] = {
            Table.COIL: [False] * size[Table.COIL],
            Table.DISCRETE: [False] * size[Table.DISCRETE],
        }
        self._word_points = [
            p for p in profile.points if not p.table.is_bit_table and p.type is not DataType.BOOL
        ]
        self._reg_bits = [
            p for p in profile.points if not p.table.is_bit_table and p.type is DataType.BOOL
        ]
        self._bit_points = [p for p in profile.points if p.table.is_bit_table]
        #: points whose value could not be encoded at the last update (kept at their old value)
        self.encode_errors: dict[str, str] = {}

    def sizes(self) -> dict[Table, int]:
        """Words (holding/input) or bits (coil/discrete) each table holds; 0 = table absent."""
        return {**{t: len(w) for t, w in self.words.items()}, **{t: len(b) for t, b in self.bits.items()}}

    def packed(self, table: Table) -> list[int]:
        """Bit tables as 16-bit registers (bit 0 first); register tables as they are."""
        if table.is_bit_table:
            return _bits_to_registers(self.bits[table])
        return self.words[table]

    def update(self, values: Mapping[str, Value]) -> None:
        """Encode the model's current values into the image."""
        prof = self.profile
        for p in self._word_points:
            try:
                regs = encode(prof, p, values[p.name])
            except (EncodeError, KeyError) as e:
                self.encode_errors[p.name] = str(e)
                continue
            self.words[p.table][p.address : p.address + len(regs)] = regs
        for p in self._reg_bits:
            words = self.words[p.table]
            words[p.address] = set_bit(words[p.address], p.bit or 0, bool(values.get(p.name)))
        for p in self._bit_points:
            self.bits[p.table][p.address] = bool(values.get(p.name))

    def decode(self, point: Point) -> object:
        """A point's value as a client would decode it from the image."""
        if point.table.is_bit_table:
            return self.bits[point.table][point.address]
        words = self.words[point.table][point.address : point.address + point.width]
        return decode(self.profile, point, words)

    def apply_write(self, table: Table, address: int, values: list[int] | list[bool]) -> list[PointWrite]:
        """Work out which points a client write sets, and to what (engineering units).

        Refuses (WriteRefused) a write that touches an address no writable point covers, that
        covers only part of a multi-register point, or that sets a value outside the point's
        min/max. Nothing is changed when a write is refused.
        """
        end = address + len(values)
        hit = [p for p in self.profile.points if p.table is table and p.address < end
               and address < p.address + p.width]
        covered: set[int] = set()
        for p in hit:
            covered.update(range(p.address, p.address + p.width))
        if not hit or not set(range(address, end)) <= covered:
            raise WriteRefused(ILLEGAL_ADDRESS, f"no writable point at {table}:{address}..{end - 1}")
        out: list[PointWrite] = []
        for p in hit:
            if not p.writable:
                raise WriteRefused(ILLEGAL_ADDRESS, f"point '{p.name}' is read-only")
            if p.address < address or p.address + p.width > end:
                raise WriteRefused(ILLEGAL_ADDRESS, f"write covers only part of point '{p.name}'")
            chunk = values[p.address - address : p.address - address + p.width]
            if table.is_bit_table:
                out.append(PointWrite(p.name, bool(chunk[0])))
                continue
            value = decode(self.profile, p, [int(v) for v in chunk])
            if not isinstance(value, int | float):
                raise WriteRefused(ILLEGAL_VALUE, f"point '{p.name}': not a number")
            if (p.min is not None and value < p.min) or (p.max is not None and value > p.max):
                raise WriteRefused(ILLEGAL_VALUE, f"point '{p.name}': {value} outside [{p.min}, {p.max}]")
            out.append(PointWrite(p.name, float(value)))
        return out
