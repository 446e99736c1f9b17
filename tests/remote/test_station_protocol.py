"""The Vigil station protocol end to end: a workstation's actions over a real Mosquitto reach
the node's role-checked core and are journaled there with the operator and the station."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.core.alarms.types import AlarmQuery, AlarmState
from app.core.errors import VigilError
from app.core.users import AuthError
from app.station.interface import JournalFilter
from app.station.mqtt_link import make_client
from app.station.remote import protocol

from .conftest import GROUP, NODE, USERS, wait_until

ALARM = "station.test:SYSTEM"  # the node's id for its technical alarm "test"
SHOWN = f"{NODE}/{ALARM}"  # the station's: every node has its own "station.*" alarms


def raise_test_alarm(node) -> None:
    node.core.alarms.set_system_condition("test", True, message="test condition")


def test_login_acknowledge_shelve_note_are_journaled_on_the_node_with_operator_and_station(node, stations):
    ws = stations("ws1")
    raise_test_alarm(node)
    assert wait_until(lambda: any(a.id == SHOWN for a in ws.alarms()))
    session = ws.login("olga", USERS["olga"][0])
    assert session.user == "olga" and session.role.label == "operator"

    ws.acknowledge([SHOWN])
    assert wait_until(lambda: next(a for a in ws.alarms() if a.id == SHOWN).acked_by == "olga")
    ws.shelve(SHOWN, "maintenance on the test", time.time() + 600)
    assert wait_until(lambda: next(a for a in ws.alarms() if a.id == SHOWN).state is AlarmState.SHELVED)
    ws.note("pump 2 vibrating, watch it")

    logins = [e for e in node.journal("user.login") if e.actor == "olga"]
    assert logins and logins[-1].body["station"] == "ws1"
    remote = node.journal("action.remote")
    assert {(e.actor, e.body["permission"], e.body["station"]) for e in remote} >= {
        ("olga", "alarm.acknowledge", "ws1"), ("olga", "alarm.shelve", "ws1"),
        ("olga", "journal.note", "ws1")}
    assert any(e.actor == "olga" for e in node.journal("alarm.ack"))
    notes = node.journal("note")
    assert notes[-1].actor == "olga"
    assert notes[-1].body == {"text": "pump 2 vibrating, watch it", "station": "ws1"}
    # the node's own console was never logged in by any of this
    assert node.core.session is None


def test_setpoint_write_is_read_back_and_journaled_with_the_station(node, stations):
    ws = stations("ws1")
    ws.login("olga", USERS["olga"][0])
    result = ws.write_setpoint("tank", "valve_setpoint", 42.0)
    assert result.new == 42.0 and result.readback == pytest.approx(42.0)
    writes = node.journal("setpoint.write")
    assert writes[-1].actor == "olga" and writes[-1].body["station"] == "ws1"
    assert writes[-1].body["tag"] == "tank.valve_setpoint"
    assert writes[-1].body["readback"] == pytest.approx(42.0)


def test_a_viewer_may_not_write_and_the_refusal_is_journaled(node, stations):
    ws = stations("ws1")
    ws.login("vera", USERS["vera"][0])
    with pytest.raises(VigilError, match="viewer"):
        ws.write_setpoint("tank", "valve_setpoint", 10.0)
    refused = [e for e in node.journal("action.refused") if e.actor == "vera"]
    assert refused and refused[-1].body["permission"] == "setpoint.write"
    assert refused[-1].body["station"] == "ws1"
    assert not [e for e in node.journal("setpoint.write") if e.actor == "vera"]


def test_an_action_with_nobody_logged_in_is_refused(node, stations):
    ws = stations("ws1")
    with pytest.raises(AuthError):
        ws.write_setpoint("tank", "valve_setpoint", 10.0)
    assert node.journal("remote.refused")[-1].body["request"] == "write"


class RawClient:
    """A bare MQTT v5 client speaking the protocol by hand (forgeries, replays, garbage)."""

    def __init__(self, broker, station: str):
        self.station = station
        self.replies: dict[bytes, protocol.Reply] = {}
        self.c = make_client(broker, station)
        self.c.on_message = self._on_message
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.c.subscribe(protocol.Topics(GROUP, NODE).reply(station), qos=1)
        time.sleep(0.3)  # the subscription is in place before the first request

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self.replies[bytes(msg.properties.CorrelationData)] = protocol.parse_reply(msg.payload)

    def send(self, payload: bytes, *, station: str | None = None) -> protocol.Reply:
        corr = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = protocol.Topics(GROUP, NODE).reply(self.station)
        props.CorrelationData = corr
        self.c.publish(protocol.Topics(GROUP, NODE).request(station or self.station), payload, qos=1,
                       properties=props)
        assert wait_until(lambda: corr in self.replies, 10), "no reply"
        return self.replies[corr]

    def request(self, kind: str, args: dict, token: str = "") -> protocol.Reply:
        req = protocol.Request(v=protocol.PROTOCOL_VERSION, kind=kind, station=self.station, token=token,
                               args=args)
        return self.send(req.model_dump_json().encode())

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def raw(mosquitto):
    clients = []

    def make(station: str) -> RawClient:
        c = RawClient(mosquitto.config(), station)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


def test_forged_replayed_and_foreign_sessions_are_refused_and_journaled(node, raw):
    ws = raw("ws1")
    write = {"device": "tank", "point": "valve_setpoint", "value": 5.0}
    forged = ws.request("write", write, token="0" * 32)
    assert not forged.ok and forged.error_kind == "auth"

    login = ws.request("login", {"user": "olga", "password": USERS["olga"][0]})
    assert login.ok
    token = login.result["token"]
    assert ws.request("note", {"text": "first"}, token=token).ok
    # the same token from another station is refused: it was issued to ws1
    thief = raw("ws9")
    stolen = thief.request("note", {"text": "not mine"}, token=token)
    assert not stolen.ok and stolen.error_kind == "auth" and "another station" in stolen.error

    assert ws.request("logout", {}, token=token).ok
    replayed = ws.request("write", write, token=token)
    assert not replayed.ok and replayed.error_kind == "auth"

    refusals = node.journal("remote.refused")
    assert [e.body["request"] for e in refusals] == ["write", "note", "write"]
    assert [e.body["station"] for e in refusals] == ["ws1", "ws9", "ws1"]
    assert not node.journal("setpoint.write")
    assert [e.body["text"] for e in node.journal("note")] == ["first"]


def test_garbage_and_mismatched_requests_are_refused_with_a_reason(node, raw):
    ws = raw("ws1")
    garbage = ws.send(b"\xff not json")
    assert not garbage.ok and garbage.error_kind == "invalid"
    unknown = ws.request("format_disk", {})
    assert not unknown.ok and "unknown request kind" in unknown.error
    bad_args = ws.request("acknowledge", {"alarm_ids": "all"})
    assert not bad_args.ok and "alarm_ids" in bad_args.error
    old = ws.send(json.dumps({"v": 99, "kind": "alarms", "station": "ws1"}).encode())
    assert not old.ok and "version 99" in old.error
    assert len(node.journal("remote.refused")) == 4


def test_two_stations_see_each_others_acknowledgement_as_it_is_pushed(node, stations):
    ws1, ws2 = stations("ws1"), stations("ws2")
    raise_test_alarm(node)
    for ws in (ws1, ws2):
        assert wait_until(lambda ws=ws: any(a.id == SHOWN and a.state.needs_ack for a in ws.alarms()))
    seen: list[str] = []
    ws2.subscribe_alarms(lambda v: seen.append(v.acked_by) if v.id == SHOWN and v.acked_by else None)
    ws1.login("olga", USERS["olga"][0])
    ws1.acknowledge([SHOWN])
    # pushed to the other station's subscription as it happens, not found by asking again
    assert wait_until(lambda: seen), "the acknowledgement was not pushed to the other station"
    assert seen[0] == "olga"
    assert next(a for a in ws2.alarms() if a.id == SHOWN).acked_by == "olga"


def test_a_station_that_joins_late_shows_the_retained_alarm_states(node, stations):
    raise_test_alarm(node)
    assert wait_until(lambda: any(a.id == ALARM for a in node.core.alarms.alarms() if a.annunciating))
    time.sleep(0.5)  # published by the node before anyone listens
    late = stations("late")
    view = next(a for a in late.alarms() if a.id == SHOWN)  # at once: retained
    assert view.state is AlarmState.UNACK_ACTIVE and view.description
    # a settled alarm leaves nothing retained behind
    node.core.alarms.set_system_condition("test", False, message="test condition")
    node.core.login("olga", USERS["olga"][0])
    node.core.acknowledge([ALARM])
    assert wait_until(lambda: next(a for a in late.alarms() if a.id == SHOWN).state is AlarmState.NORMAL)
    later = stations("later")
    time.sleep(0.3)
    assert not any(a.id == SHOWN for a in later.alarms())


def test_history_journal_and_alarm_history_arrive_in_chunks(node, stations, monkeypatch):
    monkeypatch.setattr(protocol, "HISTORY_CHUNK", 3)
    monkeypatch.setattr(protocol, "JOURNAL_CHUNK", 2)
    ws = stations("ws1")
    t0 = time.time()
    assert wait_until(lambda: node.core.historian.flush(5.0) and len(
        node.core.historian.query(["tank.level"], t0 - 60, time.time() + 1)["tank.level"]) >= 7, 15)
    tags = ["tank.level", "pump.current"]
    local = node.core.historian.query(tags, t0 - 60, time.time() + 1, max_points=10_000)
    remote = ws.history(["tank.level", "pump.current"], t0 - 60, time.time() + 1, 10_000)
    for tag in ("tank.level", "pump.current"):
        n = min(len(local[tag]), len(remote[tag]))
        assert n >= 7
        assert list(remote[tag].t[:n]) == list(local[tag].t[:n])
        assert list(remote[tag].value[:n]) == pytest.approx(list(local[tag].value[:n]), nan_ok=True)
    events = ws.journal_events(JournalFilter(limit=50))
    assert len(events) > protocol.JOURNAL_CHUNK and events[0]["seq"] < events[-1]["seq"]
    assert ws.verify_journal().status == "intact"
    raise_test_alarm(node)
    assert wait_until(lambda: ws.alarm_history(AlarmQuery(alarm_id=SHOWN)), 5)


def test_learn_normal_preview_and_train_from_a_station_are_journaled(tmp_path, mosquitto, stations):
    from .conftest import Node, start_node_core

    n = Node(start_node_core(tmp_path / "fast", demo_interval_ms=100), mosquitto.config())
    try:
        ws = stations("ws1")
        t0 = time.time()
        assert wait_until(lambda: n.core.diagnostics()["pump"].state == "online", 10)
        time.sleep(4.0)
        t1 = time.time()
        assert n.core.historian.flush(10.0)
        ws.login("erin", USERS["erin"][0])
        preview = ws.preview_normal("pump", t0, t1)
        assert preview.group == "pump" and preview.rows > 0
        info = ws.train_detector("pump", t0, t1)
        assert info.group == "pump" and info.tags
        assert wait_until(lambda: any(g.group == "pump" for g in ws.detector_status()), 5)
        trained = n.journal("model.trained")
        assert trained and trained[-1].actor == "erin"
        assert any(e.body["permission"] == "detector.train" and e.body["station"] == "ws1"
                   for e in n.journal("action.remote"))
    finally:
        n.stop()


def test_one_login_acts_on_every_node_and_actions_go_to_the_node_that_owns_them(node, tmp_path, mosquitto,
                                                                                 stations):
    import re

    from app.sim.server import demo_plant_toml

    from .conftest import Node, start_node_core

    # a second plant area: the same simulator, its devices named pump2, meter2, tank2, vitals2
    port = node.core.simulator.port
    text = re.sub(r'name = "(pump|meter|tank|vitals)"', r'name = "\g<1>2"', demo_plant_toml(port))
    text = text.replace('name = "Demo plant"', 'name = "Area 2"')
    plant = tmp_path / "area2.toml"
    plant.write_text(text)
    other = Node(start_node_core(tmp_path / "node2", plant_path=plant), mosquitto.config(), "area2")
    try:
        ws = stations("ws1")
        assert {d.name for d in ws.plant.devices} == {"pump", "meter", "tank", "vitals",
                                                       "pump2", "meter2", "tank2", "vitals2"}
        assert "area1" in ws.plant.info.name and "area2" in ws.plant.info.name
        ws.login("olga", USERS["olga"][0])
        for n in (node, other):  # each node checked its own account and journaled the station
            assert [e.body.get("station") for e in n.journal("user.login") if e.actor == "olga"] == ["ws1"]
        assert ws.write_setpoint("tank2", "valve_setpoint", 21.0).readback == pytest.approx(21.0)
        assert [e.body["tag"] for e in other.journal("setpoint.write")] == ["tank2.valve_setpoint"]
        assert node.journal("setpoint.write") == []
        # the same technical alarm on both nodes shows twice, and an acknowledgement reaches one
        raise_test_alarm(node)
        other.core.alarms.set_system_condition("test", True, message="test condition")
        assert wait_until(lambda: {f"area1/{ALARM}", f"area2/{ALARM}"} <= {a.id for a in ws.alarms()})
        ws.acknowledge([f"area2/{ALARM}"])
        assert wait_until(lambda: next(a for a in ws.alarms() if a.id == f"area2/{ALARM}").acked_by == "olga")
        assert next(a for a in ws.alarms() if a.id == f"area1/{ALARM}").acked_by is None
        ws.logout()
        for n in (node, other):
            assert [e.body.get("station") for e in n.journal("user.logout") if e.actor == "olga"] == ["ws1"]
    finally:
        other.stop()


def test_a_display_opened_at_a_station_nobody_logged_in_at_is_journaled_with_the_station(node, stations):
    ws = stations("ward-3")
    assert ws.session is None
    ws.record_access("display_opened", "beds: vitals")
    [event] = node.journal("access.display_opened")
    assert event.actor == "anonymous"
    assert event.body == {"scope": "beds: vitals", "role": "viewer", "station": "ward-3"}
    # logged in, the operator and the station are recorded
    ws.login("vera", USERS["vera"][0])
    ws.record_access("display_opened", "beds: vitals")
    event = node.journal("access.display_opened")[-1]
    assert (event.actor, event.body["station"], event.body["role"]) == ("vera", "ward-3", "viewer")
    # the node still refuses an anonymous request for anything but a read or an access record
    ws.logout()
    with pytest.raises(AuthError, match="log in first"):
        ws._request(NODE, "note", {"text": "nobody here"}, token="")


def test_accounts_are_administered_from_a_station_role_checked_and_journaled_on_the_node(node, stations):
    from app.core.users import Role

    ws = stations("ws1")
    # an operator may not: refused by the node and journaled with the station
    ws.login("olga", USERS["olga"][0])
    with pytest.raises(VigilError, match=r"user\.manage"):
        ws.add_user("mallory", "mallory-password-1", Role.ADMINISTRATOR)
    with pytest.raises(VigilError, match=r"user\.manage"):
        ws.users()
    refused = [e for e in node.journal("action.refused") if e.actor == "olga"]
    assert {e.body["action"] for e in refused} >= {"user.add", "user.list"}
    assert all(e.body["station"] == "ws1" for e in refused)
    assert "mallory" not in {u["name"] for u in node.core.users.list()}
    # ... but changes her own password
    ws.set_user_password("olga", "olga-password-2")
    assert node.core.users.authenticate("olga", "olga-password-2").user == "olga"
    # an administrator adds, resets and disables, each change journaled by the node's user store
    ws.login("admin", USERS["admin"][0])
    ws.add_user("nina", "nina-password-1", Role.OPERATOR)
    assert ("nina", "operator", False) in {(u.name, u.role, u.disabled) for u in ws.users()}
    ws.set_user_password("nina", "nina-password-2")
    ws.set_user_disabled("nina", True)
    assert next(u for u in ws.users() if u.name == "nina").disabled
    with pytest.raises(AuthError):
        node.core.users.authenticate("nina", "nina-password-2")
    assert node.journal("user.added")[-1].actor == "admin"
    assert node.journal("user.added")[-1].body == {"user": "nina", "role": "operator"}
    assert [(e.actor, e.body["user"]) for e in node.journal("user.password_changed")] == [
        ("olga", "olga"), ("admin", "nina")]
    assert [(e.actor, e.body["user"]) for e in node.journal("user.disabled")] == [("admin", "nina")]
    remote = [(e.actor, e.body["action"], e.body.get("user"), e.body["station"])
              for e in node.journal("action.remote") if e.body.get("permission") == "user.manage"]
    assert remote == [("admin", "user.add", "nina", "ws1"), ("admin", "user.list", None, "ws1"),
                      ("admin", "user.passwd", "nina", "ws1"), ("admin", "user.disable", "nina", "ws1"),
                      ("admin", "user.list", None, "ws1")]
    assert "password" not in str([e.body for e in node.journal("action.remote")])
    # a station with nobody logged in is told so, and the node is not asked
    ws.logout()
    with pytest.raises(AuthError, match="nobody is logged in"):
        ws.set_user_disabled("nina", False)
