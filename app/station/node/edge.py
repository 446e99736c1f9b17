"""The Sparkplug B 3.0 edge node: publishes the plant a `Core` polls to an MQTT broker.

One Sparkplug device per plant device (device id = device name), one metric per point (metric
name = point name). On every (re)connection: NBIRTH (``bdSeq`` equal to the one in this
connection's Will, ``Node Control/Rebirth``, the node metrics) then a DBIRTH per device with
every metric, its alias, datatype, current value, quality and engineering properties. After
that DDATA by exception: only the metrics a poll changed (value or quality), by alias, stamped
with the poll's source time. ``seq`` runs 0..255 over every node message after NBIRTH. A device
the runtime finds offline gets a DDEATH (and a DBIRTH when it answers again). The NDEATH is the
MQTT Will; on a clean stop it is published explicitly before disconnecting.

Threads: the ``vigil-sparkplug`` thread is both the publisher and the client's network loop
(paho driven through `mqtt_link.pump`, without paho's own thread), so a DDATA is written to the
socket by the thread that built it, and one wake-up serves a whole gathered round of polls;
paho's callbacks run on it and only set flags and queue commands. The ``vigil-sparkplug-cmd``
thread executes commands (a write waits for the device, and must hold up neither the network
loop nor the data). The broker going away never touches polling, alarms or the historian: they
run in the core whatever the broker does, and the node re-births when it reconnects (retried
with paho's backoff, capped at 5 s).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from app.core.diagnostics import DeviceDiagnostics
from app.core.model import Quality, Value
from app.core.sparkplug import (
    BDSEQ,
    REBIRTH,
    MessageType,
    PayloadError,
    SeqCounter,
    SpDataType,
    Topic,
    add_metric,
    check_id,
    decode_payload,
    new_payload,
    parse_topic,
    sparkplug_quality,
    to_ms,
)
from app.core.sparkplug import payload as sp
from app.core.sparkplug.datawriter import DataLane, DataWriter
from app.station.mqtt_link import Backoff, BrokerConfig, DirectPublisher, make_client, pump
from app.station.node.commands import CommandExecutor
from app.station.node.model import DeviceDef, MetricDef, NodeModel
from app.station.node.tap import Poll, SampleTap

if TYPE_CHECKING:
    from app.station.engine import Core

log = logging.getLogger(__name__)

_GOOD = Quality.GOOD
#: Quality by its code, without the enum call per value
_QUALITY = {int(q): q for q in Quality}

#: the publisher looks for device state changes at least this often (polls also wake it)
DEVICE_CHECK_S = 0.25
#: after a poll arrives, the publisher waits this long for more before publishing them all
GATHER_S = 0.05
#: sets of tags per device whose newest poll is kept as such (more are folded together)
MAX_TAG_SETS = 64
#: MQTT keepalive: the broker publishes the NDEATH this long (x1.5) after the node vanishes
KEEPALIVE_S = 5
#: commands waiting to be executed; beyond it a command is refused (and journaled)
MAX_QUEUED_COMMANDS = 100
#: a clean stop waits at most this long for the NDEATH to reach the broker
NDEATH_WAIT_S = 2.0


@dataclass
class EdgeStats:
    """What the node has published since it started (for the status line and benchmarks)."""

    connects: int = 0
    births: int = 0
    messages: int = 0
    metrics: int = 0
    ddeaths: int = 0
    commands: int = 0


class EdgeNode:
    """A broker-facing service of `NodeService` (``start()``/``stop()``)."""

    def __init__(
        self,
        core: Core,
        tap: SampleTap,
        broker: BrokerConfig,
        group: str,
        node_id: str,
        *,
        keepalive_s: int = KEEPALIVE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.core = core
        self.tap = tap
        self.broker = broker
        self.group = check_id("group id", group)
        self.node_id = check_id("node id", node_id)
        self.keepalive_s = keepalive_s
        self.gather_s = GATHER_S
        self.clock = clock
        self.model = NodeModel(core.plant)
        self.stats = EdgeStats()
        self.seq = SeqCounter()
        #: bdSeq of the Will registered for the current (or next) connection
        self.bdseq = 0
        #: connection state vs publishing; re-entrant because a publish that finds the
        #: connection lost calls on_disconnect on the same thread, inside the publish
        self._lock = threading.RLock()
        self._connected = False
        self._born = False
        self._need_birth = False
        self._alive: dict[str, bool] = {}  # device -> born (DBIRTH sent, no DDEATH since)
        #: device -> answering, as the runtime last reported a state change (any thread writes)
        self._answering: dict[str, bool] = {}
        #: per device: what the hosts were told, and the newest polls (for births)
        self._states: dict[str, _DeviceState] = {}
        self._plant_size = (0, 0)
        self._stop = threading.Event()
        self._commands: queue.Queue[tuple[str, bytes] | None] = queue.Queue(MAX_QUEUED_COMMANDS)
        self._executor = CommandExecutor(core, self.model, group=self.group, node_id=self.node_id,
                                         clock=clock)
        self._client: mqtt.Client | None = None
        self._direct: DirectPublisher | None = None
        self._backoff = Backoff()
        self._threads: list[threading.Thread] = []
        self._last_refusal: str | None = None
        self._devices_changed = False

    @property
    def connected(self) -> bool:
        """Connected to the broker and born (the hosts see this node)."""
        with self._lock:
            return self._connected and self._born

    # ------------------------------------------------------------------ topics
    def _node_topic(self, kind: MessageType) -> str:
        return str(Topic.node_topic(self.group, kind, self.node_id))

    def _device_topic(self, kind: MessageType, device: str) -> str:
        return str(Topic.device_topic(self.group, kind, self.node_id, device))

    def _ndeath(self, bdseq: int) -> bytes:
        p = new_payload(to_ms(self.clock()), None)
        add_metric(p, SpDataType.Int64, bdseq, name=BDSEQ)
        return p.SerializeToString()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        will = (self._node_topic(MessageType.NDEATH), self._ndeath(self.bdseq), 1, False)
        client = make_client(self.broker, f"vigil-node-{self.group}-{self.node_id}", will=will)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # the publisher thread makes the first connection, and every later one, so a broker
        # that is down at start is retried like one that goes away later
        client.connect_async(self.broker.host, self.broker.port, keepalive=self.keepalive_s,
                             clean_start=True)
        self._client = client
        self._direct = DirectPublisher(client, v5=True)  # make_client's default protocol
        self._answering.update(self._device_states())
        self.core.diagnostics_listeners.append(self._on_device_state)
        self._threads = [
            threading.Thread(target=self._run, name="vigil-sparkplug", daemon=True),
            threading.Thread(target=self._run_commands, name="vigil-sparkplug-cmd", daemon=True),
        ]
        for t in self._threads:
            t.start()
        log.info("sparkplug node %s/%s publishing to %s", self.group, self.node_id, self.broker.describe())

    def stop(self) -> None:
        """Publish the NDEATH (a clean stop sends no Will), disconnect, end the threads. The
        publisher thread does the first two on its way out: it alone drives the client."""
        if self._on_device_state in self.core.diagnostics_listeners:
            self.core.diagnostics_listeners.remove(self._on_device_state)
        self._stop.set()
        self.tap.wake.set()
        with contextlib.suppress(queue.Full):
            self._commands.put_nowait(None)
        for t in self._threads:
            t.join(timeout=NDEATH_WAIT_S + 10)
            if t.is_alive():
                log.error("sparkplug thread %s did not end", t.name)
        self._client = None

    def _on_device_state(self, diag: DeviceDiagnostics) -> None:
        """Core thread: a device changed state; the publisher sends DDEATH/DBIRTH."""
        self._answering[diag.device] = diag.state not in ("offline", "disabled")
        self._devices_changed = True
        self.tap.wake.set()

    # ------------------------------------------------------------------ paho callbacks
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode,
                    props: Any = None) -> None:
        if rc.is_failure:
            text = f"broker {self.broker.describe()} refused the node: {rc}"
            if text != self._last_refusal:  # paho retries; say it once per reason
                log.error("%s", text)
                self._last_refusal = text
            return
        self._last_refusal = None
        self._backoff.reset()
        client.subscribe([(self._node_topic(MessageType.NCMD), 1),
                          (str(Topic(self.group, MessageType.DCMD, self.node_id, "+")), 1)])
        with self._lock:
            self._connected = True
            self._born = False
            self._need_birth = True
            self.stats.connects += 1
        self.tap.wake.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode,
                       props: Any = None) -> None:
        with self._lock:
            self._connected = False
            self._born = False
            # the next connection is a new session: a new bdSeq in its Will (and its NBIRTH)
            self.bdseq = (self.bdseq + 1) % 256
            client.will_set(self._node_topic(MessageType.NDEATH), self._ndeath(self.bdseq), qos=1)
        if not self._stop.is_set():
            log.warning("sparkplug node lost the broker (%s); polling and storing go on, reconnecting", rc)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = parse_topic(msg.topic)
        except ValueError:
            return
        if topic.type is MessageType.NCMD:
            self._on_ncmd(bytes(msg.payload))
        elif topic.type is MessageType.DCMD and topic.device is not None:
            try:
                self._commands.put_nowait((topic.device, bytes(msg.payload)))
            except queue.Full:
                self._executor.refuse_overload(topic.device)

    def _on_ncmd(self, data: bytes) -> None:
        try:
            payload = decode_payload(data)
        except PayloadError as e:
            log.warning("NCMD ignored: %s", e)
            return
        for m in payload.metrics:
            if (m.name == REBIRTH or m.alias == 1) and m.value is True:
                with self._lock:
                    self._need_birth = True
                self.tap.wake.set()

    # ------------------------------------------------------------------ publishing thread
    def _run(self) -> None:
        client = self._client
        assert client is not None
        wake = self.tap.wake
        first = True
        gather_until: float | None = None  # polls are being gathered until then
        next_check = time.monotonic() + DEVICE_CHECK_S
        try:
            while not self._stop.is_set():
                if client.socket() is None:
                    if not first and self._stop.wait(self._backoff.next()):
                        break
                    first = False
                    self._connect(client)
                    continue
                now = time.monotonic()
                if gather_until is None and (wake.is_set() or now >= next_check):
                    # polls arrive one device at a time: gathering them for a moment publishes
                    # them in one wake-up of this thread instead of one per poll
                    gather_until = now + self.gather_s
                if gather_until is None:
                    pump(client, next_check - now, wake.fileno())
                    continue
                pump(client, gather_until - now)
                if time.monotonic() < gather_until or self._stop.is_set():
                    continue
                gather_until = None
                next_check = time.monotonic() + DEVICE_CHECK_S
                wake.clear()
                try:
                    if self._publish_round():
                        # polls are coming in: gather the next round at once rather than
                        # wait to be woken by its first poll (one select a round, not two)
                        gather_until = time.monotonic() + self.gather_s
                except Exception:  # the publisher must outlive any one bad message
                    log.exception("sparkplug publisher error (going on)")
        finally:
            self._goodbye(client)

    def _connect(self, client: mqtt.Client) -> None:
        """One connection attempt; the CONNACK (on_connect) arrives through `pump`."""
        try:
            client.reconnect()
        except (OSError, ValueError) as e:  # refused, unreachable, TLS failure
            text = f"broker {self.broker.describe()} not reachable: {e}"
            if text != self._last_refusal:  # retried with a backoff; said once per reason
                log.warning("%s; polling and storing go on, retrying", text)
                self._last_refusal = text

    def _goodbye(self, client: mqtt.Client) -> None:
        """On the way out: the NDEATH (acknowledged by the broker, or NDEATH_WAIT_S), then
        DISCONNECT, so the broker does not publish the Will as well."""
        with self._lock:
            connected, self._connected, self._born = self._connected, False, False
            bdseq = self.bdseq
        if client.socket() is None:
            return
        if connected:
            info = client.publish(self._node_topic(MessageType.NDEATH), self._ndeath(bdseq), qos=1)
            deadline = time.monotonic() + NDEATH_WAIT_S
            with contextlib.suppress(RuntimeError, ValueError):  # not queued: nothing to wait for
                while not info.is_published() and client.socket() is not None \
                        and time.monotonic() < deadline:
                    pump(client, 0.05)
        client.disconnect()
        deadline = time.monotonic() + NDEATH_WAIT_S
        while client.want_write() and client.socket() is not None and time.monotonic() < deadline:
            pump(client, 0.05)

    def _publish_round(self) -> int:
        """Publish what the polls gathered since the last round changed (births first, when
        due), and DDEATH/DBIRTH for devices that changed state; returns the polls taken."""
        self._refresh_model()
        polls = self.tap.drain()
        assert self._direct is not None
        with self._direct.batch():
            return self._publish_polls(polls)

    def _publish_polls(self, polls: list[Poll]) -> int:
        with self._lock:
            if self._need_birth and self._connected:
                for poll in polls:  # a birth states the newest values the node has
                    self._remember(poll)
                self._publish_births_locked()
        for poll in polls:
            self._handle_poll(poll)
        if self._devices_changed:
            self._devices_changed = False
            self._check_devices()
        return len(polls)

    def _refresh_model(self) -> None:
        plant = self.core.plant
        size = (len(plant.devices), len(plant.profiles))
        if size != self._plant_size:  # a device discovered since (it gains its profile then)
            self._plant_size = size
            added = self.model.refresh(plant)
            if added:  # a discovered device: hosts need the new aliases
                with self._lock:
                    self._need_birth = True

    def _publish(self, topic: str, payload: sp.Payload, metrics: int) -> None:
        self._publish_bytes(topic, payload.SerializeToString(), metrics)

    def _publish_bytes(self, topic: str, data: bytes, metrics: int) -> None:
        """QoS 0, written on this thread: directly when the connection allows, else by paho."""
        assert self._client is not None and self._direct is not None
        if not self._direct.publish(topic, data):
            self._client.publish(topic, data, qos=0)
        self.stats.messages += 1
        self.stats.metrics += metrics

    def _publish_births_locked(self) -> None:
        """NBIRTH then every DBIRTH (and a DDEATH for a device that is offline right now), all
        under the connection lock so no DATA of this session can precede them."""
        self._need_birth = False
        self.seq.reset()
        now_ms = to_ms(self.clock())
        nbirth = new_payload(now_ms, self.seq.take())
        add_metric(nbirth, SpDataType.Int64, self.bdseq, name=BDSEQ, timestamp_ms=now_ms)
        for name, alias, dtype, value in self.model.node_metrics:
            add_metric(nbirth, dtype, value, name=name, alias=alias, timestamp_ms=now_ms)
        self._publish(self._node_topic(MessageType.NBIRTH), nbirth, len(nbirth.metrics))
        for dev in self.model.devices.values():
            self._publish_dbirth(dev)
            if not self._answering.get(dev.name, True):
                self._publish_ddeath(dev.name)
        self._born = self._connected  # the connection may have been lost during the births
        self.stats.births += 1

    def _publish_dbirth(self, dev: DeviceDef) -> None:
        now = self.clock()
        p = new_payload(to_ms(now), self.seq.take())
        st = self._device_state(dev)
        latest = st.latest()
        for m in dev.metrics:
            value, quality, t = latest.get(m.tag, (None, Quality.STALE, now))
            _add(p, m, value, name=m.name, timestamp_ms=to_ms(t), with_datatype=True,
                 properties=(*_quality_props(quality), *m.properties))
            st.values[m.index] = value
            st.set_quality(m.index, quality)
        self._publish(self._device_topic(MessageType.DBIRTH, dev.name), p, len(dev.metrics))
        self._alive[dev.name] = True

    def _publish_ddeath(self, device: str) -> None:
        p = new_payload(to_ms(self.clock()), self.seq.take())
        self._publish(self._device_topic(MessageType.DDEATH, device), p, 0)
        self._alive[device] = False
        self.stats.ddeaths += 1

    def _device_state(self, dev: DeviceDef) -> _DeviceState:
        st = self._states.get(dev.name)
        if st is None:
            st = self._states[dev.name] = _DeviceState(
                dev, self._device_topic(MessageType.DDATA, dev.name))
        return st

    def _remember(self, poll: Poll) -> _DeviceState | None:
        """Keep ``poll`` as its device's newest for its tags; None if not a device of the node."""
        dev = self.model.devices.get(poll.device)
        if dev is None:
            return None
        st = self._device_state(dev)
        st.remember(poll)
        return st

    def _handle_poll(self, poll: Poll) -> None:
        """The node's hot path (every value of every poll): compare with what the hosts were
        told, by metric position, and write the changed values straight into the DDATA."""
        st = self._remember(poll)
        if st is None:
            return
        dev = st.dev
        lane = st.lanes.get(poll.tags)
        if lane is None:
            if len(st.lanes) >= MAX_TAG_SETS:
                st.lanes.clear()
            metrics = tuple(dev.by_tag.get(tag) for tag in poll.tags)
            lane = st.lanes[poll.tags] = _Lane(
                metrics, DataLane([None if m is None else (m.index, m.data) for m in metrics]))
        with self._lock:
            if not self._born or not self._alive.get(dev.name, False):
                return  # the hosts learn it from the next birth
            out = DataWriter(to_ms(poll.t))
            # all GOOD, and the hosts know them GOOD: only values can have changed, in bulk
            if poll.qualities is not None or st.unsteady \
                    or not lane.bulk.write_changed(out, poll.values, st.values):
                _write_each(out, st, lane.metrics, poll)
            if out.count:
                data = out.finish(to_ms(self.clock()), self.seq.take())
                self._publish_bytes(st.ddata_topic, data, out.count)

    def _device_states(self) -> dict[str, bool]:
        """Device -> answering (False: the runtime has it offline, or disabled)."""
        return {name: d.state not in ("offline", "disabled")
                for name, d in self.core.runtime.diagnostics().items()}

    def _check_devices(self) -> None:
        states = dict(self._answering)
        with self._lock:
            if not self._born:
                return
            for name, dev in self.model.devices.items():
                up = states.get(name, True)
                if up and not self._alive.get(name, False):
                    self._publish_dbirth(dev)
                elif not up and self._alive.get(name, False):
                    self._publish_ddeath(name)

    # ------------------------------------------------------------------ commands thread
    def _run_commands(self) -> None:
        while True:
            item = self._commands.get()
            if item is None or self._stop.is_set():
                return
            device, data = item
            self.stats.commands += 1
            try:
                self._executor.execute(device, data)
            except Exception:
                log.exception("DCMD to %s failed unexpectedly", device)


