"""Plant files: devices resolve to profiles by id or path; broken files are refused whole with
the device and field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ConfigError
from app.core.paths import device_profiles_dir
from app.core.plant import load_plant, parse_plant
from app.core.profiles import ProfileLibrary


@pytest.fixture(scope="module")
def library():
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    return lib


def _pid(library):
    return library.ids()[0]


def test_good_plant_resolves_profiles_and_names_tags(library):
    pid = _pid(library)
    plant = parse_plant(
        f"""
[plant]
name = "P"
[[devices]]
name = "a"
profile = "{pid}"
host = "127.0.0.1"
port = 1502
unit = 7
[[devices]]
name = "b"
profile = "{pid}"
host = "127.0.0.1"
enabled = false
""".encode(),
        "p.toml",
        library,
    )
    assert [d.name for d in plant.enabled_devices()] == ["a"]
    first = library.get(pid).points[0].name
    assert f"a.{first}" in plant.tags() and not any(t.startswith("b.") for t in plant.tags())
    link = plant.device("a").link_config()
    assert (link.host, link.port, link.timeout_s) == ("127.0.0.1", 1502, 1.0)


@pytest.mark.parametrize(
    ("devices", "expect"),
    [
        (
            'name = "a"\nprofile = "nope"',
            ["device 'a' (devices[0]), field 'profile'", "unknown profile 'nope'"],
        ),
        ('name = "a"\nprofile = "{pid}"\nport = 70000', ["device 'a' (devices[0]), field 'port'"]),
        ('name = "a.b"\nprofile = "{pid}"', ["devices[0]", "field 'name'"]),
        ('name = "a"\nprofile = "{pid}"\ntransport = "rtu"', ["device 'a'", "needs a [devices.serial]"]),
        ('name = "a"\nprofile = "{pid}"\nintervl_ms = 5', ["field 'intervl_ms'", "unknown field"]),
        ('name = "a"', ["needs 'profile'"]),
    ],
)
def test_broken_plants_name_device_and_field(library, devices, expect):
    text = "[[devices]]\nhost = \"h\"\n" + devices.replace("{pid}", _pid(library)) + "\n"
    with pytest.raises(ConfigError) as ei:
        parse_plant(text.encode(), "site/plant.toml", library)
    msg = str(ei.value)
    assert msg.startswith("site/plant.toml: refused")
    for fragment in expect:
        assert fragment in msg, (fragment, msg)


def test_duplicate_device_names_refused(library):
    pid = _pid(library)
    device = f'[[devices]]\nname = "a"\nprofile = "{pid}"\nhost = "h"\n'
    text = device + device
    with pytest.raises(ConfigError, match="duplicate device name"):
        parse_plant(text.encode(), "p.toml", library)


def test_profile_by_relative_path_and_broken_profile_named(tmp_path, library):
    good = library.get(_pid(library))
    (tmp_path / "mine.toml").write_bytes(
        Path(good.path).read_bytes().replace(good.device.id.encode(), b"mine", 1)
    )
    (tmp_path / "broken.toml").write_text("[device]\nid = 'x'\n")
    plant_file = tmp_path / "plant.toml"
    plant_file.write_text('[[devices]]\nname = "a"\nprofile = "mine.toml"\nhost = "h"\n')
    assert load_plant(plant_file, library).profiles["a"].device.id == "mine"
    plant_file.write_text('[[devices]]\nname = "a"\nprofile = "broken.toml"\nhost = "h"\n')
    with pytest.raises(ConfigError) as ei:
        load_plant(plant_file, library)
    assert "broken.toml" in str(ei.value) and "device 'a'" in str(ei.value)


def test_missing_plant_file(tmp_path, library):
    with pytest.raises(ConfigError, match="cannot read"):
        load_plant(tmp_path / "none.toml", library)
