"""The device profile library: every product profile validates, names its source and how it was
cross-checked, agrees with an independent open-source implementation, and decodes known values
served by a real pymodbus server, polled through the real Modbus driver plugin and runtime."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import DataType, Point, Profile, ProfileLibrary, parse_profile
from app.core.runtime import Runtime
from app.plugin_host import PluginHost
from tests.devices.crosscheck import TABLE, WORD_ORDER
from tests.devices.servers import TableServer, UnitTables

ROOT = Path(__file__).resolve().parents[2]


def library() -> ProfileLibrary:
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    return lib


def products() -> list[Profile]:
    """Library profiles that describe a real product (the demo maps have no kind)."""
    return [p for p in library() if p.device.kind is not None]


def test_at_least_twelve_products_across_the_kinds_a_plant_has():
    found = products()
    assert len(found) >= 12
    kinds = {p.device.kind for p in found}
    assert {
        "energy_meter",
        "vfd",
        "pv_inverter",
        "temperature_controller",
        "remote_io",
        "flow_meter",
    } <= kinds
    # three-phase and single-phase meters both present
    models = " ".join(p.device.description.lower() for p in found if p.device.kind == "energy_meter")
    assert "single-phase" in models and "three-phase" in models


def test_every_product_names_its_document_and_its_cross_check():
    for p in products():
        d = p.device
        assert d.vendor and d.model and d.source, d.id
        assert d.cross_check, f"{d.id}: no cross_check"
        assert d.id in TABLE, f"{d.id}: missing from tests/devices/crosscheck.py"
        assert TABLE[d.id].source in d.cross_check, f"{d.id}: cross_check does not name {TABLE[d.id].source}"


def disagreements(prof: Profile, profile_id: str) -> list[str]:
    out = []
    for check in TABLE[profile_id].checks:
        try:
            p = prof.point(check.point)
        except KeyError:
            out.append(f"{profile_id}: no point '{check.point}'")
            continue
        if (p.table.value, p.address, p.type.value) != (check.table, check.address, check.type):
            out.append(
                f"{profile_id}.{check.point}: profile has {p.table.value}:{p.address} {p.type.value}, "
                f"source says {check.table}:{check.address} {check.type}"
            )
        if check.scale is not None and not math.isclose(p.scale, check.scale):
            out.append(f"{profile_id}.{check.point}: scale {p.scale}, source says {check.scale}")
    if profile_id in WORD_ORDER and prof.device.word_order != WORD_ORDER[profile_id]:
        out.append(f"{profile_id}: word order {prof.device.word_order}, source says {WORD_ORDER[profile_id]}")
    return out


@pytest.mark.parametrize("profile_id", sorted(TABLE))
def test_profile_agrees_with_the_independent_source(profile_id):
    prof = library().get(profile_id)
    assert prof is not None, profile_id
    assert disagreements(prof, profile_id) == []


def test_a_profile_disagreeing_with_its_source_is_caught():
    """The cross-check is not vacuous: one moved address or a swapped word order fails it."""
    prof = library().get("carlo-gavazzi-em24")
    assert prof is not None
    text = Path(prof.path or "").read_text()
    moved = text.replace("address = 0x0037", "address = 0x0038", 1).replace(
        'word_order = "little"', 'word_order = "big"'
    )
    found = disagreements(parse_profile(moved.encode(), "moved.toml"), "carlo-gavazzi-em24")
    assert any("frequency" in f for f in found) and any("word order" in f for f in found)


def test_profile_ids_may_hold_hyphens_and_dots_but_not_end_in_toml():
    base = '[device]\nid = "{}"\n[[points]]\nname = "x"\ntable = "holding"\naddress = 0\ntype = "uint16"\n'
    assert parse_profile(base.format("acme.lt-200").encode(), "a.toml").device.id == "acme.lt-200"
    from app.core.errors import ConfigError

    for bad in ("-x", "a b", "x.toml"):
        with pytest.raises(ConfigError):
            parse_profile(base.format(bad).encode(), "b.toml")


# ---------------------------------------------------------------- decode against a server


def known_value(i: int, p: Point) -> float | int | bool:
    """A distinctive value for point number ``i`` that its type and scale can represent."""
    if p.type is DataType.BOOL:
        return i % 3 != 1
    if p.type in (DataType.FLOAT32, DataType.FLOAT64):
        raw: float | int = 100.25 + 7 * i
    else:
        unsigned_max = {DataType.INT16: 2**15 - 1, DataType.UINT16: 2**16 - 1}.get(p.type, 2**31 - 1)
        raw = (1234 + 97 * i) % unsigned_max
        if p.type.value.startswith("int") and i % 2:
            raw = -raw
    if p.min is not None or p.max is not None:  # keep setpoints inside their write limits
        lo = p.min if p.min is not None else -1e9
        hi = p.max if p.max is not None else 1e9
        eng = raw * p.scale + p.offset
        if not lo <= eng <= hi:
            raw = (
                round(((lo + hi) / 2 - p.offset) / p.scale)
                if p.type not in (DataType.FLOAT32, DataType.FLOAT64)
                else ((lo + hi) / 2 - p.offset) / p.scale
            )
    return raw * p.scale + p.offset if p.scale != 1.0 or p.offset != 0.0 else raw


class _Samples:
    def __init__(self) -> None:
        import threading

        self.latest: dict[str, object] = {}
        self.quality: dict[str, int] = {}
        self.cond = threading.Condition()

    def on_samples(self, batch) -> None:
        with self.cond:
            for s in batch:
                self.latest[s.tag] = s.value
                self.quality[s.tag] = int(s.quality)
            self.cond.notify_all()

    def wait_all(self, tags: set[str], timeout: float = 20.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        with self.cond:
            while not tags <= {t for t, q in self.quality.items() if q == 0}:
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = sorted(tags - set(self.quality))
                    bad = sorted(t for t in tags if self.quality.get(t, 0) != 0)
                    raise AssertionError(f"not all GOOD in {timeout} s; missing {missing[:5]}, bad {bad[:5]}")
                self.cond.wait(min(left, 0.1))


def test_every_product_decodes_what_a_server_serves_through_the_real_driver_and_runtime():
    lib = library()
    profs = sorted(products(), key=lambda p: p.device.id)
    expected: dict[str, float | int | bool] = {}
    units: dict[int, UnitTables] = {}
    devices = []
    for unit, prof in enumerate(profs, start=1):
        values = {p.name: known_value(i, p) for i, p in enumerate(prof.points)}
        units[unit] = UnitTables.from_profile(prof, values)
        dev = prof.device.id.replace("-", "_").replace(".", "_")
        devices.append((dev, prof.device.id, unit))
        expected.update({f"{dev}.{k}": v for k, v in values.items()})
    server = TableServer(units).start()
    try:
        text = "\n".join(
            f'[[devices]]\nname = "{dev}"\nprofile = "{pid}"\nhost = "127.0.0.1"\nport = {server.port}\n'
            f"unit = {unit}\ninterval_ms = 200\ntimeout_ms = 2000\n"
            for dev, pid, unit in devices
        )
        plant = parse_plant(text.encode(), "library-plant.toml", lib)
        host = PluginHost(builtins_only=True, entry_points=False)
        sink = _Samples()
        rt = Runtime(plant, lambda cfg: host.driver_factory(cfg.transport)(cfg.link_config()), [sink])
        rt.start()
        try:
            sink.wait_all(set(expected))
        finally:
            rt.stop()
    finally:
        server.stop()
    wrong = []
    for tag, want in expected.items():
        got = sink.latest[tag]
        if isinstance(want, bool) or isinstance(got, bool):
            ok = got is want
        else:
            ok = math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-6)  # type: ignore[arg-type]
        if not ok:
            wrong.append(f"{tag}: served {want!r}, decoded {got!r}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- vigil profile list


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_profile_list_json_shows_id_vendor_model_kind_and_source():
    r = vigil("profile", "list", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["id"]: row for row in json.loads(r.stdout)}
    gs2 = rows["automationdirect-gs2"]
    assert gs2["vendor"] == "AutomationDirect" and gs2["kind"] == "vfd"
    assert "GS2 Series AC Drive User Manual" in gs2["source"]
    assert "gs2_vfd.c" in gs2["cross_check"]
    assert {p.device.id for p in products()} <= set(rows)


def test_profile_list_table_and_a_refused_extra_folder(tmp_path):
    (tmp_path / "broken.toml").write_text('[device]\nid = "x"\n')
    r = vigil("profile", "list", "--dir", str(tmp_path))
    assert r.returncode == 1
    header = r.stdout.splitlines()[0].split()
    assert header == ["ID", "VENDOR", "MODEL", "KIND", "SOURCE"]
    assert any(line.startswith("eastron-sdm120 ") for line in r.stdout.splitlines())
    assert "broken.toml" in r.stderr
