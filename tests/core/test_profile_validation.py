"""Profile validation: good profiles load, bad ones are refused whole with file/point/field named."""

from __future__ import annotations

import pytest

from app.core.errors import ConfigError
from app.core.profiles import DataType, ProfileLibrary, Table, json_schema, load_profile, parse_profile

GOOD = b"""
[device]
id = "meter_x"
vendor = "ACME"
model = "M1"
word_order = "little"
max_registers_per_read = 60

[[points]]
name = "voltage"
unit = "V"
table = "input"
address = 0
type = "float32"
hi = 250.0
hihi = 260.0
deadband = 2.0

[[points]]
name = "serial"
table = "holding"
address = 10
type = "string"
count = 4

[[points]]
name = "running"
table = "holding"
address = 20
type = "bool"
bit = 3
alarm_state = false

[[points]]
name = "setpoint"
table = "holding"
address = 21
type = "int16"
scale = 0.1
access = "rw"
min = 0
max = 100
"""


def test_good_profile_loads_with_hash_and_defaults():
    p = parse_profile(GOOD, "meter.toml")
    assert p.device.id == "meter_x"
    assert p.device.byte_order == "big" and p.device.word_order == "little"
    assert [pt.name for pt in p.points] == ["voltage", "serial", "running", "setpoint"]
    assert p.point("serial").width == 4
    assert p.point("voltage").width == 2
    assert p.point("setpoint").writable and not p.point("voltage").writable
    assert p.point("voltage").table is Table.INPUT and p.point("voltage").type is DataType.FLOAT32
    assert len(p.sha256) == 64


def _refused(text: bytes) -> ConfigError:
    with pytest.raises(ConfigError) as ei:
        parse_profile(text, "dev/bad.toml")
    return ei.value


def _mutate(old: bytes, new: bytes) -> bytes:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        (b'type = "float32"', b'type = "float33"', ["point 'voltage' (points[0])", "field 'type'"]),
        (b'table = "input"', b'table = "coil"', ["point 'voltage' (points[0])", "single bits"]),
        (b"count = 4", b"", ["point 'serial' (points[1])", "count"]),
        (b"bit = 3", b"bit = 16", ["point 'running' (points[2])", "field 'bit'"]),
        (b'access = "rw"', b'access = "rx"', ["point 'setpoint' (points[3])", "field 'access'"]),
        (b"min = 0\nmax = 100", b"min = 100\nmax = 0", ["point 'setpoint'", "'min' is greater"]),
        (b"hi = 250.0", b"hi = 270.0", ["point 'voltage'", "lolo <= lo <= hi <= hihi"]),
        (
            b"deadband = 2.0",
            b"deadbnd = 2.0",
            ["point 'voltage' (points[0])", "field 'deadbnd'", "unknown field"],
        ),
        (b'name = "serial"', b'name = "voltage"', ["duplicate name"]),
        (b'name = "serial"', b'name = "9serial"', ["points[1]", "field 'name'"]),
        (b"address = 0\n", b"address = -1\n", ["point 'voltage'", "field 'address'"]),
        (
            b"max_registers_per_read = 60",
            b"max_registers_per_read = 200",
            ["field 'device.max_registers_per_read'"],
        ),
        (
            b'[[points]]\nname = "setpoint"',
            b'[[points]]\nscan = "turbo"\nname = "setpoint"',
            ["unknown scan class 'turbo'"],
        ),
    ],
)
def test_bad_profile_names_file_point_and_field(old, new, expect):
    err = _refused(_mutate(old, new))
    text = str(err)
    assert text.startswith("dev/bad.toml: refused")
    for fragment in expect:
        assert fragment in text, (fragment, text)


def test_every_problem_is_listed_not_just_the_first():
    bad = _mutate(b'type = "float32"', b'type = "nope"').replace(b"count = 4", b"")
    err = _refused(bad)
    assert len(err.problems) == 2
    assert any("voltage" in p for p in err.problems) and any("serial" in p for p in err.problems)


def test_toml_syntax_error_names_the_line():
    err = _refused(b"[device]\nid = 'x'\n[[points]\nname='a'")
    assert "TOML syntax" in str(err) and "line" in str(err)


def test_missing_device_table():
    assert "missing [device] table" in str(_refused(b"[[points]]\nname='a'\n"))


def test_one_based_addresses_become_protocol_addresses():
    text = GOOD.replace(b'model = "M1"', b'model = "M1"\nzero_based = false').replace(
        b"address = 0\n", b"address = 1\n"
    )
    p = parse_profile(text, "x.toml")
    assert p.point("voltage").address == 0
    assert p.point("serial").address == 9
    zero = text.replace(b"address = 1\n", b"address = 0\n")
    assert "must be >= 1 when zero_based = false" in str(_refused(zero))


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"bin\.toml"):
        load_profile(bad)


def test_library_keeps_good_profiles_when_one_is_broken(tmp_path):
    (tmp_path / "good.toml").write_bytes(GOOD)
    (tmp_path / "broken.toml").write_bytes(GOOD.replace(b'type = "float32"', b'type = "x"'))
    lib = ProfileLibrary()
    errors = lib.add_folder(tmp_path)
    assert lib.ids() == ["meter_x"]
    assert len(errors) == 1 and "broken.toml" in str(errors[0])


def test_library_refuses_a_second_profile_with_the_same_id(tmp_path):
    (tmp_path / "a.toml").write_bytes(GOOD)
    (tmp_path / "b.toml").write_bytes(GOOD.replace(b'vendor = "ACME"', b'vendor = "Other"'))
    lib = ProfileLibrary()
    errors = lib.add_folder(tmp_path)
    assert len(errors) == 1 and "already defined" in str(errors[0])


def test_json_schema_describes_points():
    schema = json_schema()
    assert "points" in schema["properties"] and "path" not in schema["properties"]
    assert "Point" in schema["$defs"]
