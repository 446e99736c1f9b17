"""The demo pump's faults raise the anomaly alarm before any limit alarm, and normal running
raises none (quick version: one seed, 15 min learned, 5 min scored before the fault; the
5-seed, 4-hour figures come from tests/benchmarks/anomaly_demo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .demo_rig import PumpRig

LEARN_S, SCORED_S = 900.0, 300.0


@pytest.mark.parametrize("fault", ["cavitation", "sensor_drift"])
def test_fault_raises_the_anomaly_alarm_before_any_limit_alarm(tmp_path: Path, fault: str) -> None:
    rig = PumpRig(tmp_path, seed=0, fault=fault, fault_at_s=LEARN_S + SCORED_S)
    try:
        rig.record(LEARN_S)
        rig.learn()
        rig.run(SCORED_S + 200.0)
        out = rig.outcome()
    finally:
        rig.close()
    assert out.normal_anomalies == [], "normal running raised an anomaly alarm"
    assert out.anomaly_after_s is not None, f"{fault} raised no anomaly alarm"
    assert out.limit_after_s is None or out.anomaly_after_s < out.limit_after_s, (
        f"{fault}: limit alarm {out.limit_alarm} after {out.limit_after_s} s came before the "
        f"anomaly alarm ({out.anomaly_after_s} s)")
    assert out.explanation.startswith("peak severity ")
    named = {"cavitation": ("accel1_rms", "accel2_rms"), "sensor_drift": ("thermocouple",)}[fault]
    assert any(f"{tag} " in out.explanation for tag in named) and ", high" in out.explanation
