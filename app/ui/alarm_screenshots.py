"""Make the README's alarm-list pictures on the faulted demo plant:
``python -m app.ui.alarm_screenshots OUT_DIR``.

The meter answers with exceptions (one DEVICE alarm, its points' BAD alarms suppressed by
design), the tank's inlet valve sticks open (the valve's FEEDBACK alarm, then the level's HIHI
with HI suppressed beneath it), the bedside monitor stops answering (COMM, IEC 60601-1-8
colours on the banner) and one alarm is acknowledged by the operator. Real simulator, Modbus
TCP, core and journal; the alarm dock is grabbed in the light and the dark palette.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def make_alarm_screenshots(out_dir: Path, run_s: float = 40.0) -> list[Path]:
    from app.core.users import Role
    from app.station import Core, LocalStation
    from app.ui.app import ensure_app
    from app.ui.main_window import MainWindow
    from app.ui.palette import DARK, LIGHT

    out_dir.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    faults = ("exception:meter@4", "stuck_valve@2", "dead:vitals@20")
    out: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="vigil-alarm-shots-") as tmp:
        core = Core(Path(tmp), plugins_enabled=False, demo_faults=faults)
        core.start()
        try:
            users = core.users
            assert users is not None  # started
            users.add(None, "admin", "admin-password-1", Role.ADMINISTRATOR)
            admin = core.login("admin", "admin-password-1")
            users.add(admin, "olga", "operator-password-1", Role.OPERATOR)
            core.login("olga", "operator-password-1")
            win = MainWindow(LocalStation(core), settings_path=Path(tmp) / "ui-settings.json")
            win.resize(1600, 960)
            win.show()
            win.default_sizes()
            core.write_setpoint("tank", "valve_setpoint", 30.0)
            core.write_setpoint("tank", "pump_run", False)
            sim = core.simulator
            assert sim is not None  # the demo plant
            sim.simulator.speed = 4.0

            def pump_events(seconds: float) -> None:
                until = time.monotonic() + seconds
                while time.monotonic() < until:
                    app.processEvents()
                    time.sleep(0.01)

            pump_events(run_s * 0.7)
            if "meter:DEVICE" in win.alarm_model.visible_ids():
                win.acknowledge(["meter:DEVICE"])
            pump_events(run_s * 0.3)
            dock = win.docks["alarms"]
            for scheme, name in ((LIGHT, "alarms-light.png"), (DARK, "alarms-dark.png")):
                win.apply_scheme(scheme)
                pump_events(1.0)
                path = out_dir / name
                win.grab().save(str(path))
                dock_path = out_dir / name.replace(".png", "-list.png")
                dock.grab().save(str(dock_path))
                out += [path, dock_path]
            win.close()
        finally:
            core.stop()
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "packaging/screenshots")
    for p in make_alarm_screenshots(target):
        print(p)