class _DeviceState:
    """One device as the node's hosts know it: the value and quality they were last told per
    metric (by its position; None: never told), and the newest poll per set of tags, which a
    birth restates."""

    __slots__ = ("ddata_topic", "dev", "lanes", "last", "qualities", "unsteady", "values")

    def __init__(self, dev: DeviceDef, ddata_topic: str = "") -> None:
        self.dev = dev
        self.ddata_topic = ddata_topic
        self.values: list[Value] = [None] * len(dev.metrics)
        #: written through `set_quality` only, which keeps `unsteady` true to it
        self.qualities: list[Quality | None] = [None] * len(dev.metrics)
        #: how many metrics the hosts were not told GOOD (0: a GOOD poll can go in bulk)
        self.unsteady = len(dev.metrics)
        #: a poll's tags -> the metric of each (None: not a metric of this device)
        self.lanes: dict[tuple[str, ...], _Lane] = {}
        self.last: dict[tuple[str, ...], Poll] = {}

    def set_quality(self, i: int, quality: Quality) -> None:
        was_good = self.qualities[i] is _GOOD
        if was_good != (quality is _GOOD):
            self.unsteady += 1 if was_good else -1
        self.qualities[i] = quality

    def remember(self, poll: Poll) -> None:
        """Polls come in a few fixed sets of tags (scan groups; all of a device's tags when it
        goes offline); anything beyond that bound is folded into one record per source time."""
        last = self.last
        last[poll.tags] = poll
        if len(last) > MAX_TAG_SETS:
            by_t: dict[float, list[tuple[str, Value, Quality]]] = {}
            for tag, (value, quality, t) in self.latest().items():
                by_t.setdefault(t, []).append((tag, value, quality))
            last.clear()
            for t, rows in by_t.items():
                tags = tuple(r[0] for r in rows)
                last[tags] = Poll(poll.device, t, tags, [r[1] for r in rows], bytes(int(r[2]) for r in rows))

    def latest(self) -> dict[str, tuple[Value, Quality, float]]:
        """Tag -> the newest value, quality and source time the node has processed."""
        out: dict[str, tuple[Value, Quality, float]] = {}
        for poll in sorted(self.last.values(), key=lambda p: p.t):
            for i, tag in enumerate(poll.tags):
                q = _GOOD if poll.qualities is None else _QUALITY[poll.qualities[i]]
                out[tag] = (poll.values[i], q, poll.t)
        return out


