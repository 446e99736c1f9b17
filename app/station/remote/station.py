"""`RemoteStation`: the workstation attached to Vigil nodes through an MQTT broker.

The same `Station` interface as `LocalStation`, so the window cannot tell the difference, but
nothing runs here except the screen: values come from the nodes' Sparkplug B births and data
(`SparkplugHost`), alarm states and the plant description from the nodes' retained topics,
and every action, history or journal query is a request of the Vigil station protocol
(`protocol.py`) that the owning node checks, executes and journals.

It is a Sparkplug host application: it publishes its retained ``spBv1.0/STATE/<station id>``
(``{"online": true, ...}``; the Will says offline) and asks for rebirths. One log-in is sent
to every node of the group and each node checks its own accounts; the session each node
issues is used for requests to that node only. Closing the station stops nothing on a node.

Live values are published by exception (a constant value is not re-sent every poll), so age
alone says nothing here: a value goes STALE when its node or device dies (NDEATH/DDEATH, the
node's status Will) or when the node itself reports it so, never because it did not change.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from app.core.alarms.types import AlarmQuery, AlarmState, AlarmView
from app.core.detection import GroupStatus, ModelInfo
from app.core.detection.candidate import CandidateReport
from app.core.diagnostics import DeviceDiagnostics
from app.core.errors import VigilError
from app.core.historian import Series
from app.core.journal import VerifyResult
from app.core.model import Sample, Value
from app.core.plant import Plant
from app.core.runtime import WriteResult
from app.core.staleness import StaleRule
from app.core.users import AuthError, Role, Session
from app.station.interface import ConfigProblem, JournalFilter, PluginRow, UserRow
from app.station.mqtt_link import BrokerConfig, make_client

from . import protocol as p
from . import wire
from .sparkplug_host import SparkplugHost

log = logging.getLogger(__name__)

#: samples kept for the window between drains (the latest per tag is always kept)
BUFFER = 200_000
#: alarm ids a node gives its own technical alarms; shown as ``<node>/<id>``
STATION_ALARMS = "station."
#: this station's alarm for a node it cannot reach, shown as ``<node>/station.node:COMM``
NODE_ALARM = "station.node:COMM"


class RemoteError(VigilError):
    """A node refused or failed a request; ``kind`` is the protocol's error kind."""

    def __init__(self, message: str, kind: str = "error"):
        super().__init__(message)
        self.kind = kind


class RemoteAuthError(AuthError):
    """A node refused the session or the log-in."""


@dataclass
class _Node:
    name: str
    plant: Plant | None = None
    #: the plant as the node published it, to tell a re-published plant from a changed one
    plant_json: Any = None
    status: dict[str, Any] = field(default_factory=dict)
    online: bool = False
    session: Session | None = None


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    chunks: list[Any] = field(default_factory=list)
    reply: p.Reply | None = None
    last_seen: float = field(default_factory=time.monotonic)


def default_station_id() -> str:
    """A host id that is the same for this machine and user across restarts (the Sparkplug
    STATE topic is keyed by it), and valid as one MQTT topic level."""
    host = "".join(c if c.isalnum() or c in "-_." else "-" for c in socket.gethostname())[:40]
    return f"vigil-{host or 'station'}"


