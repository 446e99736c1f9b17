"""The built-in demo plant: the simulator started in-process on 127.0.0.1, and its plant file.

Lives in the station, not the core, because it is wiring: the core polls whatever plant it is
given and never knows that a simulator exists.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from app.core.journal import Journal
from app.core.plant import Plant, parse_plant
from app.core.profiles import ProfileLibrary
from app.sim.faults import FaultSpec, parse_fault, parse_faults
from app.sim.server import SimulatorThread, demo_plant_toml


class DemoPlant:
    """A running demo simulator and the plant that polls it."""

    def __init__(self, simulator: SimulatorThread, plant: Plant, journal: Journal):
        self.simulator = simulator
        self.plant = plant
        self._journal = journal

    @classmethod
    def start(
        cls,
        library: ProfileLibrary,
        journal: Journal,
        *,
        faults: Sequence[str] = (),
        seed: int = 0,
        speed: float = 1.0,
        interval_ms: int | None = None,
    ) -> DemoPlant:
        """Start the simulator (journaled as ``sim.start``) and parse the demo plant for its port."""
        simulator = SimulatorThread(seed=seed, faults=parse_faults(list(faults)), speed=speed)
        port = simulator.start()
        try:
            text = demo_plant_toml(port)
            if interval_ms is not None:
                text = re.sub(r"interval_ms\s*=\s*\d+", f"interval_ms = {interval_ms}", text)
            journal.append("sim.start", "system", {"port": port, "seed": seed, "faults": list(faults)})
            plant = parse_plant(text.encode(), "<demo plant>", library)
        except BaseException:
            simulator.stop()
            raise
        return cls(simulator, plant, journal)

    def inject_fault(self, spec: str, actor: str) -> FaultSpec:
        """Schedule a simulator fault now (e.g. 'cavitation', 'dead:vitals+30'), for training
        and tests. Journaled, so a fault seen in the plant is never a mystery."""
        fault = parse_fault(spec)
        applied = self.simulator.call(lambda sim: sim.model.add_fault(fault))
        self._journal.append(
            "sim.fault", actor, {"fault": spec, "device": applied.device, "start_s": applied.start_s}
        )
        return applied

    def stop(self) -> None:
        self.simulator.stop()
