"""The Sparkplug B host side of a remote station: births, data, deaths and `seq` checks.

Fed with every ``spBv1.0/<group>/...`` message, it keeps per node the alias table from its
births, turns DBIRTH/DDATA metrics into `Sample`s (metric name = point name, device id =
device name, so the tag is ``device.point``; the metric timestamp is the poll's source time),
and on NDEATH/DDEATH hands back every tag of that node or device as STALE, its last value
kept. A `seq` gap that the reorder timeout does not fill, or data from a node whose birth this
host never saw, makes it ask for a rebirth (NCMD ``Node Control/Rebirth``), at most once per
reorder timeout. Decoding uses the protobuf classes generated from the official
``sparkplug_b.proto`` (app/core/sparkplug).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.model import Quality, Sample, Value
from app.core.sparkplug import sparkplug_b_pb2 as pb

#: the Sparkplug ``Quality`` property (3.0): 0 BAD, 192 GOOD, 500 STALE
SPB_QUALITY = {0: Quality.BAD_COMM, 192: Quality.GOOD, 500: Quality.STALE}
#: Sparkplug datatypes (sparkplug_b.proto DataType) that carry a signed integer
_SIGNED = {1: 8, 2: 16, 3: 32, 4: 64}
REBIRTH_METRIC = "Node Control/Rebirth"
BOOLEAN = 11


@dataclass
class NodeState:
    """What this host knows of one edge node since its last NBIRTH."""

    bdseq: int | None = None
    seq: int | None = None
    born: bool = False
    online: bool = False
    #: alias -> (device id or "" for the node itself, metric name, datatype from the birth)
    aliases: dict[int, tuple[str, str, int]] = field(default_factory=dict)
    #: device id -> its metric names (tags) from the DBIRTH
    devices: dict[str, set[str]] = field(default_factory=dict)
    #: a seq that did not arrive, and when the reorder timeout runs out
    missing: int | None = None
    deadline: float = 0.0
    last_rebirth: float = 0.0
    rebirths: int = 0


class SparkplugHost:
    """Sparkplug state of every node of one group; thread-safe (paho's thread feeds it, a
    ticker calls `tick`)."""

    def __init__(
        self,
        group: str,
        on_samples: Callable[[list[Sample]], None],
        send_rebirth: Callable[[str, bytes], None],
        *,
        reorder_timeout_s: float = 2.0,
        on_node: Callable[[str, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.group = group
        self.on_samples = on_samples
        self.send_rebirth = send_rebirth
        self.on_node = on_node
        self.reorder_timeout_s = reorder_timeout_s
        self.clock = clock
        self.nodes: dict[str, NodeState] = {}
        self.latest: dict[str, Sample] = {}
        self.decode_errors = 0
        self._lock = threading.RLock()
        #: rebirth commands decided under the lock, sent after it is released: paho's network
        #: thread holds its own lock while it calls us, so publishing under ours could deadlock
        self._to_send: list[str] = []

    # ------------------------------------------------------------------ input
    def on_message(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != "spBv1.0" or parts[1] != self.group:
            return
        kind, node = parts[2], parts[3]
        device = parts[4] if len(parts) > 4 else ""
        if kind in ("NCMD", "DCMD"):
            return
        try:
            self._on_message(kind, node, device, payload)
        finally:
            self._flush()

    def _on_message(self, kind: str, node: str, device: str, payload: bytes) -> None:
        msg = pb.Payload()
        try:
            msg.ParseFromString(payload)
        except Exception:  # protobuf's DecodeError; a garbage message must not stop the host
            self.decode_errors += 1
            return
        out: list[Sample] = []
        with self._lock:
            st = self.nodes.setdefault(node, NodeState())
            if kind == "NBIRTH":
                self._nbirth(node, st, msg)
            elif kind == "NDEATH":
                self._ndeath(node, st, msg, out)
            elif not st.born:
                self._rebirth(node, st, "data from a node whose birth this station has not seen")
                return
            else:
                self._check_seq(node, st, msg)
                if kind == "DBIRTH":
                    st.devices[device] = set()
                    self._metrics(st, device, msg, out, birth=True)
                elif kind == "DDATA":
                    self._metrics(st, device, msg, out, birth=False)
                elif kind == "DDEATH":
                    self._stale(st, [device], out)
        if out:
            self.on_samples(out)

    def tick(self) -> None:
        """Ask for a rebirth where a seq gap outlived the reorder timeout."""
        now = self.clock()
        with self._lock:
            for node, st in self.nodes.items():
                if st.missing is not None and now >= st.deadline:
                    st.missing = None
                    self._rebirth(node, st, "seq gap not filled within the reorder timeout")
        self._flush()

    def request_birth(self, node: str) -> None:
        """Ask ``node`` for its births unless they were seen already (a host joining late)."""
        with self._lock:
            st = self.nodes.setdefault(node, NodeState())
            if not st.born:
                self._rebirth(node, st, "station joined after the node's birth")
        self._flush()

    # ------------------------------------------------------------------ message kinds
    def _nbirth(self, node: str, st: NodeState, msg: pb.Payload) -> None:
        st.aliases.clear()
        st.devices.clear()
        st.born = st.online = True
        st.seq = int(msg.seq)
        st.missing = None
        for m in msg.metrics:
            if m.name == "bdSeq":
                st.bdseq = int(_value(m, int(m.datatype)) or 0)
            if m.HasField("alias"):
                st.aliases[int(m.alias)] = ("", m.name, int(m.datatype))
        if self.on_node is not None:
            self.on_node(node, True)

    def _ndeath(self, node: str, st: NodeState, msg: pb.Payload, out: list[Sample]) -> None:
        bdseq = next((int(_value(m, int(m.datatype)) or 0) for m in msg.metrics if m.name == "bdSeq"), None)
        if st.bdseq is not None and bdseq is not None and bdseq != st.bdseq:
            return  # the Will of an older connection, delivered after the node came back
        st.online = st.born = False
        st.missing = None
        self._stale(st, list(st.devices), out)
        if self.on_node is not None:
            self.on_node(node, False)

    def _check_seq(self, node: str, st: NodeState, msg: pb.Payload) -> None:
        seq = int(msg.seq)
        if st.missing is not None and seq == st.missing:
            st.missing = None  # the late message filled the gap
            return
        expected = ((st.seq if st.seq is not None else -1) + 1) % 256
        if seq != expected and st.missing is None:
            st.missing = expected
            st.deadline = self.clock() + self.reorder_timeout_s
        st.seq = seq

    def _metrics(
        self, st: NodeState, device: str, msg: pb.Payload, out: list[Sample], *, birth: bool
    ) -> None:
        for m in msg.metrics:
            datatype = int(m.datatype)
            if m.name:
                name = m.name
                if birth and m.HasField("alias"):
                    st.aliases[int(m.alias)] = (device, name, datatype)
            else:
                known = st.aliases.get(int(m.alias))
                if known is None or known[0] != device:
                    continue
                name = known[1]
                datatype = datatype or known[2]  # data may leave the type to the birth
            if birth:
                st.devices.setdefault(device, set()).add(name)
            tag = f"{device}.{name}"
            t = (m.timestamp or msg.timestamp) / 1000.0
            value = None if m.is_null else _value(m, datatype)
            sample = Sample(tag, value, _quality(m, value), t)
            self.latest[tag] = sample
            out.append(sample)

    def _stale(self, st: NodeState, devices: list[str], out: list[Sample]) -> None:
        for device in devices:
            for name in st.devices.get(device, ()):
                tag = f"{device}.{name}"
                last = self.latest.get(tag)
                stale = Sample(tag, last.value if last else None, Quality.STALE, last.t if last else 0.0)
                self.latest[tag] = stale
                out.append(stale)

    def _rebirth(self, node: str, st: NodeState, why: str) -> None:
        now = self.clock()
        if now - st.last_rebirth < self.reorder_timeout_s:
            return
        st.last_rebirth = now
        st.rebirths += 1
        self._to_send.append(f"spBv1.0/{self.group}/NCMD/{node}")

    def _flush(self) -> None:
        with self._lock:
            topics, self._to_send = self._to_send, []
        for topic in topics:
            self.send_rebirth(topic, rebirth_payload())


def rebirth_payload() -> bytes:
    msg = pb.Payload()
    msg.timestamp = int(time.time() * 1000)
    m = msg.metrics.add()
    m.name = REBIRTH_METRIC
    m.datatype = BOOLEAN
    m.timestamp = msg.timestamp
    m.boolean_value = True
    return bytes(msg.SerializeToString())


def _value(m: pb.Payload.Metric, datatype: int) -> Value:
    which = m.WhichOneof("value")
    if which is None:
        return None
    v = getattr(m, which)
    bits = _SIGNED.get(datatype)
    if bits is not None and isinstance(v, int) and v >= 1 << (bits - 1):
        v -= 1 << bits  # Sparkplug carries signed integers in unsigned fields
    if which in ("int_value", "long_value", "float_value", "double_value", "boolean_value", "string_value"):
        return v
    return None


def _quality(m: pb.Payload.Metric, value: Value) -> Quality:
    """Vigil's own quality when the node sent it, else the Sparkplug ``Quality`` property."""
    fine: Quality | None = None
    spb: int | None = None
    if m.HasField("properties"):
        for key, pv in zip(m.properties.keys, m.properties.values, strict=False):
            which = pv.WhichOneof("value")
            raw = getattr(pv, which) if which else None
            if key == "Quality" and isinstance(raw, int):
                spb = raw
            elif key.lower().replace(" ", "").replace("_", "") in ("vigilquality", "vigil.quality"):
                fine = _vigil_quality(raw)
    if fine is not None:
        return fine
    if spb is not None:
        return SPB_QUALITY.get(spb, Quality.UNCERTAIN)
    return Quality.GOOD if value is not None else Quality.BAD_COMM


def _vigil_quality(raw: object) -> Quality | None:
    try:
        if isinstance(raw, str):
            return Quality[raw.upper()]
        if isinstance(raw, int):
            return Quality(raw)
    except (KeyError, ValueError):
        return None
    return None
