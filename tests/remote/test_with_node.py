"""A workstation on a real `vigil node` (NodeService: the core on the demo plant, the
Sparkplug edge node and the station-protocol server) through a real Mosquitto, including the
shipped ACL with separate broker accounts for the node and the station."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.core.model import Quality
from app.station.remote.station import RemoteStation

from .conftest import GROUP, USERS, wait_until
from .nodes import start_node

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def secured_node(tmp_path, secured_mosquitto):
    # the shipped ACL ties a node's namespace to its broker user name: node id "node"
    svc = start_node(tmp_path / "node", secured_mosquitto.config("node"), "node")
    yield svc
    svc.stop()


def test_live_values_and_a_write_with_read_back_through_the_shipped_acl(secured_node, secured_mosquitto,
                                                                        tmp_path):
    ws = RemoteStation(secured_mosquitto.config("station"), GROUP, tmp_path / "ws",
                       station_id="station").connect(wait_s=15)
    try:
        core = secured_node.core
        assert {d.name for d in ws.plant.devices} == {d.name for d in core.plant.devices}
        # every tag of the demo plant arrives from the births, GOOD, with the node's values
        assert wait_until(lambda: set(core.plant.tags()) <= set(ws.latest()), 15)
        assert wait_until(lambda: ws.latest()["tank.level"].quality is Quality.GOOD, 10)
        node_t = core.latest()["tank.level"].t
        assert wait_until(lambda: ws.latest()["tank.level"].t >= node_t, 5)
        assert wait_until(lambda: getattr(ws.diagnostics().get("tank"), "state", "") == "online", 5)

        ws.login("olga", USERS["olga"][0])
        result = ws.write_setpoint("tank", "valve_setpoint", 37.0)
        assert result.readback == pytest.approx(37.0)
        # and the new value comes back to the screen through Sparkplug (DDATA by exception)
        assert wait_until(lambda: ws.latest()["tank.valve_setpoint"].value == pytest.approx(37.0), 5)
        core.journal.flush(timeout=5)
        from app.core.journal import read_events

        write = [e for e in read_events(core.data_dir / "journal") if e.kind == "setpoint.write"][-1]
        assert write.actor == "olga" and write.body["station"] == "station"
    finally:
        ws.close()


STATION_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from app.station.mqtt_link import BrokerConfig
    from app.station.remote.station import RemoteStation
    ws = RemoteStation(BrokerConfig("127.0.0.1", int(sys.argv[1])), sys.argv[2], Path(sys.argv[3]),
                       station_id="doomed").connect(wait_s=15)
    ws.login("olga", sys.argv[4])
    print("logged in", flush=True)
    while True:
        ws.alarms(); ws.latest(); time.sleep(0.05)
""")


def test_a_killed_station_does_not_disturb_the_node(tmp_path, mosquitto, stations):
    svc = start_node(tmp_path / "node", mosquitto.config(), "area1")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", STATION_SCRIPT, str(mosquitto.port), GROUP, str(tmp_path / "doomed"),
             USERS["olga"][0]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"logged in"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
        polls_before = svc.core.diagnostics()["tank"].samples
        time.sleep(1.5)
        assert svc.core.diagnostics()["tank"].samples > polls_before  # still polling
        assert svc.edge is not None and svc.edge.connected
        other = stations("ws2")
        other.login("olga", USERS["olga"][0])  # and still serving the other stations
        other.note("after the crash of a station")
        assert wait_until(lambda: "tank.level" in other.latest(), 10)
    finally:
        svc.stop()


def test_a_broker_restart_is_survived_values_return_and_actions_work(tmp_path, mosquitto, stations):
    svc = start_node(tmp_path / "node", mosquitto.config(), "area1")
    try:
        ws = stations("ws1")
        assert wait_until(lambda: "tank.level" in ws.latest(), 15)
        ws.login("olga", USERS["olga"][0])
        mosquitto.restart()  # no persistence: retained topics and sessions are gone
        t_back = time.time()
        # the node re-publishes its births and retained topics; the station resubscribes
        assert wait_until(lambda: ws.latest()["tank.level"].t > t_back
                          and ws.latest()["tank.level"].quality is Quality.GOOD, 20)
        assert wait_until(lambda: ws.nodes().get("area1") is True, 10)
        ws.note("after the broker came back")  # the node-issued session survives the broker
        from app.core.journal import read_events

        svc.core.journal.flush(timeout=5)
        notes = [e for e in read_events(svc.core.data_dir / "journal") if e.kind == "note"]
        assert notes[-1].body == {"text": "after the broker came back", "station": "ws1"}
    finally:
        svc.stop()


