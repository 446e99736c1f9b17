"""The demo pump, end to end in the core: learn normal from the historian, stream polls through
the detector engine into the real alarm engine; cavitation must raise one anomaly alarm naming
the vibration channels within 30 s, and 10 minutes of normal running must raise none.

Simulated time is driven through ``PlantModel`` directly (1 Hz polls), never by sleeping.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.alarms import AlarmEngine
from app.core.alarms.types import AlarmKind, AlarmState
from app.core.detection import DetectorEngine
from app.core.historian import Historian
from app.core.journal import Journal
from app.core.model import Quality, Sample, tag_name
from app.sim.faults import FaultSpec
from app.sim.model import PlantModel

EPOCH = 1_750_000_000.0
FAULT_AT = 2400.0
ANALOG = ["accel1_rms", "accel2_rms", "current", "voltage", "pressure", "temperature",
          "thermocouple", "flow"]


class SimClock:
    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> float:
        return self.now


def poll(model: PlantModel, clock: SimClock) -> list[Sample]:
    """One 1 Hz poll of the pump: every point, stamped with the poll's (simulated) time."""
    values = model.step(1.0)["pump"]
    clock.now = EPOCH + model.t
    return [Sample(tag_name("pump", p), v, Quality.GOOD, clock.now) for p, v in values.items()]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[PlantModel, SimClock, Journal, Historian, AlarmEngine,
                                          DetectorEngine]]:
    clock = SimClock()
    journal = Journal.open(tmp_path / "journal")
    historian = Historian(tmp_path / "historian.sqlite", retention_days=0)  # EPOCH is in the past
    historian.start()
    alarms = AlarmEngine(journal, state_path=tmp_path / "alarms.sqlite", clock=clock)
    engine = DetectorEngine(journal=journal, alarms=alarms, historian=historian,
                            models_dir=tmp_path / "models")
    model = PlantModel(seed=11, faults=[FaultSpec("cavitation", "pump", start_s=FAULT_AT)])
    yield model, clock, journal, historian, alarms, engine
    engine.close()
    historian.close()
    journal.close()


def anomaly(alarms: AlarmEngine):
    return [a for a in alarms.alarms() if a.kind == AlarmKind.ANOMALY]


def test_cavitation_alarms_within_30s_naming_vibration_and_normal_running_stays_quiet(rig) -> None:
    model, clock, journal, historian, alarms, engine = rig
    for _ in range(600):  # 10 minutes of normal running into the historian
        historian.on_samples(poll(model, clock))
    historian.flush()
    info = engine.learn_normal("pump", EPOCH, clock.now, actor="tester")
    assert set(info.tags) == {tag_name("pump", p) for p in ANALOG}  # run_hours/flags left out

    while model.t < FAULT_AT - 1:  # another 10 minutes of normal running, scored live
        engine.on_samples(poll(model, clock))
    engine.flush()
    assert engine.groups()[0].rows_scored >= 590
    assert anomaly(alarms) == [], "normal running raised an anomaly alarm"

    while model.t < FAULT_AT + 30:  # cavitation starts; feed only its first 30 s
        engine.on_samples(poll(model, clock))
    engine.flush()
    [alarm] = anomaly(alarms)
    assert alarm.condition and alarm.state == AlarmState.UNACK_ACTIVE and alarm.id == "anomaly:pump"
    assert "accel1_rms" in alarm.explanation and "accel2_rms" in alarm.explanation
    assert "accel1_rms" in alarm.explanation.split("high")[0]  # named with its direction
    [status] = engine.groups()  # what the detector panel shows
    assert status.state == "anomaly" and status.peak_severity is not None
    assert f"severity {status.peak_severity:.0f}" in alarm.explanation  # one figure everywhere
    assert EPOCH + FAULT_AT < status.last_anomaly_at <= EPOCH + FAULT_AT + 30

    journal.flush()
    con = sqlite3.connect(journal.dir / "journal.sqlite")
    bodies = [json.loads(b) for (b,) in con.execute(
        "SELECT body FROM events WHERE kind = 'model.trained'")]
    con.close()
    assert bodies[0]["sha256"] == info.sha256 and bodies[0]["training"]["t0"] == EPOCH
    assert bodies[0]["detector"] == "pca_t2q" and bodies[0]["params"]["alpha"] > 0
