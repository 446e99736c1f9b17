"""Plant-join benchmark (run by hand; not collected by pytest).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/plant_join.py [--devices 100] [--repeat 3]

What a node joining costs a connected window: a `RemoteStation` on a real Mosquitto
(127.0.0.1) with one node's retained plant (N devices of the demo profiles: pump, meter, tank,
bedside monitor, about 30 points each), the main window open on it (offscreen); then a second
node's plant of N more devices arrives and the window follows it (`MainWindow.follow_plant`:
plant tree, tag table rows, display catalogue and the generated overview).

Printed beside baselines measured in the same run:
- the GUI-thread block of the follow, median over ``--repeat`` joins (each a new node id),
- opening a new window on the same 2N-device plant (what an operator did before: reopen),
- the check the window makes once a second when nothing changed, in ns per check.

No assertion: read the figures (2 noisy cores; the load average is printed with them). The
nodes here are retained plant descriptions published by this script, not running `vigil node`s:
the window's rebuild depends on the plant alone, not on live values.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

GROUP = "bench"
PROFILES = ("demo_pump", "sdm630", "demo_tank", "demo_vitals")


def plant_json(node: str, devices: int, work: Path) -> bytes:
    """A node's plant description as `vigil node` publishes it (retained, wire.plant_to_json)."""
    from app.core.plant import load_plant
    from app.core.profiles import ProfileLibrary
    from app.station.remote import wire

    lines = [f'[plant]\nname = "bench {node}"\n']
    prefix = node.replace("-", "_")  # a device name is an identifier
    for i in range(devices):
        lines.append(
            f'[[devices]]\nname = "{prefix}_d{i:03d}"\nprofile = "{PROFILES[i % len(PROFILES)]}"\n'
            f'transport = "tcp"\nhost = "127.0.0.1"\nport = 5020\nunit = {i % 247 + 1}\ninterval_ms = 1000\n'
        )
    path = work / f"{node}.toml"
    path.write_text("\n".join(lines))
    library = ProfileLibrary()
    library.add_folder(ROOT / "device_profiles")
    return json.dumps(wire.plant_to_json(load_plant(path, library))).encode()


def publish(broker: object, node: str, payload: bytes) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{node}", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)  # type: ignore[attr-defined]
    client.loop_start()
    try:
        client.publish(f"vigil/{GROUP}/{node}/plant", payload, qos=1, retain=True).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=100, help="devices per node (default 100)")
    ap.add_argument("--repeat", type=int, default=3, help="joins measured (default 3)")
    args = ap.parse_args()

    from mqtt_support import MosquittoBroker
    from PySide6.QtWidgets import QApplication

    from app.station.remote.station import RemoteStation
    from app.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory(prefix="vigil-join-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker") as broker:
            publish(broker, "area-1", plant_json("area-1", args.devices, work))
            station = RemoteStation(broker.config(), GROUP, work / "ws", station_id="bench-ws")
            station.connect(wait_s=15, settle_s=0.2)
            try:
                win = MainWindow(station, settings_path=work / "ws" / "settings.json")
                win.show()
                app.processEvents()
                follow, reopen, points = [], [], []
                for k in range(args.repeat):
                    node = f"join-{k}"
                    version = station.plant_version
                    publish(broker, node, plant_json(node, args.devices, work))
                    deadline = time.monotonic() + 20
                    while station.plant_version == version and time.monotonic() < deadline:
                        time.sleep(0.01)
                    if station.plant_version == version:
                        raise SystemExit(f"the plant of {node} did not arrive within 20 s")
                    t0 = time.perf_counter()
                    if os.environ.get("JOIN_PROFILE") and k == 0:
                        import cProfile

                        cProfile.runctx("win.follow_plant(); app.processEvents()", globals(), locals(),
                                        os.environ["JOIN_PROFILE"])
                    else:
                        win.follow_plant()
                        app.processEvents()  # the repaint that follows belongs to the block
                    follow.append(time.perf_counter() - t0)
                    points.append(len(win.tag_model._rows))
                    # baseline: a new window on the same plant, as a reopen would make
                    t0 = time.perf_counter()
                    other = MainWindow(station, settings_path=work / "ws" / f"other{k}.json")
                    other.show()
                    app.processEvents()
                    reopen.append(time.perf_counter() - t0)
                    other.shutdown()
                    other.hide()
                    other.deleteLater()
                    app.processEvents()
                    gc.collect()
                n = 1_000_000
                t0 = time.perf_counter()
                for _ in range(n):
                    if station.plant_version != win._plant_version:
                        break
                check_ns = (time.perf_counter() - t0) / n * 1e9
                win.shutdown()
            finally:
                station.close()
    load = os.getloadavg()
    devices = [args.devices * (k + 2) for k in range(args.repeat)]
    print(f"plant join: {args.devices} devices per node, joins to {devices} devices "
          f"({points} tags); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    for k in range(args.repeat):
        print(f"  join {k + 1}: follow {follow[k] * 1000:7.0f} ms   "
              f"reopen (baseline) {reopen[k] * 1000:7.0f} ms   ratio {follow[k] / reopen[k]:.2f}")
    mf, mr = statistics.median(follow), statistics.median(reopen)
    print(f"  median follow {mf * 1000:.0f} ms, reopen {mr * 1000:.0f} ms, ratio {mf / mr:.2f}")
    print(f"  idle check (plant_version compared, nothing changed): {check_ns:.0f} ns, once a second")


if __name__ == "__main__":
    main()
