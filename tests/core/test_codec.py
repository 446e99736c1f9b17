"""The codec: every type, byte order and word order round-trips, and agrees with pymodbus."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import ModbusTcpClient

from app.core.codec import EncodeError, decode, encode, registers_to_bytes, set_bit, to_raw
from app.core.profiles import parse_profile

RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


def profile_for(type_: str, bo: str = "big", wo: str = "big", extra: str = ""):
    count = "count = 5\n" if type_ == "string" else ""
    text = f"""
[device]
id = "t"
byte_order = "{bo}"
word_order = "{wo}"
[[points]]
name = "p"
table = "holding"
address = 0
type = "{type_}"
{count}{extra}
"""
    prof = parse_profile(text.encode(), "t.toml")
    return prof, prof.points[0]


ORDERS = [(bo, wo) for bo in ("big", "little") for wo in ("big", "little")]


@pytest.mark.parametrize(("bo", "wo"), ORDERS)
@pytest.mark.parametrize("type_", list(RANGES))
@given(data=st.data())
def test_integers_round_trip(type_, bo, wo, data):
    lo, hi = RANGES[type_]
    value = data.draw(st.integers(lo, hi))
    prof, pt = profile_for(type_, bo, wo)
    regs = encode(prof, pt, value)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode(prof, pt, regs) == value


@pytest.mark.parametrize(("bo", "wo"), ORDERS)
@pytest.mark.parametrize("type_", ["float32", "float64"])
@given(x=st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_floats_round_trip(type_, bo, wo, x):
    prof, pt = profile_for(type_, bo, wo)
    assert decode(prof, pt, encode(prof, pt, x)) == x


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        ("int16", -1234),
        ("uint16", 65000),
        ("int32", -123456789),
        ("uint32", 4_000_000_000),
        ("int64", -(2**62) + 7),
        ("uint64", 2**63 + 11),
        ("float32", 3.5),
        ("float64", -1e-300),
    ],
)
@pytest.mark.parametrize("wo", ["big", "little"])
def test_agrees_with_pymodbus_conversions(type_, value, wo):
    """pymodbus's own codec (big byte order, either word order) must read what we write."""
    prof, pt = profile_for(type_, "big", wo)
    regs = encode(prof, pt, value)
    dt = getattr(ModbusTcpClient.DATATYPE, type_.upper())
    assert ModbusTcpClient.convert_from_registers(regs, dt, word_order=wo) == value
    theirs = ModbusTcpClient.convert_to_registers(value, dt, word_order=wo)
    assert decode(prof, pt, theirs) == value


def test_byte_swapped_words_are_decoded():
    prof, pt = profile_for("uint32", "little", "big")
    # 0x11223344 with bytes swapped inside each word: 0x2211, 0x4433
    assert decode(prof, pt, [0x2211, 0x4433]) == 0x11223344
    assert registers_to_bytes([0x2211, 0x4433], "little", "big") == bytes.fromhex("11223344")


def test_scale_and_offset():
    prof, pt = profile_for("int16", extra="scale = 0.1\noffset = -40.0\n")
    assert decode(prof, pt, [650]) == pytest.approx(25.0)
    assert encode(prof, pt, 25.0) == [650]
    assert encode(prof, pt, -45.0) == [(-50) & 0xFFFF]


def test_strings_strip_padding_and_refuse_overlong():
    prof, pt = profile_for("string")
    regs = encode(prof, pt, "SN-42")
    assert len(regs) == 5
    assert decode(prof, pt, regs) == "SN-42"
    with pytest.raises(EncodeError, match="longer than 10 bytes"):
        encode(prof, pt, "x" * 11)


def test_bits_inside_registers():
    prof = parse_profile(
        b'[device]\nid="b"\n[[points]]\nname="f"\ntable="input"\naddress=3\ntype="bool"\nbit=5\n', "b.toml"
    )
    pt = prof.points[0]
    assert decode(prof, pt, [1 << 5]) is True
    assert decode(prof, pt, [0xFFFF ^ (1 << 5)]) is False
    assert set_bit(0, 5, True) == 32 and set_bit(0xFFFF, 5, False) == 0xFFDF
    with pytest.raises(EncodeError, match="read-modify-write"):
        encode(prof, pt, True)


@pytest.mark.parametrize(
    ("type_", "value", "msg"),
    [
        ("int16", 40000, "does not fit int16"),
        ("uint16", -1, "does not fit"),
        ("int16", "abc", "expected a number"),
        ("float32", math.inf, "finite"),
        ("float32", 1e39, "does not fit float32"),
        ("int32", True, "expected a number"),
    ],
)
def test_unencodable_values_are_refused(type_, value, msg):
    _prof, pt = profile_for(type_)
    with pytest.raises(EncodeError, match=msg):
        to_raw(pt, value)


def test_device_strings_lose_control_and_bidi_characters() -> None:
    """A device's text is untrusted: no terminal escapes, no right-to-left override (#17)."""
    prof, point = profile_for("string", extra="")
    hostile = "\x1b[2JOK\u202eMRALA\u2066\x07".encode()[:10]
    words = [int.from_bytes(hostile[i:i + 2].ljust(2, b"\0"), "big") for i in range(0, 10, 2)]
    text = decode(prof, point, words)
    assert isinstance(text, str) and text.isprintable()
    assert "\x1b" not in text and "\u202e" not in text and "OK" in text
