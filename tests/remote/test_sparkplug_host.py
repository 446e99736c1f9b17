"""The workstation as a Sparkplug B host: births build the tags, data by alias updates them,
deaths make them STALE, and a `seq` gap the reorder timeout does not fill asks for a rebirth.
A hand-driven edge node (sparkplug_fake.py) publishes through a real Mosquitto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.model import Quality
from app.core.sparkplug import sparkplug_b_pb2 as pb
from app.station.remote.station import RemoteStation

from .conftest import GROUP, wait_until
from .sparkplug_fake import FakeEdge

HERE = Path(__file__).resolve().parent


@pytest.fixture
def edge(mosquitto):
    e = FakeEdge(mosquitto.config(), GROUP, "fake1")
    yield e
    e.close()


def test_births_and_data_by_alias_become_samples_with_source_time_and_quality(edge, stations):
    t_birth = int(time.time() * 1000) - 5000
    edge.birth({"level": 41.5, "pump_run": True, "tag_label": "T-101"}, t_ms=t_birth)
    ws = stations("ws1")
    assert wait_until(lambda: "tank.level" in ws.latest())
    latest = ws.latest()
    assert latest["tank.level"].value == 41.5 and latest["tank.level"].quality is Quality.GOOD
    assert latest["tank.level"].t == pytest.approx(t_birth / 1000.0)  # the poll's time, not arrival
    assert latest["tank.pump_run"].value is True and latest["tank.tag_label"].value == "T-101"
    assert latest["tank.inflow"].quality is Quality.BAD_COMM and latest["tank.inflow"].value is None
    # the plant tree comes from the retained description: devices, units, ranges
    assert [d.name for d in ws.plant.devices] == ["pump", "meter", "tank", "vitals"]
    assert next(p for p in ws.plant.profiles["tank"].points if p.name == "level").unit == "%"

    ws.drain_samples()
    t_data = int(time.time() * 1000)
    edge.ddata({"level": 43.25}, t_ms=t_data)  # aliases only
    assert wait_until(lambda: ws.latest()["tank.level"].value == 43.25)
    drained = [s for s in ws.drain_samples() if s.tag == "tank.level"]
    assert drained[-1].t == pytest.approx(t_data / 1000.0) and drained[-1].quality is Quality.GOOD
    # one rebirth: the station joined after the birth; nothing missing since, so no other
    assert wait_until(lambda: len(edge.commands) >= 1)
    time.sleep(0.3)
    assert len(edge.commands) == 1


def test_a_device_death_marks_its_tags_stale_keeping_the_last_value(edge, stations):
    edge.birth({"level": 12.0})
    ws = stations("ws1")
    assert wait_until(lambda: "tank.level" in ws.latest())
    edge.ddeath()
    assert wait_until(lambda: ws.latest()["tank.level"].quality is Quality.STALE, 2.0)
    assert ws.latest()["tank.level"].value == 12.0


def test_a_seq_gap_not_filled_within_the_reorder_timeout_asks_for_a_rebirth(edge, mosquitto, stations):
    edge.birth({"level": 1.0})
    ws = stations("ws1", reorder_timeout_s=0.5)
    assert wait_until(lambda: "tank.level" in ws.latest())
    assert wait_until(lambda: len(edge.commands) == 1)  # joined late: asked for the births
    time.sleep(0.6)
    edge.ddata({"level": 2.0})
    time.sleep(0.8)
    assert len(edge.commands) == 1  # in sequence: no rebirth
    edge.ddata({"level": 3.0}, skip=1)  # one seq never sent
    assert wait_until(lambda: len(edge.commands) == 2, 3.0), "no rebirth request after a seq gap"
    cmd = pb.Payload()
    cmd.ParseFromString(edge.commands[1])
    assert [(m.name, m.boolean_value) for m in cmd.metrics] == [("Node Control/Rebirth", True)]
    assert ws.rebirths_sent == [f"spBv1.0/{GROUP}/NCMD/fake1"] * 2


def test_the_station_publishes_its_state_retained_with_offline_as_its_will(mosquitto, edge, tmp_path):
    from app.station.mqtt_link import make_client

    edge.birth({"level": 1.0})
    ws = RemoteStation(mosquitto.config(), GROUP, tmp_path / "ws", station_id="ws-state").connect(wait_s=10)
    seen: list[dict] = []
    probe = make_client(mosquitto.config(), "probe")
    probe.on_message = lambda c, u, msg: seen.append(json.loads(msg.payload)) if msg.payload else None
    probe.connect(mosquitto.host, mosquitto.port)
    probe.loop_start()
    try:
        probe.subscribe("spBv1.0/STATE/ws-state", qos=1)
        assert wait_until(lambda: seen)
        assert seen[-1]["online"] is True and isinstance(seen[-1]["timestamp"], int)
        ws.close()
        assert wait_until(lambda: seen[-1]["online"] is False)
    finally:
        probe.disconnect()
        probe.loop_stop()


def test_a_node_killed_with_sigkill_shows_stale_on_the_station_as_its_connection_drops(mosquitto, stations):
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sparkplug_fake.py"), str(mosquitto.port), GROUP, "doomed"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"born"
        ws = stations("ws1")
        assert wait_until(lambda: ws.latest().get("tank.level") and ws.latest()["tank.level"].value > 50.0)
        assert ws.latest()["tank.level"].quality is Quality.GOOD
        proc.send_signal(signal.SIGKILL)
        assert wait_until(lambda: ws.latest()["tank.level"].quality is Quality.STALE), \
            "the station still shows the dead node's value as good"
        assert ws.diagnostics()["tank"].state == "node offline"
        # and the alarm list does not read "no alarms": the station raises its own for the node
        lost = next(a for a in ws.alarms() if a.id == "doomed/station.node:COMM")
        assert lost.condition and lost.annunciating and lost.priority == "high"
        # at once: the death came when the broker saw the connection drop, not when the node's
        # keepalive ran out
        mosquitto.stop()  # it writes its log out as it stops
        log = mosquitto.log_path.read_text(errors="replace")
        assert "Client doomed-fake closed its connection" in log, log[-2000:]
        assert "exceeded timeout" not in log, log[-2000:]
    finally:
        proc.kill()
        proc.wait(10)


def test_an_action_on_an_offline_node_fails_at_once_with_its_name(mosquitto, stations):
    from app.core.errors import VigilError

    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sparkplug_fake.py"), str(mosquitto.port), GROUP, "gone"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(HERE.parents[1])},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"born"
        ws = stations("ws1")
        proc.send_signal(signal.SIGKILL)
        assert wait_until(lambda: ws.nodes().get("gone") is False, 5)
        # refused at the station, not sent and timed out (that error names the timeout instead)
        with pytest.raises(VigilError, match="node gone is offline"):
            ws.write_setpoint("tank", "valve_setpoint", 1.0)
        assert any(p.what == "gone" and "offline" in p.reason for p in ws.problems())
    finally:
        proc.kill()
        proc.wait(10)


def test_kpis_of_several_nodes_add_up_and_keep_the_worst_share():
    from app.station.remote.station import merge_kpis

    a = {"activations": 3, "time_in_flood_pct": 5.0, "top_bad_actors": [{"id": "x", "activations": 2}],
         "window_s": 86400.0}
    b = {"activations": 4, "time_in_flood_pct": 1.0, "top_bad_actors": [{"id": "y", "activations": 9}],
         "window_s": 86400.0}
    k = merge_kpis([a, b])
    assert k["activations"] == 7 and k["time_in_flood_pct"] == 5.0 and k["window_s"] == 86400.0
    assert [r["id"] for r in k["top_bad_actors"]] == ["y", "x"]
    assert merge_kpis([a]) is a
