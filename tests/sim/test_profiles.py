"""The device profiles shipped in device_profiles/: valid, current schema, and in step with the
demo model they describe."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core.codec import decode, encode
from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import DataType, ProfileLibrary, Table, json_schema, load_profile
from app.sim.demo import DEMO_DEVICES, demo_plant_toml, load_demo_profiles
from app.sim.model import PlantModel

PROFILE_FILES = sorted(device_profiles_dir().glob("*.toml"))


def test_every_profile_is_found() -> None:
    ids = {load_profile(f).device.id for f in PROFILE_FILES}
    assert {"demo_pump", "sdm630", "demo_tank", "demo_vitals"} <= ids


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.name)
def test_profile_passes_vigil_profile_validate(path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "profile", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert ": ok (" in proc.stdout


def test_committed_schema_equals_generated_schema() -> None:
    committed = (device_profiles_dir() / "profile.schema.json").read_text(encoding="utf-8")
    generated = json.dumps(json_schema(), indent=2) + "\n"
    assert committed == generated, (
        "device_profiles/profile.schema.json is stale: regenerate with "
        "`vigil profile schema > device_profiles/profile.schema.json`"
    )


def test_profiles_cover_the_profile_features() -> None:
    """The demo profiles are the format's worked examples: together they must use every type
    family, both bit tables, bits in registers, scale+offset, rw with limits, 1-based
    addressing, per-point word order, alarm limits with deadband and on-delay, scan classes."""
    profs = list(load_demo_profiles().values())
    points = [p for prof in profs for p in prof.points]
    types = {p.type for p in points}
    assert {DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.FLOAT32,
            DataType.STRING, DataType.BOOL} <= types
    assert {p.table for p in points} == set(Table)
    assert any(p.bit is not None for p in points)
    assert any(p.scale != 1.0 and p.offset != 0.0 for p in points)
    assert any(p.writable and p.min is not None and p.max is not None for p in points)
    assert any(p.word_order is not None for p in points)
    assert any(p.has_limits and p.deadband > 0 and p.on_delay_s > 0 for p in points)
    assert any(p.alarm_state is not None for p in points)
    assert any(p.scan != "normal" for p in points)
    assert any(not prof.device.zero_based for prof in profs)


def test_sdm630_is_the_real_register_map() -> None:
    prof = load_demo_profiles()["meter"]
    assert prof.device.vendor == "Eastron"
    assert "SDM630 Modbus Protocol" in prof.device.source
    # spot checks against the published input register table (30001 + address)
    expected = {"v_l1": 0x00, "i_l1": 0x06, "p_total": 0x34, "frequency": 0x46,
                "import_kwh": 0x48, "v_l1_l2": 0xC8, "i_neutral": 0xE0, "total_kwh": 0x156}
    for name, address in expected.items():
        p = prof.point(name)
        assert (p.table, p.type, p.address) == (Table.INPUT, DataType.FLOAT32, address), name


@pytest.mark.parametrize("device", list(DEMO_DEVICES))
def test_model_and_profile_name_the_same_points(device: str) -> None:
    """The server encodes model values with the profile: a point in one and not the other
    would be a register that never moves or a value nobody can read."""
    prof = load_demo_profiles()[device]
    values = PlantModel(seed=3).values()[device]
    assert {p.name for p in prof.points} == set(values)


@pytest.mark.parametrize("device", list(DEMO_DEVICES))
def test_model_values_fit_their_registers(device: str) -> None:
    """Every value over ten minutes (with faults) encodes without overflow and decodes back
    within the point's resolution."""
    from app.sim.faults import parse_faults

    prof = load_demo_profiles()[device]
    model = PlantModel(seed=5, faults=parse_faults("cavitation@100,stuck_valve@200,sensor_drift:vitals@300"))
    for t in range(0, 600, 7):
        vals = model.values_at(float(t))[device]
        for p in prof.points:
            if p.type is DataType.BOOL and not p.table.is_bit_table:
                continue  # bits inside a status word: covered by the server tests
            words = encode(prof, p, vals[p.name])
            back = decode(prof, p, words)
            if isinstance(back, float) and p.type is not DataType.FLOAT32:
                assert abs(back - vals[p.name]) <= abs(p.scale) / 2 + 1e-9, (p.name, t)


def test_demo_plant_file_resolves_every_profile_by_id() -> None:
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    plant = parse_plant(demo_plant_toml(5020).encode(), "<demo>", lib)
    assert [(d.name, d.unit, d.port) for d in plant.devices] == [
        (name, unit, 5020) for (_pid, unit, name, _ms) in DEMO_DEVICES.values()
    ]
    assert all(500 <= d.interval_ms <= 1000 for d in plant.devices)
    assert "pump.accel1_rms" in plant.tags() and "meter.total_kwh" in plant.tags()


def test_readme_example_profile_is_valid() -> None:
    """The example in device_profiles/README.md is what people copy: it must load."""
    from app.core.profiles import parse_profile

    text = (device_profiles_dir() / "README.md").read_text(encoding="utf-8")
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    prof = parse_profile(block.encode(), "README.md example")
    assert prof.point("level").address == 0  # 1-based in the file, protocol address 0
