"""Issue #18, defects 5, 9, 10: a bad profile or plant file is refused (or warned about) with
a message naming file, point or device and field, before it can flood a device or hang the start.

Profiles go through ``vigil profile validate`` (the command a profile author runs); plant files
through ``load_plant`` (what ``vigil run --plant`` reads).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import ConfigError
from app.core.paths import device_profiles_dir
from app.core.plant import load_plant
from app.core.profiles import ProfileLibrary

PROFILE = """
[device]
id = "tank_x"
{device}

[[points]]
name = "level"
table = "holding"
address = 0
type = "float32"
{point}

[[points]]
name = "pressure"
table = "holding"
address = {second_address}
type = "uint16"
"""


def _profile(tmp_path: Path, device: str = "", point: str = "", second_address: int = 2) -> Path:
    path = tmp_path / "tank_x.toml"
    path.write_text(PROFILE.format(device=device, point=point, second_address=second_address))
    return path


def _validate(capsys: pytest.CaptureFixture[str], *files: Path | str) -> tuple[int, str, str]:
    rc = main(["profile", "validate", *map(str, files)])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("multiple", ["-1.0", "0.0", "0.0001", "1e9", "nan", "inf"])
def test_a_scan_multiple_that_would_flood_or_stall_the_device_is_refused(tmp_path, capsys, multiple):
    path = _profile(tmp_path, device=f"scan_classes = {{normal = 1.0, fast = {multiple}}}")
    rc, out, err = _validate(capsys, path)
    assert rc == 1, out
    assert str(path) in err and "scan_classes" in err, err


def test_sane_scan_multiples_are_accepted(tmp_path, capsys):
    path = _profile(tmp_path, device="scan_classes = {normal = 1.0, fast = 0.5, slow = 3600.0}")
    rc, out, err = _validate(capsys, path)
    assert rc == 0, err
    assert "ok (tank_x, 2 points)" in out


@pytest.mark.parametrize(
    ("point", "field"),
    [("on_delay_s = 1e12", "on_delay_s"), ("off_delay_s = 1e12", "off_delay_s"),
     ("hi = nan", "hi"), ("scale = inf", "scale")],
)
def test_unbounded_or_non_finite_numbers_are_refused_naming_the_field(tmp_path, capsys, point, field):
    rc, _, err = _validate(capsys, _profile(tmp_path, point=point))
    assert rc == 1
    assert f"point 'level' (points[0]), field '{field}'" in err, err


def test_overlapping_registers_are_a_warning_naming_both_points(tmp_path, capsys):
    # level is a float32 at 0-1; pressure at 1 shares register 1 with it
    rc, out, err = _validate(capsys, _profile(tmp_path, second_address=1))
    assert rc == 0, err  # a warning, not a refusal: an alias can be meant
    assert "1 warning" in out
    assert "warning: point 'pressure' (points[1]), field 'address'" in out
    assert "point 'level' (points[0]" in out


def test_no_overlap_no_warning(tmp_path, capsys):
    rc, out, _ = _validate(capsys, _profile(tmp_path))
    assert rc == 0 and "warning:" not in out


def test_a_whole_file_check_never_names_an_empty_field(tmp_path, capsys):
    path = _profile(tmp_path)
    path.write_text(path.read_text().replace('name = "pressure"', 'name = "level"'))
    rc, _, err = _validate(capsys, path)
    assert rc == 1
    assert "duplicate name" in err
    assert "field ''" not in err, err


def test_a_device_file_is_refused_before_it_is_read(capsys):
    rc, _, err = _validate(capsys, "/dev/zero")
    assert rc == 1
    assert "/dev/zero" in err and "not a regular file" in err


def test_a_fifo_is_refused_instead_of_hanging(tmp_path, capsys):
    fifo = tmp_path / "profile.toml"
    os.mkfifo(fifo)
    result: list[tuple[int, str, str]] = []
    t = threading.Thread(target=lambda: result.append(_validate(capsys, fifo)), daemon=True)
    t.start()
    t.join(timeout=20)
    if t.is_alive():  # unblock the reader so the test process can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading a FIFO profile blocked")
    rc, _, err = result[0]
    assert rc == 1 and "FIFO" in err


def test_a_huge_file_is_refused_by_size(tmp_path, capsys):
    path = tmp_path / "huge.toml"
    with open(path, "wb") as f:
        f.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    rc, _, err = _validate(capsys, path)
    assert rc == 1 and "too large" in err


# ---------------------------------------------------------------- plant files


@pytest.fixture(scope="module")
def library() -> ProfileLibrary:
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    return lib


def _plant(tmp_path: Path, library: ProfileLibrary, device: str):
    pid = library.ids()[0]
    path = tmp_path / "plant.toml"
    path.write_text(f'[[devices]]\nname = "d1"\nprofile = "{pid}"\n{device}\n')
    return load_plant(path, library)


@pytest.mark.parametrize("unit", [0, 248, 255])
@pytest.mark.parametrize("transport", ["tcp", "rtu"])
def test_a_modbus_unit_outside_1_to_247_is_refused(tmp_path, library, unit, transport):
    serial = '\n[devices.serial]\nport = "/dev/ttyUSB0"' if transport == "rtu" else 'host = "10.0.0.5"'
    with pytest.raises(ConfigError) as ei:
        _plant(tmp_path, library, f'transport = "{transport}"\nunit = {unit}\n{serial}')
    msg = str(ei.value)
    assert "device 'd1' (devices[0])" in msg and "'unit'" in msg and "1-247" in msg, msg


def test_an_empty_host_is_refused(tmp_path, library):
    with pytest.raises(ConfigError) as ei:
        _plant(tmp_path, library, 'host = ""')
    assert "device 'd1' (devices[0]), field 'host'" in str(ei.value)


def test_a_missing_host_is_an_error_naming_device_file_and_field(tmp_path, library):
    # polling 127.0.0.1 in place of the meter would show some other device's values
    with pytest.raises(ConfigError) as ei:
        _plant(tmp_path, library, "port = 1502")
    msg = str(ei.value)
    assert str(tmp_path / "plant.toml") in msg, msg
    assert "device 'd1' (devices[0])" in msg and "'host'" in msg and "required" in msg, msg
    given = _plant(tmp_path, library, 'host = "10.0.0.5"')
    assert given.warnings == [] and given.devices[0].host == "10.0.0.5"


def test_a_missing_host_stops_vigil_run_with_the_message(tmp_path, library, capsys):
    plant = tmp_path / "plant.toml"
    plant.write_text(f'[[devices]]\nname = "d1"\nprofile = "{library.ids()[0]}"\nport = 1502\n')
    rc = main(["run", "--headless", "--duration", "1", "--plant", str(plant),
               "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "device 'd1' (devices[0])" in err and "'host'" in err, err


@pytest.mark.parametrize("field", ["interval_ms = 0", "timeout_ms = 100000000", "port = 0"])
def test_plant_numbers_are_bounded(tmp_path, library, field):
    with pytest.raises(ConfigError, match="device 'd1'"):
        _plant(tmp_path, library, field)


def test_a_plant_path_that_is_a_device_is_refused(library):
    with pytest.raises(ConfigError, match="not a regular file"):
        load_plant("/dev/zero", library)