def test_a_station_over_tls_with_a_ca_made_in_the_test(tmp_path):
    from mqtt_support import MosquittoBroker

    with MosquittoBroker(tmp_path / "tls-broker", tls=True) as broker:
        svc = start_node(tmp_path / "node", broker.config(), "area1")
        ws = None
        try:
            ws = RemoteStation(broker.config(), GROUP, tmp_path / "ws", station_id="ws-tls")
            ws.connect(wait_s=15)
            assert ws.broker.uses_tls
            assert wait_until(lambda: "tank.level" in ws.latest(), 15)
            ws.login("olga", USERS["olga"][0])  # the password crosses the broker encrypted
            assert ws.write_setpoint("tank", "valve_setpoint", 12.0).readback == pytest.approx(12.0)
        finally:
            if ws is not None:
                ws.close()
            svc.stop()


def _area2_plant(tmp_path: Path, port: int) -> Path:
    """A second plant area on the same simulator: devices pump2, meter2, tank2, vitals2."""
    import re

    from app.sim.server import demo_plant_toml

    text = re.sub(r'name = "(pump|meter|tank|vitals)"', r'name = "\g<1>2"', demo_plant_toml(port))
    plant = tmp_path / "area2.toml"
    plant.write_text(text.replace('name = "Demo plant"', 'name = "Area 2"'))
    return plant


def test_a_node_started_after_the_station_joins_it_without_a_reconnect(tmp_path, mosquitto, stations):
    first = start_node(tmp_path / "node1", mosquitto.config(), "area1")
    try:
        ws = stations("ws1")
        assert {d.name for d in ws.plant.devices} == {"pump", "meter", "tank", "vitals"}
        ws.login("olga", USERS["olga"][0])
        assert first.core.simulator is not None
        t_start = time.time()
        second = start_node(tmp_path / "node2", mosquitto.config(), "area2",
                            plant_path=_area2_plant(tmp_path, first.core.simulator.port))
        try:
            # the plant tree grows by the new node's devices (its retained plant) ...
            assert wait_until(lambda: "tank2" in {d.name for d in ws.plant.devices}, 15)
            assert {d.name for d in ws.plant.devices} >= {"tank", "tank2", "vitals2"}
            assert "area1" in ws.plant.info.name and "area2" in ws.plant.info.name
            assert wait_until(lambda: ws.nodes().get("area2") is True, 10)
            # ... its values arrive from its Sparkplug births and data, GOOD and current ...
            assert wait_until(lambda: ws.latest().get("tank2.level") is not None
                              and ws.latest()["tank2.level"].quality is Quality.GOOD
                              and ws.latest()["tank2.level"].t > t_start, 15)
            # ... and the station protocol reaches it: its alarms, and a log-in there (the earlier
            # one could not be: the node did not exist), said as a problem until then
            assert any(p.what == "area2" and "log in again" in p.reason for p in ws.problems())
            second.core.alarms.set_system_condition("test", True, message="test condition")
            assert wait_until(lambda: "area2/station.test:SYSTEM" in {a.id for a in ws.alarms()}, 10)
            ws.login("olga", USERS["olga"][0])
            assert not [p for p in ws.problems() if p.what == "area2"]
            assert ws.write_setpoint("tank2", "valve_setpoint", 23.0).readback == pytest.approx(23.0)
            series = ws.history(["tank2.level"], t_start, time.time(), 100)["tank2.level"]
            assert len(series.t) > 0
            from app.core.journal import read_events

            second.core.journal.flush(timeout=5)
            writes = [e for e in read_events(second.core.data_dir / "journal") if e.kind == "setpoint.write"]
            assert [(e.actor, e.body["station"]) for e in writes] == [("olga", "ws1")]
        finally:
            second.stop()
    finally:
        first.stop()
