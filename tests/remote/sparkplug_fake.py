"""A hand-driven Sparkplug B edge node for host-side tests: it publishes exactly the births,
data (with chosen `seq`s) and deaths a test asks for, encoded with the protobuf classes from
the official sparkplug_b.proto, plus the retained plant description a station needs to start.

Run as a script (``python sparkplug_fake.py PORT GROUP NODE``) it births, then publishes the
tank's level every 100 ms until killed, with its NDEATH as the MQTT Will: a node that dies
without a goodbye.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from app.core.paths import device_profiles_dir
from app.core.plant import Plant, parse_plant
from app.core.profiles import ProfileLibrary
from app.core.sparkplug import sparkplug_b_pb2 as pb
from app.sim.server import demo_plant_toml
from app.station.mqtt_link import BrokerConfig, make_client
from app.station.remote import protocol, wire

DOUBLE, BOOLEAN, STRING, UINT64 = 10, 11, 12, 8
DEVICE = "tank"


def demo_plant() -> Plant:
    lib = ProfileLibrary()
    lib.add_folder(device_profiles_dir())
    return parse_plant(demo_plant_toml(5020).encode(), "<demo plant>", lib)


def _put(m: Any, value: Any) -> None:
    if isinstance(value, bool):
        m.datatype, m.boolean_value = BOOLEAN, value
    elif isinstance(value, str):
        m.datatype, m.string_value = STRING, value
    else:
        m.datatype, m.double_value = DOUBLE, float(value)


class FakeEdge:
    def __init__(self, broker: BrokerConfig, group: str, node: str, *, bdseq: int = 7):
        self.group, self.node, self.bdseq = group, node, bdseq
        self.seq = 0
        self.plant = demo_plant()
        self.points = [pt.name for pt in self.plant.profiles[DEVICE].points]
        self.alias = {name: 100 + i for i, name in enumerate(self.points)}
        self.commands: list[bytes] = []
        self.c = make_client(broker, f"{node}-fake", protocol_v5=False)
        self.c.will_set(self.topic("NDEATH"), self._death(), qos=1, retain=False)
        self.c.on_message = self._on_command
        self._last_birth: tuple[dict[str, Any], int | None] | None = None
        self.c.connect(broker.host, broker.port, keepalive=2)
        self.c.loop_start()
        self.c.subscribe(self.topic("NCMD"), qos=0)
        topics = protocol.Topics(group, node)
        self.c.publish(topics.plant, protocol.dumps(wire.plant_to_json(self.plant)), qos=1, retain=True)
        self.c.publish(topics.status, protocol.dumps({"online": True, "node": node, "diagnostics": {}}),
                       qos=1, retain=True)

    def _on_command(self, client: Any, userdata: Any, msg: Any) -> None:
        """A Rebirth NCMD is answered with the last births (from a thread: paho's network
        thread must not wait for its own publishes)."""
        self.commands.append(bytes(msg.payload))
        if self._last_birth is not None:
            values, t_ms = self._last_birth
            threading.Thread(target=self.birth, args=(values, t_ms), daemon=True).start()

    def topic(self, kind: str, device: str = "") -> str:
        return f"spBv1.0/{self.group}/{kind}/{self.node}" + (f"/{device}" if device else "")

    def _death(self) -> bytes:
        msg = pb.Payload()
        msg.timestamp = int(time.time() * 1000)
        m = msg.metrics.add()
        m.name, m.datatype, m.long_value = "bdSeq", UINT64, self.bdseq
        return msg.SerializeToString()

    def _next_seq(self, skip: int = 0) -> int:
        self.seq = (self.seq + skip) % 256
        seq = self.seq
        self.seq = (self.seq + 1) % 256
        return seq

    def birth(self, values: dict[str, Any], t_ms: int | None = None) -> None:
        self._last_birth = (values, t_ms)
        t_ms = t_ms or int(time.time() * 1000)
        self.seq = 0
        nb = pb.Payload()
        nb.timestamp, nb.seq = t_ms, self._next_seq()
        m = nb.metrics.add()
        m.name, m.datatype, m.long_value = "bdSeq", UINT64, self.bdseq
        m = nb.metrics.add()
        m.name, m.alias, m.datatype, m.boolean_value = "Node Control/Rebirth", 1, BOOLEAN, False
        self.c.publish(self.topic("NBIRTH"), nb.SerializeToString(), qos=0).wait_for_publish(5)
        db = pb.Payload()
        db.timestamp, db.seq = t_ms, self._next_seq()
        for name in self.points:
            m = db.metrics.add()
            m.name, m.alias, m.timestamp = name, self.alias[name], t_ms
            if name in values:
                _put(m, values[name])
                q = 192
            else:
                m.datatype, m.is_null = DOUBLE, True
                q = 0
            m.properties.keys.append("Quality")
            pv = m.properties.values.add()
            pv.type, pv.int_value = 3, q
        self.c.publish(self.topic("DBIRTH", DEVICE), db.SerializeToString(), qos=0).wait_for_publish(5)

    def ddata(self, values: dict[str, Any], *, t_ms: int | None = None, skip: int = 0) -> int:
        t_ms = t_ms or int(time.time() * 1000)
        msg = pb.Payload()
        msg.timestamp, msg.seq = t_ms, self._next_seq(skip)
        for name, value in values.items():
            m = msg.metrics.add()
            m.alias, m.timestamp = self.alias[name], t_ms
            _put(m, value)
        self.c.publish(self.topic("DDATA", DEVICE), msg.SerializeToString(), qos=0).wait_for_publish(5)
        return int(msg.seq)

    def ddeath(self) -> None:
        msg = pb.Payload()
        msg.timestamp, msg.seq = int(time.time() * 1000), self._next_seq()
        self.c.publish(self.topic("DDEATH", DEVICE), msg.SerializeToString(), qos=0).wait_for_publish(5)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


if __name__ == "__main__":
    port, group, node = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    edge = FakeEdge(BrokerConfig("127.0.0.1", port), group, node)
    edge.birth({"level": 50.0, "valve_setpoint": 30.0, "pump_run": True})
    print("born", flush=True)
    level = 50.0
    while True:  # until SIGKILL
        level += 0.1
        edge.ddata({"level": round(level, 3)})
        time.sleep(0.1)
