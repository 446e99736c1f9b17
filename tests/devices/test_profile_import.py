"""``vigil profile import``: register maps from spreadsheets (CSV), in each address convention,
and the refusals, which name row, line and column and write nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.profile_import import ImportRefused, import_map, protocol_address
from app.core.codec import encode
from app.core.profiles import load_profile, parse_profile

ROOT = Path(__file__).resolve().parents[2]

HEADER = (
    "name,description,unit,table,address,type,count,byte_order,word_order,scale,offset,access,min,max,lo,hi\n"
)


def sample(addresses: dict[str, str], with_table: bool = True) -> bytes:
    """The same five-point map, with the address column written in some convention."""
    t = (lambda name: name) if with_table else (lambda name: "")
    rows = [
        f"level,Tank level,%,{t('input')},{addresses['level']},uint16,,,,0.01,,,,,10,90",
        f"flow,Flow,m³/h,{t('input')},{addresses['flow']},float32,,big,little,,,,,,,",
        f"valve,Valve setpoint,%,{t('holding')},{addresses['valve']},int16,,,,0.1,-5,rw,0,100,,",
        f"tag,Instrument tag,,{t('holding')},{addresses['tag']},string,4,,,,,,,,,",
        f"pump_on,Outlet pump,,{t('coil')},{addresses['pump_on']},bool,,,,,,rw,,,,",
    ]
    return (HEADER + "\n".join(rows) + "\n").encode()


CONVENTIONS = {
    "0-based": {"level": "0", "flow": "2", "valve": "0x0A", "tag": "20", "pump_on": "4"},
    "1-based": {"level": "1", "flow": "3", "valve": "11", "tag": "21", "pump_on": "5"},
    "modicon": {"level": "30001", "flow": "30003", "valve": "40011", "tag": "40021", "pump_on": "00005"},
    "modicon6": {
        "level": "300001",
        "flow": "300003",
        "valve": "400011",
        "tag": "400021",
        "pump_on": "000005",
    },
}
PROTOCOL = {"level": 0, "flow": 2, "valve": 10, "tag": 20, "pump_on": 4}


def do_import(data: bytes, addressing: str, source: str = "map.csv") -> str:
    return import_map(
        data, source, profile_id="acme-lt200", vendor="ACME", model="LT-200", addressing=addressing
    )


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_each_convention_gives_the_same_protocol_addresses(convention):
    addressing = "modicon" if convention.startswith("modicon") else convention
    text = do_import(sample(CONVENTIONS[convention], with_table=convention != "modicon"), addressing)
    prof = parse_profile(text.encode(), "imported.toml")
    assert prof.device.id == "acme-lt200" and prof.device.vendor == "ACME"
    assert {p.name: p.address for p in prof.points} == PROTOCOL
    assert {p.name: p.table.value for p in prof.points} == {
        "level": "input",
        "flow": "input",
        "valve": "holding",
        "tag": "holding",
        "pump_on": "coil",
    }
    assert f"--addressing {addressing}" in text


def test_every_documented_column_reaches_the_profile():
    prof = parse_profile(do_import(sample(CONVENTIONS["0-based"]), "0-based").encode(), "i.toml")
    level, flow, valve, tag, pump = (prof.point(n) for n in ("level", "flow", "valve", "tag", "pump_on"))
    assert (level.unit, level.scale, level.lo, level.hi, level.description) == (
        "%",
        0.01,
        10.0,
        90.0,
        "Tank level",
    )
    assert (flow.type.value, flow.byte_order, flow.word_order, flow.unit) == (
        "float32",
        "big",
        "little",
        "m³/h",
    )
    assert (valve.access, valve.min, valve.max, valve.offset, valve.scale) == ("rw", 0.0, 100.0, -5.0, 0.1)
    assert (tag.type.value, tag.count) == ("string", 4)
    assert (pump.type.value, pump.access) == ("bool", "rw")
    # the engineering values mean what the spreadsheet said: 42.0 % -> raw 470 with offset -5
    assert encode(prof, valve, 42.0) == [470]


@pytest.mark.parametrize(
    ("text", "addressing"),
    [("40001", "modicon"), ("400001", "modicon"), ("1", "1-based"), ("0", "0-based"), ("0x0000", "0-based")],
)
def test_first_holding_register_in_every_convention_is_protocol_zero(text, addressing):
    assert protocol_address(text, addressing)[0] == 0


def refusal(data: bytes, addressing: str = "0-based") -> list[str]:
    with pytest.raises(ImportRefused) as e:
        do_import(data, addressing)
    return e.value.problems


def test_a_bad_cell_is_named_by_row_line_and_column():
    data = (HEADER + "a,,,input,0,uint16\n\nb,,,input,1,flaot32\nc,,,input,2,uint16,,,,x2\n").encode()
    problems = refusal(data)
    assert problems == [
        "row 2 (line 4), column 'type': unknown type 'flaot32'",
        "row 3 (line 5), column 'scale': 'x2' is not a number",
    ]


@pytest.mark.parametrize(
    ("row", "addressing", "expected"),
    [
        ("a,,,input,0,uint16", "1-based", "column 'address': 0 is below 1"),
        ("a,,,input,70000,uint16", "0-based", "column 'address': 70000 is outside 0-65535"),
        ("a,,,input,twelve,uint16", "0-based", "column 'address': 'twelve' is not a whole number"),
        (
            "a,,,,20001,uint16",
            "modicon",
            "column 'address': '20001': a modicon reference starts with 0, 1, 3 or 4",
        ),
        ("a,,,,401,uint16", "modicon", "column 'address': '401' is not a modicon reference"),
        (
            "a,,,holding,30001,uint16",
            "modicon",
            "column 'table': 'holding' disagrees with the modicon address 30001",
        ),
        ("a,,,input,1,uint16", "modicon", "column 'address': '1' is not a modicon reference"),
        ("a,,,tank,1,uint16", "0-based", "column 'table': unknown table 'tank'"),
        ("a,,,,1,uint16", "0-based", "column 'table': empty"),
        ("a,,,input,1,", "0-based", "column 'type': empty"),
        ("a,,,input,1,uint16,,,,,,rw", "0-based", "access 'rw' is impossible on table 'input'"),
        ("a,,,holding,1,uint16,,,,,,rw,9,1", "0-based", "'min' is greater than 'max'"),
        ("a,,,holding,1,uint16,,,,,,maybe", "0-based", "column 'access': 'maybe' must be r or rw"),
        ("a,,,holding,1,uint16,,,middle", "0-based", "column 'word_order': 'middle' must be big or little"),
        ("a,,,holding,1,uint16,,,,0", "0-based", "'scale' must not be 0"),
        ("2pump,,,coil,1,bool", "0-based", "column 'name': must be a letter"),
        ("a,,,holding,1,string", "0-based", "needs 'count'"),
    ],
)
def test_refusals_name_the_row_and_column(row, addressing, expected):
    problems = refusal((HEADER + row + "\n").encode(), addressing)
    assert len(problems) == 1 and problems[0].startswith("row 1 (line 2)"), problems
    assert expected in problems[0]


def test_file_level_refusals():
    assert refusal(b"") == ["the file is empty (expected a header row)"]
    assert refusal(HEADER.encode()) == ["no rows under the header"]
    assert "unknown column" in refusal(b"name,adress,type\na,1,uint16\n")[0]
    assert "the required column 'address' is missing" in refusal(b"name,type\na,uint16\n")[0]
    assert "not UTF-8" in refusal(b"name,address,table,type\n\xff\xfe,1,input,uint16\n")[0]
    dup = refusal((HEADER + "a,,,input,0,uint16\na,,,input,1,uint16\n").encode())
    assert dup == ["row 2 (line 3), column 'name': 'a' already used by row 1 (line 2)"]


def test_semicolon_csv_with_decimal_commas_as_saved_by_european_spreadsheets():
    data = b"name;table;address;type;scale\nlevel;input;1;uint16;0,01\n"
    prof = parse_profile(do_import(data, "1-based").encode(), "i.toml")
    assert prof.point("level").scale == 0.01 and prof.point("level").address == 0


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_cli_writes_a_loadable_profile_and_refuses_to_overwrite(tmp_path):
    src = tmp_path / "MAP.csv"
    src.write_bytes(sample(CONVENTIONS["modicon"], with_table=False))
    out = tmp_path / "acme.toml"
    args = [
        "profile",
        "import",
        str(src),
        "--id",
        "acme-lt200",
        "--vendor",
        "ACME",
        "--model",
        "LT-200",
        "--addressing",
        "modicon",
        "--out",
        str(out),
    ]
    r = vigil(*args)
    assert r.returncode == 0, r.stderr
    assert load_profile(out).point("valve").address == 10
    r = vigil(*args)
    assert r.returncode == 2 and "exists" in r.stderr


def test_cli_refusal_writes_nothing(tmp_path):
    src = tmp_path / "MAP.csv"
    src.write_text(HEADER + "a,,,input,0,uint16\nb,,,input,1,uint61\n")
    out = tmp_path / "acme.toml"
    r = vigil(
        "profile",
        "import",
        str(src),
        "--id",
        "acme",
        "--vendor",
        "A",
        "--model",
        "M",
        "--addressing",
        "0-based",
        "--out",
        str(out),
    )
    assert r.returncode == 1
    assert "row 2 (line 3), column 'type': unknown type 'uint61'" in r.stderr
    assert "nothing was written" in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [src]
