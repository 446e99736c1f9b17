"""A trained detector survives a restart of the workstation, but only while its model file is
the one the journal vouches for."""

from __future__ import annotations

from app.core.journal import read_events, verify
from app.sim.model import PlantModel
from app.station import Core

TAGS = ["accel1_rms", "accel2_rms", "current", "pressure", "flow"]


def _groups(core: Core) -> dict[str, object]:
    return {g.group: g for g in core.detectors.groups()}


def test_trained_model_is_restored_after_restart_and_a_tampered_one_refused(tmp_path):
    data = tmp_path / "data"
    rows = PlantModel(seed=3).run(120).matrix("pump", TAGS)
    core = Core(data, demo_interval_ms=200)
    core.start()
    try:
        info = core.detectors.learn_rows("pump", [f"pump.{t}" for t in TAGS], rows, detector="pca_t2q")
    finally:
        core.stop()

    core = Core(data, demo_interval_ms=200)
    core.start()
    try:
        assert "pump" in _groups(core)
        assert core.config_problems == []
    finally:
        core.stop()

    model = info.path
    raw = bytearray(model.read_bytes())
    raw[-1] ^= 0xFF
    model.write_bytes(bytes(raw))
    core = Core(data, demo_interval_ms=200)
    core.start()
    try:
        assert "pump" not in _groups(core)
        assert any("refused" in p and model.name in p for p in core.config_problems)
    finally:
        core.stop()

    kinds = [e.kind for e in read_events(data / "journal")]
    assert kinds.count("model.trained") == 1
    assert kinds.count("model.loaded") == 1
    assert kinds.count("model.refused") == 1
    assert verify(data / "journal").exit_code == 0
