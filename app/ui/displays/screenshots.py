"""Make the README's process-display pictures on the real demo plant:
``python -m app.ui.displays.screenshots packaging/screenshots``.

A scripted night-shift moment rather than a quiet plant: the tank's inlet valve sticks wide open
against its 50 % command (the tank climbs towards its HI and HIHI marks) and the bedside
monitor's SpO2 sensor drifts. The overview, the tank unit and the vital-signs display are saved
in the light and the dark palette, each as the operator sees it in the window's display area.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def make_display_screenshots(out_dir: Path, run_s: float = 40.0) -> list[Path]:
    from app.core.displays import DisplayCatalogue
    from app.station import Core, LocalStation
    from app.ui.app import ensure_app
    from app.ui.bridge import CoreBridge
    from app.ui.displays.view import DisplayView
    from app.ui.palette import DARK, LIGHT, apply_scheme
    from app.ui.tasks import TaskRunner

    out_dir.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    apply_scheme(app, LIGHT)
    with tempfile.TemporaryDirectory(prefix="vigil-display-shots-") as tmp:
        core = Core(Path(tmp), plugins_enabled=False, demo_faults=["stuck_valve@5", "sensor_drift:vitals@5"])
        core.start()
        try:
            assert core.simulator is not None
            core.simulator.simulator.speed = 4.0
            station = LocalStation(core)
            tasks = TaskRunner()
            view = DisplayView(station, DisplayCatalogue(station.plant), LIGHT, run_async=tasks.submit)
            bridge = CoreBridge(station)
            bridge.samples.connect(view.on_samples)
            bridge.alarms_changed.connect(view.on_alarms)
            bridge.diagnostics.connect(view.on_diagnostics)
            bridge.start()
            view.resize(1440, 860)
            view.show()

            def pump(seconds: float) -> None:
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    app.processEvents()
                    time.sleep(0.01)

            view.open("demo_tank?device=tank")
            pump(run_s)
            paths: list[Path] = []
            for scheme in (LIGHT, DARK):
                apply_scheme(app, scheme)
                view.set_scheme(scheme)
                for goto, name in (
                    ("overview", "display-overview"),
                    ("demo_tank?device=tank", "display-tank"),
                    ("demo_vitals?device=vitals", "display-vitals"),
                ):
                    view.open(goto)
                    pump(1.5)
                    path = out_dir / f"{name}-{scheme.name}.png"
                    if not view.grab().save(str(path)):
                        raise OSError(f"could not write {path}")
                    paths.append(path)
            bridge.stop()
            view.stop()
            tasks.wait(10_000)
            view.close()
            return paths
        finally:
            core.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("packaging/screenshots")
    for p in make_display_screenshots(target):
        print(f"saved {p}")