class _Lane(NamedTuple):
    """One set of tags a device's polls carry: the metric of each (None: no metric), and the
    same metrics for writing a poll's changed values in bulk."""

    metrics: tuple[MetricDef | None, ...]
    bulk: DataLane


def _write_each(out: DataWriter, st: _DeviceState, lane: tuple[MetricDef | None, ...], poll: Poll) -> None:
    """The per-value path: compare each value and quality with what the hosts were told, by
    metric position, and write the changed ones (a changed quality with its properties)."""
    add = out.add
    sent_values, sent_qualities = st.values, st.qualities
    qualities = poll.qualities
    for k, (m, value) in enumerate(zip(lane, poll.values, strict=True)):
        if m is None:
            continue
        i = m.index
        quality = _GOOD if qualities is None else _QUALITY[qualities[k]]
        if sent_qualities[i] is not quality:
            _add_with_quality(out, m, value, quality, poll.t)
            st.set_quality(i, quality)
        elif sent_values[i] == value:  # a NaN is never equal: sent again, never lost
            continue
        else:
            try:
                add(m.data, value)
            except PayloadError as e:
                _sent_as_null(out, m, e)
        sent_values[i] = value


def _sent_as_null(out: DataWriter, m: MetricDef, e: PayloadError) -> None:
    log.warning("%s: %s; sent as null", m.tag, e)
    out.add_null(m.data)


