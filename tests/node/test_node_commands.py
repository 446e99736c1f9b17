"""Sparkplug DCMD writes on a node, over a real Mosquitto: executed only with a live session
this node issued (role checked, journaled with the operator), once; a forged, replayed or
absent session and a viewer's write are refused and journaled; a foreign host is trusted only
where the plant file says so, and journaled as that host."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mqtt_support import MosquittoBroker

from app.core.journal import read_events
from app.core.sparkplug import MessageType, SpDataType
from app.core.sparkplug.commands import build_write_command
from app.core.users import Role
from app.sim.server import SimulatorThread, demo_plant_toml
from app.station.node import NodeService
from node.mqtt_probe import Probe
from node.sp_host import GROUP, HostView, start_node, wait_until, watch

DCMD_TANK = f"spBv1.0/{GROUP}/DCMD/area-1/tank"


def _setpoint_alias(probe: Probe) -> int:
    wait_until(lambda: bool(HostView.of(probe).of_type(MessageType.DBIRTH, "tank")), 15, "the tank's DBIRTH")
    birth = HostView.of(probe).of_type(MessageType.DBIRTH, "tank")[0].payload
    assert birth is not None
    metric = birth.by_name()["valve_setpoint"]
    assert metric.alias is not None and metric.datatype is SpDataType.Double
    return metric.alias


def _events(node: NodeService, kind: str) -> list:  # type: ignore[type-arg]
    node.core.journal.flush(timeout=5)
    return read_events(node.core.data_dir / "journal", kind=kind)


def _accounts(node: NodeService) -> dict[str, str]:
    users = node.core.users
    users.add(None, "ada", "admin-pass-1", Role.ADMINISTRATOR)
    ada = users.authenticate("ada", "admin-pass-1")
    users.add(ada, "olga", "operator-pass", Role.OPERATOR)
    users.add(ada, "vic", "viewer-pass-1", Role.VIEWER)
    return {name: users.authenticate(name, pw).token
            for name, pw in (("olga", "operator-pass"), ("vic", "viewer-pass-1"))}


def test_a_session_write_is_executed_once_and_everything_else_refused(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config())
        try:
            tokens = _accounts(node)
            alias = _setpoint_alias(probe)
            wait_until(lambda: node.core.runtime.diagnostics()["tank"].state == "online", 10, "tank online")
            good = build_write_command([(alias, SpDataType.Double, 37.5)], tokens["olga"])
            probe.publish(DCMD_TANK, good)
            wait_until(lambda: bool(_events(node, "setpoint.write")), 10, "the write journaled")
            # the read-back reaches the hosts as DDATA of the setpoint
            wait_until(lambda: any(m.alias == alias and m.value == pytest.approx(37.5)
                                   for d in HostView.of(probe).of_type(MessageType.DDATA, "tank")
                                   for m in (d.payload.metrics if d.payload else ())), 10, "the read-back")
            refused_before = len(_events(node, "action.refused"))
            probe.publish(DCMD_TANK, good)  # the same command again: a replay
            probe.publish(DCMD_TANK, build_write_command([(alias, SpDataType.Double, 11.0)], "f" * 43))
            probe.publish(DCMD_TANK, build_write_command([(alias, SpDataType.Double, 12.0)], None))
            probe.publish(DCMD_TANK, build_write_command([(alias, SpDataType.Double, 13.0)], tokens["vic"]))
            stale = build_write_command([(alias, SpDataType.Double, 14.0)], tokens["olga"],
                                        now=time.time() - 3600)
            probe.publish(DCMD_TANK, stale)
            probe.publish(DCMD_TANK, b"\x00garbage")
            wait_until(lambda: len(_events(node, "action.refused")) >= refused_before + 6, 10,
                       "six refusals journaled")
            time.sleep(0.5)  # anything wrongly executed would be journaled by now
            writes = _events(node, "setpoint.write")
            refused = _events(node, "action.refused")
        finally:
            node.stop()
    assert [(w.actor, w.body["tag"], w.body["new"]) for w in writes] == [
        ("olga", "tank.valve_setpoint", 37.5)]
    assert writes[0].body["readback"] == pytest.approx(37.5)
    mine = [e for e in refused if e.body.get("via") == "sparkplug DCMD"]
    reasons = " | ".join(e.body["reason"] for e in mine)
    assert "replayed" in reasons
    assert "not a session issued" in reasons  # the forged token
    assert "no Vigil session" in reasons
    assert "from the node's clock" in reasons  # the hour-old command
    assert "not a Sparkplug B payload" in reasons
    viewer = [e for e in refused if e.actor == "vic"]
    assert viewer and viewer[0].body["permission"] == "setpoint.write" and viewer[0].body["role"] == "viewer"


def test_a_trusted_foreign_host_writes_as_itself(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    sim = SimulatorThread(seed=1)
    port = sim.start()
    try:
        plant = tmp_path / "plant.toml"
        plant.write_text(demo_plant_toml(port) + '\n[node]\naccept_foreign_writes_as = "ignition-gw"\n')
        with watch(mosquitto.config()) as probe:
            node = start_node(tmp_path, mosquitto.config(), plant_path=plant)
            try:
                assert node.core.plant.node.accept_foreign_writes_as == "ignition-gw"
                alias = _setpoint_alias(probe)
                wait_until(lambda: node.core.runtime.diagnostics()["tank"].state == "online", 10,
                           "tank online")
                probe.publish(DCMD_TANK, build_write_command([(alias, SpDataType.Double, 22.5)], None))
                wait_until(lambda: bool(_events(node, "setpoint.write")), 10, "the write journaled")
                writes = _events(node, "setpoint.write")
            finally:
                node.stop()
    finally:
        sim.stop()
    assert len(writes) == 1
    w = writes[0]
    assert (w.actor, w.body["tag"], w.body["new"], w.body["via"]) == (
        "ignition-gw", "tank.valve_setpoint", 22.5, "sparkplug DCMD")
    assert w.body["readback"] == pytest.approx(22.5)


def test_the_node_table_of_a_plant_file_is_checked(tmp_path: Path) -> None:
    from app.core.errors import ConfigError
    from app.core.plant import parse_plant
    from app.core.profiles import ProfileLibrary

    library = ProfileLibrary()
    library.add_folder(Path(__file__).resolve().parents[2] / "device_profiles")
    base = demo_plant_toml(5020)
    assert parse_plant(base.encode(), "p.toml", library).node.accept_foreign_writes_as is None
    with pytest.raises(ConfigError, match=r"node.accept_foreign_writes_as"):
        parse_plant((base + '\n[node]\naccept_foreign_writes_as = "a host"\n').encode(), "p.toml", library)
    with pytest.raises(ConfigError, match=r"node.trust_everyone.*unknown field"):
        parse_plant((base + "\n[node]\ntrust_everyone = true\n").encode(), "p.toml", library)
