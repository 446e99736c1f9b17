"""Live anomaly detection through the real parts: demo simulator over Modbus TCP, the poll
runtime, the historian, "learn normal" from a historian range, then a cavitation fault raised
while running becomes an ordinary alarm naming the vibration channels."""

from __future__ import annotations

import time

from app.core.journal import read_events, verify
from app.core.users import Role
from app.station import Core


def _wait(pred, timeout_s: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def test_one_scan_shares_one_timestamp(tmp_path):
    """The pump is read in several blocks; its samples of one scan still share a timestamp,
    which is what lets detectors and exports join the points of one poll."""
    core = Core(tmp_path / "data", demo_interval_ms=100)
    core.start()
    try:
        assert _wait(lambda: sum(1 for t, s in core.latest().items() if t.startswith("pump.")) > 5, 10)
        time.sleep(0.5)
        batch = [s for s in core.snapshots.drain() if s.tag.startswith("pump.") and s.quality.is_good]
    finally:
        core.stop()
    by_t: dict[float, set[str]] = {}
    for s in batch:
        by_t.setdefault(s.t, set()).add(s.tag)
    sizes = sorted(len(v) for v in by_t.values())
    assert sizes and sizes[len(sizes) // 2] >= 8, sizes


def test_cavitation_on_the_running_demo_plant_raises_an_explained_anomaly_alarm(tmp_path):
    core = Core(tmp_path / "data", demo_interval_ms=100, demo_speed=10.0)
    core.start()
    try:
        assert _wait(
            lambda: core.diagnostics().get("pump") and core.diagnostics()["pump"].state == "online", 10
        )
        t0 = time.time()
        time.sleep(8.0)  # 80 s of simulated normal running, polled at 10 Hz
        t1 = time.time()
        assert core.historian.flush(10.0)
        info = core.detectors.learn_normal("pump", t0, t1)
        assert any("accel1" in t for t in info.tags), info.tags

        def anomaly():
            return [a for a in core.alarms.alarms() if a.id == "anomaly:pump" and a.condition]

        time.sleep(4.0)  # normal running after training: no anomaly
        assert anomaly() == []
        core.users.add(None, "erin", "engineer-pass", Role.ADMINISTRATOR)
        core.login("erin", "engineer-pass")  # injecting a fault is an engineer's action
        core.inject_fault("cavitation")
        assert _wait(lambda: bool(anomaly()), 15.0), [g for g in core.detectors.groups()]
        explanation = anomaly()[0].explanation or ""
        assert "accel1_rms" in explanation or "accel2_rms" in explanation, explanation
    finally:
        core.stop()
    events = read_events(tmp_path / "data" / "journal")
    kinds = [e.kind for e in events]
    assert "model.trained" in kinds and "sim.fault" in kinds
    raised = [e for e in events if e.kind == "alarm.transition" and e.body.get("alarm") == "anomaly:pump"]
    assert raised, "anomaly transition not journaled"
    assert verify(tmp_path / "data" / "journal").exit_code == 0