def _add_with_quality(out: DataWriter, m: MetricDef, value: Value, quality: Quality, t: float) -> None:
    """A metric whose quality changed: with the quality properties (built with protobuf)."""
    scratch = sp.Payload()
    _add(scratch, m, value, name=None, timestamp_ms=to_ms(t), with_datatype=False,
         properties=_quality_props(quality))
    out.add_message(scratch.metrics[0])


def _add(p: sp.Payload, m: MetricDef, value: Value, *, name: str | None, timestamp_ms: int,
         with_datatype: bool, properties: tuple[tuple[str, sp.PropertyItem], ...]) -> None:
    try:
        add_metric(p, m.datatype, _fit(m, value), name=name, alias=m.alias, timestamp_ms=timestamp_ms,
                   with_datatype=with_datatype, properties=properties)
    except PayloadError as e:  # appended before the value was refused: send it as null
        log.warning("%s: %s; sent as null", m.tag, e)
        p.metrics[-1].is_null = True


def _quality_props(q: Quality) -> tuple[tuple[str, sp.PropertyItem], ...]:
    return ((sp.PROP_QUALITY, (SpDataType.Int32, sparkplug_quality(q))),
            (sp.PROP_VIGIL_QUALITY, (SpDataType.String, q.name)))


def _fit(m: MetricDef, value: Value) -> Value:
    """A value that cannot be carried by the metric's datatype goes as null (and is logged),
    never as a wrong number."""
    if value is None:
        return None
    if m.datatype in (SpDataType.Float, SpDataType.Double):
        return float(value) if isinstance(value, int | float) else None
    if m.datatype is SpDataType.Boolean:
        return bool(value) if isinstance(value, bool | int) else None
    if m.datatype is SpDataType.String:
        return value if isinstance(value, str) else str(value)
    if isinstance(value, bool) or not isinstance(value, int):
        log.warning("%s: %r is not an integer for %s; sent as null", m.tag, value, m.datatype.name)
        return None
    return value
