"""Display files: binding, parameters, the published vocabulary, validation that names element
and line, hostile XML, the generated overview and the built-in displays (Qt-free)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli.display import _load_plant
from app.core.displays import (
    OVERVIEW,
    DisplayCatalogue,
    goto_target,
    parse_display,
    tag_kinds,
    validate,
)
from app.core.displays.catalogue import BUILTIN_DIR
from app.core.displays.vocabulary import VOCABULARY_FILE, vocabulary_json

HEAD = (
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:vigil="https://vigil-scada.org/display/1" '
    'viewBox="0 0 400 300"'
)


@pytest.fixture(scope="module")
def plant():  # type: ignore[no-untyped-def]
    return _load_plant(None)


def test_bound_element_gets_its_box_through_translated_groups_and_parameters() -> None:
    svg = (
        HEAD + ' vigil:params="device" vigil:title="Unit %device%">\n'
        '<g transform="translate(10,20)">\n'
        '  <g transform="matrix(1,0,0,1,5,5)">\n'
        '    <rect id="lvl" x="1" y="2" width="30" height="40" vigil:symbol="vessel" vigil:tag="%device%.level"/>\n'  # noqa: E501
        "  </g>\n"
        "</g>\n"
        '<text id="t">%device%</text>\n'
        "</svg>\n"
    ).encode()
    d = parse_display(svg, "u.svg", "u", {"device": "tank"})
    assert d.ok, d.problems
    assert d.title == "Unit tank"
    (b,) = d.bindings
    assert (b.id, b.line, b.symbol, b.tag) == ("lvl", 4, "vessel", "tank.level")
    assert (b.box.x, b.box.y, b.box.width, b.box.height) == (16.0, 27.0, 30.0, 40.0)
    # the placeholder is not part of the static picture; the parameter is replaced in it
    assert b"lvl" not in d.background and b">tank<" in d.background


def test_a_parameter_value_cannot_inject_markup() -> None:
    d = parse_display(
        (HEAD + ' vigil:params="device"><text>%device%</text></svg>').encode(),
        "p.svg",
        "p",
        {"device": '"/><script>x</script>'},
    )
    assert not d.ok and "not a name" in d.problems[0].message


def test_validation_names_each_problem_with_element_id_and_line(plant) -> None:  # type: ignore[no-untyped-def]
    svg = (
        HEAD + ">\n"
        '<rect id="ok" x="0" y="0" width="10" height="10" vigil:symbol="value" vigil:tag="tank.level"/>\n'
        '<rect id="typo" x="0" y="0" width="10" height="10" vigil:symbol="value" vigil:tag="tank.levle"/>\n'
        '<rect id="blob" x="0" y="0" width="10" height="10" vigil:symbol="blob" vigil:tag="tank.level"/>\n'
        '<rect id="attr" x="0" y="0" width="10" height="10" vigil:symbol="value" vigil:tag="tank.level" vigil:colour="red"/>\n'  # noqa: E501
        '<clipPath id="clip"><rect width="1" height="1"/></clipPath>\n'
        '<script id="js">alert(1)</script>\n'
        '<rect id="blurred" x="0" y="0" width="1" height="1" filter="url(#f)"/>\n'
        '<rect id="nav" x="0" y="0" width="10" height="10" vigil:goto="nowhere"/>\n'
        '<rect id="kind" x="0" y="0" width="10" height="10" vigil:symbol="vessel" vigil:tag="tank.pump_running"/>\n'  # noqa: E501
        '<rect id="rot" transform="rotate(45)" x="0" y="0" width="10" height="10" vigil:symbol="value" vigil:tag="tank.level"/>\n'  # noqa: E501
        '<image id="img" href="file:///etc/passwd" x="0" y="0" width="1" height="1"/>\n'
        '<use id="use" href="other.svg#x"/>\n'
        "</svg>\n"
    ).encode()
    d = parse_display(svg, "bad.svg", "bad")
    problems = validate(d, tag_kinds(plant), {"overview"}, [x.name for x in plant.devices])
    text = "\n".join(str(p) for p in problems)
    expected = [
        ("bad.svg:3: #typo", "unknown tag 'tank.levle'"),
        ("bad.svg:4: #blob", "unknown symbol 'blob'"),
        ("bad.svg:5: #attr", "unknown attribute vigil:colour"),
        ("bad.svg:6: #clip", "clipPath"),
        ("bad.svg:7: #js", "script"),
        ("bad.svg:8: #blurred", "filter"),
        ("bad.svg:9: #nav", "no display named 'nowhere'"),
        ("bad.svg:10: #kind", "shows a number but 'tank.pump_running' is a bool"),
        ("bad.svg:11: #rot", "only translate()"),
        ("bad.svg:12: #img", "must be embedded"),
        ("bad.svg:13: #use", "must point inside the file"),
    ]
    for where, what in expected:
        assert any(str(p).startswith(where) and what in str(p) for p in problems), (where, what, text)
    assert not any("#ok" in str(p) for p in problems)


@pytest.mark.parametrize(
    "doc",
    [
        # billion laughs: entity expansion
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&b;</text></svg>',
        # external entity: a file read
        '<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        '<svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>',
    ],
)
def test_hostile_xml_is_refused_without_expanding_or_reading_anything(doc: str) -> None:
    d = parse_display(doc.encode(), "evil.svg", "evil")
    assert not d.ok and not d.bindings and d.background == b""
    (p,) = d.problems
    assert p.line is not None and p.element == "<!DOCTYPE>" and "DOCTYPE" in p.message
    assert str(p).startswith(f"evil.svg:{p.line}: <!DOCTYPE>")


def test_broken_xml_names_the_line() -> None:
    d = parse_display((HEAD + ">\n<rect>\n</svg>").encode(), "cut.svg", "cut")
    assert not d.ok and d.problems[0].line == 3 and "not well-formed" in d.problems[0].message


def test_published_vocabulary_file_is_current() -> None:
    assert VOCABULARY_FILE.read_text(encoding="utf-8") == vocabulary_json()
    doc = json.loads(VOCABULARY_FILE.read_text(encoding="utf-8"))
    assert doc["namespace"] == "https://vigil-scada.org/display/1"
    assert {
        "vessel",
        "pump",
        "motor",
        "valve",
        "pipe",
        "indicator",
        "sparkline",
        "value",
        "alarm",
        "nav",
    } <= set(doc["symbols"])
    assert {"tag", "symbol", "goto", "params"} <= set(doc["attributes"])


def test_every_builtin_display_fits_the_demo_plant(plant) -> None:  # type: ignore[no-untyped-def]
    cat = DisplayCatalogue(plant)
    assert not cat.hidden
    gotos = [g for g, _ in cat.entries()]
    assert gotos[0] == OVERVIEW
    assert {
        "demo_tank?device=tank",
        "demo_pump?device=pump",
        "sdm630?device=meter",
        "demo_vitals?device=vitals",
    } <= set(gotos)
    for goto in gotos:
        name, params = goto_target(goto)
        d = cat.load(name, params)
        assert d.ok, (goto, [str(p) for p in d.problems])
        assert d.bindings
    assert len(list(BUILTIN_DIR.glob("*.svg"))) == 4


def test_overview_has_a_tile_per_device_with_its_key_values(plant) -> None:  # type: ignore[no-untyped-def]
    d = DisplayCatalogue(plant).load(OVERVIEW)
    assert d.level == 1 and d.ok
    tiles = {b.attrs["device"]: b for b in d.bindings if b.symbol == "tile"}
    assert set(tiles) == {x.name for x in plant.enabled_devices()}
    assert tiles["tank"].goto == "demo_tank?device=tank"
    tank_values = [
        b.tag for b in d.bindings if b.symbol == "indicator" and b.tag and b.tag.startswith("tank.")
    ]
    assert tank_values[0] == "tank.level"  # points with alarm limits first
    assert 1 <= len(tank_values) <= 4


def test_a_builtin_display_for_another_plant_is_not_offered(tmp_path: Path, plant) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "plant.toml"
    other.write_text(
        '[plant]\nname = "Other"\n[[devices]]\nname = "m1"\nprofile = "sdm630"\nhost = "127.0.0.1"\nport = 5020\n',  # noqa: E501
        encoding="utf-8",
    )
    (tmp_path / "displays").mkdir()
    (tmp_path / "displays" / "mine.svg").write_text(HEAD + "></svg>", encoding="utf-8")
    p2 = _load_plant(str(other))
    cat = DisplayCatalogue(p2)
    assert "demo_tank" in cat.hidden and "demo_tank" not in cat
    assert "mine" in cat and cat.sources["mine"].origin == "plant"
    assert ("sdm630?device=m1", "m1 (sdm630)") in cat.entries()