class RemoteStation:
    """`Station` over the nodes of one Sparkplug group, reached through a broker."""

    def __init__(
        self,
        broker: BrokerConfig,
        group: str,
        data_dir: Path,
        *,
        station_id: str | None = None,
        request_timeout_s: float = 15.0,
        reorder_timeout_s: float = 2.0,
    ):
        self.broker = broker
        self.group = group
        self.station_id = station_id or default_station_id()
        self._data_dir = Path(data_dir)
        self.request_timeout_s = request_timeout_s
        self._nodes: dict[str, _Node] = {}
        self._lock = threading.RLock()
        self._buffer: deque[Sample] = deque()
        self._dropped = 0
        self._latest: dict[str, Sample] = {}
        self._alarms: dict[str, AlarmView] = {}
        #: alarm id as the window sees it -> (node, the node's own id for it)
        self._alarm_node: dict[str, tuple[str, str]] = {}
        self._subscribers: list[Callable[[AlarmView], None]] = []
        self._pending: dict[bytes, _Pending] = {}
        self._plant: Plant | None = None
        self._session: Session | None = None
        self._connected = threading.Event()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.host = SparkplugHost(group, self._on_samples, self._publish_raw,
                                  reorder_timeout_s=reorder_timeout_s, on_node=self._on_node)
        self.rebirths_sent: list[str] = []
        #: how often `plant` was replaced after connect() (a node joined or changed its plant;
        #: a node publishing the same plant again, as at every reconnection, is no change)
        self.plant_changes = 0
        self._client = make_client(broker, self.station_id)
        self._client.will_set(self.state_topic, self._state(False), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = lambda *a: self._connected.clear()
        self._client.on_message = self._on_message
        self._client.on_connect_fail = lambda *a: self._broker_problem("cannot reach the broker")
        #: why the broker did not let this station in, if it did not (said when connect() fails)
        self.broker_problem = ""

    # ------------------------------------------------------------------ life
    @property
    def state_topic(self) -> str:
        return f"spBv1.0/STATE/{self.station_id}"

    def _state(self, online: bool) -> bytes:
        return json.dumps({"online": online, "timestamp": int(time.time() * 1000)}).encode()

    def connect(self, wait_s: float = 10.0, settle_s: float = 0.5) -> RemoteStation:
        """Connect and wait for the nodes' retained plant descriptions; `plant` is every node
        that answered by then, and grows when another node of the group starts later."""
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=5)
        self._client.loop_start()
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with self._lock:
                if any(n.plant is not None for n in self._nodes.values()):
                    break
            time.sleep(0.02)
        else:
            self.close()
            why = self.broker_problem or "is a node of that group running?"
            raise VigilError(f"no Vigil node of group '{self.group}' found on {self.broker.describe()} "
                             f"within {wait_s:.0f} s ({why})")
        time.sleep(settle_s)  # the other nodes' retained plants arrive together
        with self._lock:
            self._plant = self._merged_plant()
            known = [n.name for n in self._nodes.values() if n.plant is not None]
        for node in known:  # a host that joins late asks every node it has not seen born
            self.host.request_birth(node)
        self._ticker = threading.Thread(target=self._tick, name="vigil-remote-tick", daemon=True)
        self._ticker.start()
        return self

    def close(self) -> None:
        """Say offline (retained STATE) and disconnect. Nothing on any node stops. Requests
        still waiting are answered "closed" at once."""
        self._stop.set()
        with self._lock:
            waiting = list(self._pending.values())
        for pending in waiting:
            pending.reply = p.Reply(ok=False, error="the station was closed", error_kind="error")
            pending.done.set()
        if self._connected.is_set():
            info = self._client.publish(self.state_topic, self._state(False), qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                log.warning("remote station: offline STATE not confirmed by the broker")
        self._client.disconnect()
        self._client.loop_stop()
        if self._ticker is not None:
            self._ticker.join(2.0)

    def _broker_problem(self, text: str) -> None:
        self.broker_problem = text
        log.info("remote station: %s (%s)", text, self.broker.describe())

    def _tick(self) -> None:
        while not self._stop.wait(0.2):
            self.host.tick()

    # ------------------------------------------------------------------ MQTT input
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if getattr(reason, "is_failure", False):
            self._broker_problem(f"the broker refused the connection: {reason}")
            return
        self.broker_problem = ""
        client.publish(self.state_topic, self._state(True), qos=1, retain=True)
        g = self.group
        client.subscribe([
            (f"spBv1.0/{g}/#", 0),
            (f"vigil/{g}/+/plant", 1),
            (f"vigil/{g}/+/status", 1),
            (f"vigil/{g}/+/alarm/#", 1),
            (f"vigil/{g}/+/reply/{self.station_id}", 1),
        ])
        self._connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            if msg.topic.startswith("spBv1.0/"):
                self.host.on_message(msg.topic, bytes(msg.payload))
                return
            parsed = p.parse_topic(msg.topic)
            if parsed is None or parsed[0] != self.group:
                return
            _, node, what, _rest = parsed
            if what == "reply":
                self._on_reply(msg)
            elif what == "alarm":
                self._on_alarm(node, bytes(msg.payload))
            elif what == "plant":
                self._on_plant(node, bytes(msg.payload))
            elif what == "status":
                self._on_status(node, bytes(msg.payload))
        except Exception:  # a hostile or broken message must not stop the network thread
            log.exception("remote station: message on %s ignored", msg.topic)

    def _merged_plant(self) -> Plant:
        """The window's plant: every node's that this station has, by node name (lock held)."""
        born = sorted((name, n.plant) for name, n in self._nodes.items() if n.plant is not None)
        where = f"{'node' if len(born) == 1 else 'nodes'} {', '.join(x[0] for x in born)} " \
                f"via {self.broker.describe()}"
        return wire.merge_plants([x[1] for x in born], where)

    def _on_plant(self, node: str, payload: bytes) -> None:
        """A node's plant (retained). After `connect`, a node that starts later, or comes back
        with another plant, joins the station's plant here: its values arrive from its births,
        its alarms and status from their topics, and requests reach it, with no reconnect."""
        if not payload:
            return
        described = json.loads(payload)
        with self._lock:
            known = self._nodes.get(node)
            if known is not None and known.plant is not None and known.plant_json == described:
                return  # the same plant again (the node reconnected): nothing to rebuild
        plant = wire.plant_from_json(described)
        with self._lock:
            n = self._nodes.setdefault(node, _Node(node))
            joined = n.plant is None
            n.plant = plant
            n.plant_json = described
            if self._plant is not None:
                self._plant = self._merged_plant()
                self.plant_changes += 1
        if joined and self._plant is not None:
            log.info("remote station: node %s joined group %s (%d devices)", node, self.group,
                     len(plant.devices))

    def _on_status(self, node: str, payload: bytes) -> None:
        if not payload:
            return
        status = json.loads(payload)
        with self._lock:
            n = self._nodes.setdefault(node, _Node(node))
            n.status = status if isinstance(status, dict) else {}
            n.online = bool(n.status.get("online"))
        self._node_alarm(node, n.online)

    def _on_node(self, node: str, online: bool) -> None:
        with self._lock:
            n = self._nodes.setdefault(node, _Node(node))
            if not online:
                n.online = False
        if not online:
            self._node_alarm(node, False)

    def _node_alarm(self, node: str, online: bool) -> None:
        """This station's own alarm for a node it cannot see: while it is active, the node's
        values and alarm states on this screen are only the last ones known, and the alarm list
        must not read "no alarms" because of that. Raised and cleared here, never on a node
        (there is nobody there to journal it); it needs no acknowledgement."""
        alarm_id = f"{node}/{NODE_ALARM}"
        with self._lock:
            previous = self._alarms.get(alarm_id)
            if online and previous is None:
                return
            if previous is not None and previous.condition == (not online):
                return
            now = time.time()
            view = AlarmView(
                id=alarm_id, kind="COMM", priority="high",
                state=AlarmState.NORMAL if online else AlarmState.ACK_ACTIVE,
                condition=not online, source=node, device="",
                description=f"node {node} not reachable: its values and alarms here are the last known",
                unit="", value="node offline" if not online else None, limit=None,
                activated_at=None if online else now, last_change=now,
                first_out=None if online else now,
            )
            self._alarms[alarm_id] = view
            subscribers = list(self._subscribers)
        for cb in subscribers:
            cb(view)

    def _on_alarm(self, node: str, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained state: the live view was sent just before it
        view = wire.alarm_from_json(json.loads(payload))
        own_id = view.id
        if own_id.startswith(STATION_ALARMS):
            # every node has its own technical alarms under the same ids (station.disk:SYSTEM)
            view = dataclasses.replace(view, id=f"{node}/{own_id}", source=f"{node}/{view.source}")
        with self._lock:
            self._alarms[view.id] = view
            self._alarm_node[view.id] = (node, own_id)
            subscribers = list(self._subscribers)
        for cb in subscribers:
            cb(view)

    def _on_samples(self, samples: list[Sample]) -> None:
        with self._lock:
            for s in samples:
                self._latest[s.tag] = s
            self._buffer.extend(samples)
            extra = len(self._buffer) - BUFFER
            for _ in range(max(0, extra)):
                self._buffer.popleft()
                self._dropped += 1

    def _publish_raw(self, topic: str, payload: bytes) -> None:
        self.rebirths_sent.append(topic)
        self._client.publish(topic, payload, qos=0)

    # ------------------------------------------------------------------ requests
    def _on_reply(self, msg: mqtt.MQTTMessage) -> None:
        corr = getattr(getattr(msg, "properties", None), "CorrelationData", None)
        with self._lock:
            pending = self._pending.get(bytes(corr)) if corr else None
        if pending is None:
            return
        reply = p.parse_reply(bytes(msg.payload))
        pending.last_seen = time.monotonic()
        if not reply.ok or reply.last:
            if reply.ok and reply.result is not None:
                pending.chunks.append(reply.result)
            pending.reply = reply
            pending.done.set()
        else:
            pending.chunks.append(reply.result)

    def _request(self, node: str, kind: str, args: dict[str, Any] | None = None,
                 *, token: str | None = None, stream: bool = False) -> Any:
        """Send one request to ``node`` and wait for its answer (every chunk of a stream);
        the timeout runs from the last message received, so a long stream is not cut."""
        if self._stop.is_set():
            raise VigilError(f"the station is closed; '{kind}' was not sent")
        if not self._connected.is_set():
            raise VigilError(f"not connected to the broker ({self.broker.describe()}); "
                             f"'{kind}' was not sent to node {node}")
        with self._lock:
            n = self._nodes.get(node)
            if n is not None and n.status and not n.online:
                # say so at once instead of making the operator wait for a timeout
                raise VigilError(f"node {node} is offline; '{kind}' was not sent")
            if token is None:
                token = n.session.token if n is not None and n.session is not None else ""
        corr = uuid.uuid4().bytes
        pending = _Pending()
        topics = p.Topics(self.group, node)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = topics.reply(self.station_id)
        props.CorrelationData = corr
        req = p.Request(v=p.PROTOCOL_VERSION, kind=kind, station=self.station_id, token=token,
                        args=args or {})
        with self._lock:
            self._pending[corr] = pending
        try:
            self._client.publish(topics.request(self.station_id), req.model_dump_json().encode(), qos=1,
                                 properties=props)
            while not pending.done.wait(0.05):
                if time.monotonic() - pending.last_seen > self.request_timeout_s:
                    raise VigilError(f"node {node} did not answer '{kind}' within "
                                     f"{self.request_timeout_s:.0f} s")
        finally:
            with self._lock:
                self._pending.pop(corr, None)
        reply = pending.reply
        assert reply is not None
        if not reply.ok:
            if reply.error_kind == "auth":
                raise RemoteAuthError(f"node {node}: {reply.error}")
            raise RemoteError(f"node {node}: {reply.error}", reply.error_kind)
        return pending.chunks if stream else reply.result

    def _node_names(self) -> list[str]:
        with self._lock:
            return sorted(n.name for n in self._nodes.values() if n.plant is not None)

    def _node_of_device(self, device: str) -> str:
        with self._lock:
            for n in self._nodes.values():
                if n.plant is not None and any(d.name == device for d in n.plant.devices):
                    return n.name
        raise VigilError(f"no node of group '{self.group}' has a device '{device}'")

    def _node_of_alarm(self, alarm_id: str) -> tuple[str, str]:
        """(node, the node's id for the alarm) of an alarm as the window names it."""
        if alarm_id.endswith(f"/{NODE_ALARM}"):
            raise VigilError(f"{alarm_id}: this station's own alarm; it clears when the node is back")
        with self._lock:
            known = self._alarm_node.get(alarm_id)
        if known is not None:
            return known
        return self._node_of_device(alarm_id.split(":", 1)[0].split(".", 1)[0]), alarm_id

    def _node_of_group(self, group: str) -> str:
        with self._lock:
            for n in self._nodes.values():
                if any(d.get("group") == group for d in n.status.get("detectors", [])):
                    return n.name
        return self._node_of_device(group)  # a group not trained yet is named after its device

    def _each_logged_in(self, kind: str, args: dict[str, Any]) -> None:
        """Send an action to every node this station is logged in at; refused if none."""
        with self._lock:
            nodes = [n.name for n in self._nodes.values() if n.session is not None]
        if not nodes:
            raise RemoteAuthError(f"{kind}: nobody is logged in at this station")
        for node in nodes:
            self._request(node, kind, args)

    # ------------------------------------------------------------------ configuration
    @property
    def plant(self) -> Plant:
        if self._plant is None:
            raise VigilError("not connected: call connect() first")
        return self._plant

    @property
    def plant_version(self) -> int:
        """Grows each time `plant` is replaced: a node joined the group or changed its plant."""
        return self.plant_changes

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    def stale_rule(self) -> StaleRule:
        # by exception: an unchanged value is not re-sent, so no age limit (see the module doc)
        return StaleRule({})

    @property
    def embedded(self) -> bool:
        return False

    def display_folders(self) -> list[tuple[str, Path]]:
        """None: the nodes' plugins are not installed on this machine, so only the built-in
        displays (and the generated overview) are offered on a connected station."""
        return []

    def nodes(self) -> dict[str, bool]:
        """Each node of the group this station knows, and whether it is online."""
        with self._lock:
            return {n.name: n.online for n in self._nodes.values()}

    # ------------------------------------------------------------------ live data
    def drain_samples(self) -> list[Sample]:
        with self._lock:
            out = list(self._buffer)
            self._buffer.clear()
        return out

    def samples_dropped(self) -> int:
        return self._dropped

    def latest(self) -> dict[str, Sample]:
        with self._lock:
            return dict(self._latest)

    def diagnostics(self) -> dict[str, DeviceDiagnostics]:
        out: dict[str, DeviceDiagnostics] = {}
        with self._lock:
            nodes = list(self._nodes.values())
        for n in nodes:
            for name, d in (n.status.get("diagnostics") or {}).items():
                diag = wire.diagnostics_from_json(d)
                if not n.online:
                    diag.state = "node offline"
                out[name] = diag
            if n.plant is not None:
                for dev in n.plant.devices:
                    if dev.name not in out:
                        state = "node offline" if not n.online else "connecting"
                        out[dev.name] = DeviceDiagnostics(dev.name, state)
        return out

    def alarms(self) -> list[AlarmView]:
        with self._lock:
            return list(self._alarms.values())

    def subscribe_alarms(self, callback: Callable[[AlarmView], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def in_flood(self) -> bool:
        with self._lock:
            return any(bool(n.status.get("in_flood")) for n in self._nodes.values() if n.online)

    def detector_status(self) -> list[GroupStatus]:
        with self._lock:
            rows = [g for n in self._nodes.values() for g in n.status.get("detectors", [])]
        return [wire.group_from_json(g) for g in rows]

    # ------------------------------------------------------------------ history and journal
    def history(self, tags: Sequence[str], t0: float, t1: float, max_points: int) -> dict[str, Series]:
        by_node: dict[str, list[str]] = {}
        for tag in tags:
            by_node.setdefault(self._node_of_device(tag.split(".", 1)[0]), []).append(tag)
        builder = wire.SeriesBuilder()
        for node, node_tags in by_node.items():
            args = {"tags": node_tags, "t0": t0, "t1": t1, "max_points": max_points}
            for chunk in self._request(node, "history", args, stream=True):
                builder.add(chunk)
        return builder.result()

    def alarm_history(self, query: AlarmQuery) -> list[dict[str, Any]]:
        args = {k: getattr(query, k) for k in p.AlarmHistoryArgs.model_fields}
        args["kinds"] = list(query.kinds)
        if query.alarm_id is not None and query.alarm_id in self._alarm_node:
            args["alarm_id"] = self._alarm_node[query.alarm_id][1]
        rows = [r for node in self._node_names()
                for chunk in self._request(node, "alarm_history", args, stream=True) for r in chunk]
        if len(self._node_names()) > 1:
            rows.sort(key=lambda r: float(r.get("ts") or r.get("t") or 0.0))
        return rows

    def journal_events(self, query: JournalFilter) -> list[dict[str, Any]]:
        args = {"kind": query.kind, "actor": query.actor, "text": query.text, "limit": query.limit}
        names = self._node_names()
        out = []
        for node in names:
            for chunk in self._request(node, "journal", args, stream=True):
                for e in chunk:
                    if len(names) > 1:
                        e["node"] = node
                    out.append(e)
        if len(names) > 1:
            out.sort(key=lambda e: float(e.get("ts") or 0.0))
        return out[-query.limit:]

    def verify_journal(self) -> VerifyResult:
        results = [(node, wire.verify_from_json(self._request(node, "verify")))
                   for node in self._node_names()]
        bad = [(n, r) for n, r in results if r.status != "intact"]
        if len(results) == 1:
            return results[0][1]
        if bad:
            node, r = bad[0]
            r.message = f"node {node}: {r.message}"
            return r
        first = results[0][1]
        first.events = sum(r.events for _, r in results)
        first.sealed = sum(r.sealed for _, r in results)
        first.unsealed = sum(r.unsealed for _, r in results)
        first.message = f"{len(results)} node journals intact"
        return first

    def export_journal_head(self) -> dict[str, Any]:
        heads = {node: self._request(node, "journal_head") for node in self._node_names()}
        if len(heads) == 1:
            return dict(next(iter(heads.values())))
        return {"nodes": heads}

    # ------------------------------------------------------------------ actions (the node checks)
    def acknowledge(self, alarm_ids: Sequence[str]) -> None:
        by_node: dict[str, list[str]] = {}
        for a in alarm_ids:
            if a.endswith(f"/{NODE_ALARM}"):
                continue  # this station's own, needs no acknowledgement ("acknowledge page")
            node, own_id = self._node_of_alarm(a)
            by_node.setdefault(node, []).append(own_id)
        for node, ids in by_node.items():
            self._request(node, "acknowledge", {"alarm_ids": ids})

    def shelve(self, alarm_id: str, reason: str, until_ts: float) -> None:
        node, own_id = self._node_of_alarm(alarm_id)
        self._request(node, "shelve", {"alarm_id": own_id, "reason": reason, "until_ts": until_ts})

    def unshelve(self, alarm_id: str) -> None:
        node, own_id = self._node_of_alarm(alarm_id)
        self._request(node, "unshelve", {"alarm_id": own_id})

    def set_out_of_service(self, alarm_id: str, on: bool, reason: str) -> None:
        node, own_id = self._node_of_alarm(alarm_id)
        self._request(node, "out_of_service", {"alarm_id": own_id, "on": on, "reason": reason})

    def write_setpoint(self, device: str, point: str, value: Value) -> WriteResult:
        if value is None:
            raise VigilError(f"{device}.{point}: no value to write")
        result = self._request(self._node_of_device(device), "write",
                               {"device": device, "point": point, "value": value})
        return wire.write_from_json(result)

    def note(self, text: str) -> None:
        self._each_logged_in("note", {"text": text})

    def record_access(self, kind: str, scope: str) -> None:
        """Journaled on every node of the group: as the operator where one is logged in, else
        as ``anonymous`` at this station (the Sparkplug data reaches a station without a log-in,
        so an access is recorded whoever looks)."""
        args = {"kind": kind, "scope": scope}
        failed = []
        for node in self._node_names():  # one node away must not keep the others from recording
            try:
                self._request(node, "record_access", args)
            except VigilError as e:
                failed.append(str(e))
        if failed:
            raise VigilError(f"{kind} not recorded: {'; '.join(failed)}")

    def record_console_setting(self, name: str, value: float) -> None:
        with self._lock:
            nodes = [n.name for n in self._nodes.values() if n.session is not None]
        for node in nodes:  # nobody logged in: nothing of this console to attribute yet
            self._request(node, "console_setting", {"name": name, "value": value})

    def silence(self, sounding: Sequence[str], until_ts: float, *, audio: str) -> None:
        self._each_logged_in("silence", {"sounding": list(sounding), "until_ts": until_ts, "audio": audio})

    def set_off_delay(self, alarm_id: str, seconds: float) -> None:
        node, own_id = self._node_of_alarm(alarm_id)
        self._request(node, "off_delay", {"alarm_id": own_id, "seconds": seconds})

    def authorize_close(self) -> str:
        """Closing a connected station stops nothing on a node: anyone may close it."""
        s = self._session
        return s.user if s is not None else "nobody logged in"

    def alarm_kpis(self) -> dict[str, Any]:
        return merge_kpis([dict(self._request(node, "kpis")) for node in self._node_names()])

    def preview_normal(self, group: str, t0: float, t1: float) -> CandidateReport:
        args = {"group": group, "t0": t0, "t1": t1}
        return wire.candidate_from_json(self._request(self._node_of_group(group), "preview_normal", args))

    def train_detector(self, group: str, t0: float, t1: float) -> ModelInfo:
        args = {"group": group, "t0": t0, "t1": t1}
        return wire.model_info_from_json(self._request(self._node_of_group(group), "learn_normal", args))

    # ------------------------------------------------------------------ sessions and accounts
    @property
    def session(self) -> Session | None:
        return self._session

    def login(self, name: str, password: str) -> Session:
        """Log in at every node of the group; each checks its own accounts. Refused when no
        node accepts; a node that refuses stays view-only for this station."""
        accepted: list[Session] = []
        errors: list[str] = []
        for node in self._node_names():
            try:
                result = self._request(node, "login", {"user": name, "password": password}, token="")
            except (RemoteAuthError, RemoteError, VigilError) as e:
                errors.append(str(e))
                with self._lock:
                    self._nodes[node].session = None
                continue
            s = wire.session_from_json(result)
            accepted.append(s)
            with self._lock:
                previous = self._nodes[node].session
                self._nodes[node].session = s
            if previous is not None and previous.token != s.token:
                self._quietly_logout(node, previous.token, f"switch user to {name}")
        if not accepted:
            self._session = None
            raise RemoteAuthError(errors[0] if errors else "login refused: no node to log in at")
        # the weakest role any node granted: the screen never offers more than every node allows
        role = min((s.role for s in accepted), key=int)
        self._session = Session(name, Role(role), accepted[0].since, accepted[0].token, self.station_id)
        return self._session

    def _quietly_logout(self, node: str, token: str, reason: str) -> None:
        try:
            self._request(node, "logout", {"reason": reason}, token=token)
        except VigilError as e:
            log.warning("remote station: logout at node %s failed: %s", node, e)

    def logout(self, reason: str = "logout") -> None:
        with self._lock:
            sessions = [(n.name, n.session) for n in self._nodes.values() if n.session is not None]
            for n in self._nodes.values():
                n.session = None
        self._session = None
        for node, s in sessions:
            assert s is not None
            self._quietly_logout(node, s.token, reason)

    def has_accounts(self) -> bool:
        with self._lock:
            return any(n.status.get("has_accounts", True) for n in self._nodes.values())

    def create_administrator(self, name: str, password: str) -> Session:
        raise VigilError("the first administrator is created on the node "
                         "(vigil users add NAME --role administrator --data-dir <node data>)")

    def _logged_in_nodes(self, what: str) -> list[str]:
        with self._lock:
            nodes = sorted(n.name for n in self._nodes.values() if n.session is not None)
        if not nodes:
            raise RemoteAuthError(f"{what}: nobody is logged in at this station")
        return nodes

    def users(self) -> list[UserRow]:
        """The accounts of every node this station is logged in at (each node checks that the
        session is an administrator's). An account that differs between nodes shows each
        node's role, and counts as disabled or locked if it is so on any of them."""
        by_name: dict[str, list[tuple[str, UserRow]]] = {}
        nodes, errors = [], []
        for node in self._logged_in_nodes("list accounts"):
            try:
                rows = self._request(node, "users")
            except VigilError as e:  # the others' accounts are still worth showing
                errors.append(e)
                continue
            nodes.append(node)
            for row in rows:
                u = wire.user_from_json(row)
                by_name.setdefault(u.name, []).append((node, u))
        if errors and not nodes:
            raise errors[0]
        for error in errors:
            log.warning("remote station: accounts not listed: %s", error)
        out = []
        for name, rows in sorted(by_name.items()):
            same = len(rows) == len(nodes) and len({u.role for _, u in rows}) == 1
            role = rows[0][1].role if same else ", ".join(f"{node}: {u.role}" for node, u in rows)
            out.append(UserRow(name, role, any(u.disabled for _, u in rows), any(u.locked for _, u in rows),
                               min(u.created for _, u in rows)))
        return out

    def _on_every_node(self, what: str, kind: str, args: dict[str, Any]) -> None:
        """An account change on every node this station is logged in at (accounts are each
        node's own); all are tried, and one that refuses is named with what the others did."""
        done, failed = [], []
        for node in self._logged_in_nodes(what):
            try:
                self._request(node, kind, args)
                done.append(node)
            except VigilError as e:
                failed.append((e, str(e)))
        if failed:
            text = "; ".join(t for _, t in failed)
            if done:
                text += f" ({what} done on {', '.join(done)})"
            first = failed[0][0]
            if isinstance(first, RemoteAuthError):
                raise RemoteAuthError(text)
            raise RemoteError(text, getattr(first, "kind", "error"))

    def add_user(self, name: str, password: str, role: Role) -> None:
        self._on_every_node(f"add user {name}", "user_add",
                            {"name": name, "password": password, "role": role.label})

    def set_user_disabled(self, name: str, disabled: bool) -> None:
        self._on_every_node(f"{'disable' if disabled else 'enable'} user {name}", "user_disable",
                            {"name": name, "disabled": disabled})

    def set_user_password(self, name: str, password: str) -> None:
        self._on_every_node(f"set the password of {name}", "user_password",
                            {"name": name, "password": password})

    # ------------------------------------------------------------------ what is missing
    def plugins(self) -> list[PluginRow] | None:
        return None  # plugins run on the nodes; their failures are listed under problems()

    def approve_plugin(self, plugin_id: str, sha256: str) -> str:
        raise VigilError("plugins are approved on each node "
                         "(vigil plugins approve ... --data-dir <node data>)")

    def problems(self) -> list[ConfigProblem]:
        out: list[ConfigProblem] = []
        with self._lock:
            nodes = list(self._nodes.values())
        session = self._session
        for n in nodes:
            if n.plant is not None and not n.online:
                out.append(ConfigProblem("node", n.name, "offline: its values are shown STALE"))
            elif n.plant is not None and session is not None and n.session is None:
                why = (f"'{session.user}' is not logged in there (it joined after the log-in, or "
                       "refused it): log in again to act on it")
                out.append(ConfigProblem("node", n.name, why))
            for row in n.status.get("problems", []):
                prob = wire.problem_from_json(row)
                out.append(prob._replace(what=f"{n.name}: {prob.what}" if prob.what else n.name))
        if self.host.decode_errors:
            out.append(ConfigProblem("configuration", "", f"{self.host.decode_errors} Sparkplug payloads "
                                                          "could not be decoded"))
        return out

    def dropped_counts(self) -> dict[str, int]:
        out = {"remote samples": self._dropped}
        with self._lock:
            for n in self._nodes.values():
                for k, v in (n.status.get("dropped") or {}).items():
                    out[f"{n.name}: {k}"] = int(v)
        return out


def merge_kpis(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The group's alarm KPIs from each node's: counts and rates add up, shares (``*_pct``)
    take the worst node, lists (bad actors, chattering) are joined, worst first."""
    if len(parts) == 1:
        return parts[0]
    out: dict[str, Any] = {}
    for k in dict.fromkeys(key for part in parts for key in part):
        values = [part[k] for part in parts if k in part]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[k] = max(values) if k.endswith("pct") or k in ("window_s", "observed_s") else sum(values)
        elif all(isinstance(v, list) for v in values):
            joined = [x for v in values for x in v]
            if joined and all(isinstance(x, dict) and "activations" in x for x in joined):
                joined.sort(key=lambda x: -int(x.get("activations") or 0))
            out[k] = joined
        else:
            out[k] = values[0]
    return out
