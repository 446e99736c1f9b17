"""The register image on its own: what a client write means, and what is refused."""

from __future__ import annotations

import pytest

from app.core.profiles import Table, parse_profile
from app.sim.registers import RegisterImage, WriteRefused

PROFILE = parse_profile(
    b"""
[device]
id = "t"
[[points]]
name = "sp"
table = "holding"
address = 0
type = "uint16"
scale = 0.1
access = "rw"
min = 0.0
max = 100.0
[[points]]
name = "big"
table = "holding"
address = 2
type = "float32"
access = "rw"
[[points]]
name = "ro"
table = "holding"
address = 4
type = "uint16"
[[points]]
name = "flag"
table = "input"
address = 0
type = "bool"
bit = 3
[[points]]
name = "temp"
table = "input"
address = 1
type = "uint16"
scale = 0.1
offset = -40.0
""",
    "test",
)


def test_image_encodes_values_and_status_bits() -> None:
    img = RegisterImage(PROFILE)
    img.update({"sp": 55.0, "big": 1.5, "ro": 7, "flag": True, "temp": 21.3})
    assert img.words[Table.HOLDING][0] == 550
    assert img.words[Table.INPUT][0] == 0b1000
    assert img.words[Table.INPUT][1] == 613  # (21.3 + 40) / 0.1
    assert img.decode(PROFILE.point("temp")) == pytest.approx(21.3)
    assert img.decode(PROFILE.point("big")) == 1.5


def test_unencodable_value_is_recorded_and_the_old_registers_kept() -> None:
    img = RegisterImage(PROFILE)
    img.update({"sp": 55.0, "big": 1.5, "ro": 7, "flag": False, "temp": 20.0})
    img.update({"sp": -5.0, "big": 1.5, "ro": 7, "flag": False, "temp": 20.0})
    assert img.words[Table.HOLDING][0] == 550
    assert "sp" in img.encode_errors


def test_write_decodes_to_engineering_units() -> None:
    img = RegisterImage(PROFILE)
    writes = img.apply_write(Table.HOLDING, 0, [805])
    assert [(w.point, w.value) for w in writes] == [("sp", pytest.approx(80.5))]


@pytest.mark.parametrize(
    ("address", "values", "code", "needle"),
    [
        (0, [1001], 3, "outside"),  # 100.1 % > max
        (2, [0x3FC0], 2, "only part"),  # half of a float32
        (4, [1], 2, "read-only"),
        (9, [1], 2, "no writable point"),
    ],
)
def test_bad_writes_are_refused_with_the_right_code(address, values, code, needle) -> None:
    with pytest.raises(WriteRefused) as e:
        RegisterImage(PROFILE).apply_write(Table.HOLDING, address, values)
    assert e.value.code == code and needle in str(e.value)
