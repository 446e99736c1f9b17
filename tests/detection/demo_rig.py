"""The demo pump, faster than real time: the physics model stepped at the demo's pump poll
interval (500 ms) on a simulated clock, its polls fed to a real historian, a real alarm engine
configured with the demo plant's limit alarms, and the detector engine. Shared by
``test_demo_faults.py`` (quick) and ``tests/benchmarks/anomaly_demo.py`` (5 seeds, 4 hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from app.core.alarms import AlarmEngine
from app.core.alarms.types import AlarmKind, AlarmView
from app.core.detection import DetectorEngine
from app.core.detection.engine import tag_units
from app.core.historian import Historian
from app.core.journal import Journal
from app.core.model import Quality, Sample, tag_name
from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import ProfileLibrary
from app.sim.demo import DEMO_DEVICES, demo_plant_toml
from app.sim.faults import FaultSpec
from app.sim.model import PlantModel

EPOCH = 1_750_000_000.0
LIMIT_KINDS = (AlarmKind.LOLO, AlarmKind.LO, AlarmKind.HI, AlarmKind.HIHI)
POLL_S = DEMO_DEVICES["pump"][3] / 1000.0  # the demo plant polls the pump every 500 ms


class SimClock:
    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> float:
        return self.now


@dataclass
class Outcome:
    """When (simulated seconds after the fault began) each kind of alarm first went active."""

    anomaly_after_s: float | None = None
    limit_after_s: float | None = None  # the first LO/HI/LOLO/HIHI alarm on the pump
    limit_alarm: str = ""
    state_after_s: float | None = None  # the first device status alarm (e.g. its own warning flag)
    state_alarm: str = ""
    explanation: str = ""
    normal_anomalies: list[str] = field(default_factory=list)  # raised before the fault


class PumpRig:
    def __init__(self, tmp: Path, seed: int, fault: str | None, fault_at_s: float,
                 drift: dict[str, float] | None = None):
        self.clock = SimClock()
        self.journal = Journal.open(tmp / "journal")
        self.historian = Historian(tmp / "historian.sqlite", retention_days=0)
        self.historian.start()
        lib = ProfileLibrary()
        lib.add_folder(device_profiles_dir())
        plant = parse_plant(demo_plant_toml(5020).encode(), "demo", lib)
        self.alarms = AlarmEngine(self.journal, state_path=tmp / "alarms.sqlite", clock=self.clock)
        self.alarms.configure(plant)
        self.engine = DetectorEngine(journal=self.journal, alarms=self.alarms,
                                     historian=self.historian, models_dir=tmp / "models",
                                     units=tag_units(plant), drift=drift)
        faults = [FaultSpec(fault, "pump", start_s=fault_at_s)] if fault else []
        self.model = PlantModel(seed=seed, faults=faults)
        self.fault_at = EPOCH + fault_at_s
        self.first_active: dict[str, tuple[float, AlarmView]] = {}
        self.alarms.subscribe(self._seen)

    def _seen(self, view: AlarmView) -> None:
        if view.condition and view.device == "pump" and view.id not in self.first_active:
            self.first_active[view.id] = (self.clock.now, view)

    def poll(self) -> list[Sample]:
        values = self.model.step(POLL_S)["pump"]
        self.clock.now = EPOCH + self.model.t
        return [Sample(tag_name("pump", p), v, Quality.GOOD, self.clock.now) for p, v in values.items()]

    def record(self, seconds: float) -> None:
        """Normal running into the historian (and the limit alarms) only."""
        for _ in range(round(seconds / POLL_S)):
            batch = self.poll()
            self.historian.on_samples(batch)
            self.alarms.on_samples(batch)
        self.historian.flush()

    def learn(self) -> None:
        self.engine.learn_normal("pump", EPOCH, self.clock.now, actor="tester")

    def run(self, seconds: float) -> None:
        """Live: every poll to the alarm engine and the detector engine, scored in order."""
        for i in range(round(seconds / POLL_S)):
            batch = self.poll()
            self.alarms.on_samples(batch)
            self.engine.on_samples(batch)
            if i % 20 == 19:
                self.engine.flush()
        self.engine.flush()

    def outcome(self) -> Outcome:
        out = Outcome()
        for aid, (t, view) in sorted(self.first_active.items(), key=lambda kv: kv[1][0]):
            if t < self.fault_at:
                continue
            if view.kind in LIMIT_KINDS and out.limit_after_s is None:
                out.limit_after_s, out.limit_alarm = t - self.fault_at, aid
            elif view.kind == AlarmKind.STATE and out.state_after_s is None:
                out.state_after_s, out.state_alarm = t - self.fault_at, aid
        for ep in self.engine.episodes("pump"):
            if ep["start_t"] < self.fault_at:
                out.normal_anomalies.append(ep["text"])
            elif out.anomaly_after_s is None:
                out.anomaly_after_s = ep["start_t"] - self.fault_at
                out.explanation = ep["text"]
        return out

    def close(self) -> None:
        self.engine.close()
        self.historian.close()
        self.journal.close()
