"""A plant file can name a device type instead of a profile: the core asks the plugin (SunSpec)
to discover the register map at start, then polls it like any other device. A device whose
discovery fails is left out with a journaled reason while the rest of the plant runs."""

from __future__ import annotations

import time

from vigil_sunspec.simulate import SF_OFFSETS, sunspec_registers

from app.core.journal import read_events
from app.plugin_testing import SimServer
from app.station import Core


def test_sunspec_device_type_is_discovered_and_polled(tmp_path):
    inverter = SimServer(
        sunspec_registers(raw={"ac_frequency": 5002}, sf={SF_OFFSETS["ac_frequency"]: -2}, serial="SN-7")
    ).start()
    not_sunspec = SimServer({0: [1, 2, 3]}).start()
    try:
        plant = tmp_path / "plant.toml"
        plant.write_text(
            f"""
[plant]
name = "Solar roof"

[[devices]]
name = "inv1"
device_type = "sunspec"
host = "127.0.0.1"
port = {inverter.port}
interval_ms = 100

[[devices]]
name = "inv2"
device_type = "sunspec"
host = "127.0.0.1"
port = {not_sunspec.port}
interval_ms = 100
"""
        )
        core = Core(tmp_path / "data", plant)
        core.start()
        try:
            assert [d.name for d in core.plant.devices] == ["inv1"]
            assert any("inv2" in p and "discovery failed" in p for p in core.config_problems)
            deadline = time.monotonic() + 10
            freq = None
            while time.monotonic() < deadline:
                s = core.latest().get("inv1.ac_frequency")
                if s is not None and s.quality.is_good:
                    freq = s.value
                    break
                time.sleep(0.05)
            assert freq is not None and abs(freq - 50.02) < 1e-9
        finally:
            core.stop()
        kinds = {e.kind: e for e in read_events(tmp_path / "data" / "journal")}
        assert kinds["device.discovered"].body["device"] == "inv1"
        assert kinds["device.discovery_failed"].body["device"] == "inv2"
    finally:
        inverter.stop()
        not_sunspec.stop()
