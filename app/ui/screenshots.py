"""Make the README screenshots on the real demo plant: ``python -m app.ui.screenshots OUT_DIR``.

A scripted, repeatable shift moment rather than a quiet plant: an engineer teaches the tank's
anomaly detector what normal looks like and hands over to the operator (switch user), the tank's
inlet valve is opened wide with the outlet pump stopped (a real overflow the limit alarms and the
detector catch), one alarm is acknowledged by the operator, and the bedside monitor stops
answering (communication loss, bad quality). Everything goes through the real simulator, Modbus
TCP, the core and the journal; built-in plugins only, so the pictures do not depend on what is
installed on the machine that makes them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def make_screenshots(out_dir: Path, run_s: float = 45.0) -> list[Path]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.core.users import Role
    from app.sim.faults import parse_fault
    from app.sim.server import DemoSimulator
    from app.station import Core, LocalStation
    from app.ui.app import ensure_app
    from app.ui.main_window import MainWindow
    from app.ui.palette import DARK, LIGHT

    out_dir.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    with tempfile.TemporaryDirectory(prefix="vigil-shots-") as tmp:
        core = Core(Path(tmp), plugins_enabled=False)
        core.start()
        simulator = core.simulator
        assert simulator is not None  # no plant file: the demo plant runs
        try:
            core.users.add(None, "admin", "admin-password-1", Role.ADMINISTRATOR)
            admin = core.login("admin", "admin-password-1")
            core.users.add(admin, "olga", "operator-password-1", Role.OPERATOR)
            core.users.add(admin, "emil", "engineer-password-1", Role.ENGINEER)
            core.login("emil", "engineer-password-1")
            win = MainWindow(LocalStation(core), settings_path=Path(tmp) / "ui-settings.json")
            win.resize(1600, 960)
            win.show()
            # bad quality and alarms first: what the picture is meant to show
            win.tags.view.sortByColumn(3, Qt.SortOrder.DescendingOrder)
            simulator.simulator.speed = 3.0
            t0 = time.monotonic()
            done = set()

            def pump_events(until: float) -> None:
                while time.monotonic() < until:
                    app.processEvents()
                    time.sleep(0.01)

            t_wall = time.time()
            while (elapsed := time.monotonic() - t0) < run_s:
                if elapsed > 18 and "learn" not in done:
                    # the engineer learns normal from the calm start, then hands over
                    core.historian.flush(timeout=5.0)
                    core.train_detector("tank", t_wall + 1.0, time.time() - 0.5)
                    core.login("olga", "operator-password-1")
                    win.accounts.sync()
                    done.add("learn")
                if elapsed > 19 and "overflow" not in done:
                    core.write_setpoint("tank", "valve_setpoint", 100.0)
                    core.write_setpoint("tank", "pump_run", False)
                    done.add("overflow")
                if "ack" not in done and "tank.level:HI" in win.alarm_model.visible_ids():
                    win.acknowledge(["tank.level:HI"])  # as soon as it shows: one acked, others not
                    done.add("ack")
                if elapsed > run_s - 6 and "dead" not in done:

                    def kill(sim: DemoSimulator) -> None:
                        m = sim.model
                        m.faults = (*m.faults, parse_fault(f"dead:vitals@{m.t}"))

                    simulator.call(kill)
                    done.add("dead")
                pump_events(time.monotonic() + 0.1)
            paths = []
            for scheme, name in ((LIGHT, "main-light.png"), (DARK, "main-dark.png")):
                win.apply_scheme(scheme)
                pump_events(time.monotonic() + 0.5)
                path = out_dir / name
                if not win.grab().save(str(path)):
                    raise OSError(f"could not write {path}")
                paths.append(path)
            win.close()
            QApplication.processEvents()
            return paths
        finally:
            core.stop()


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("packaging/screenshots")
    for p in make_screenshots(target):
        print(f"saved {p}")
