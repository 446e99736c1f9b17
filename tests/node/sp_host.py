"""Test helpers: a node started in-process on the demo plant, and a minimal Sparkplug host view
of what a probe received (births learnt, DATA typed by alias) to check the node against."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.core.sparkplug import AliasTable, MessageType, SpPayload, Topic, decode_payload, parse_topic
from app.station.mqtt_link import BrokerConfig
from app.station.node import NodeService
from node.mqtt_probe import Probe, Received

GROUP = "plant"


@dataclass
class Decoded:
    topic: Topic
    payload: SpPayload | None  # None: not a Sparkplug payload (never expected from the node)
    raw: Received


@dataclass
class HostView:
    """Every Sparkplug message of one node in arrival order, decoded as a host would."""

    messages: list[Decoded] = field(default_factory=list)
    aliases: dict[str, AliasTable] = field(default_factory=dict)

    @classmethod
    def of(cls, probe: Probe, node_id: str | None = None) -> HostView:
        view = cls()
        for m in list(probe.messages):
            try:
                topic = parse_topic(m.topic)
            except ValueError:
                continue
            if node_id is not None and topic.node != node_id:
                continue
            table = view.aliases.setdefault(topic.device or "", AliasTable())
            payload = decode_payload(m.payload, table.datatypes)
            if topic.type in (MessageType.DBIRTH, MessageType.NBIRTH):
                table.learn(payload)
            view.messages.append(Decoded(topic, payload, m))
        return view

    def of_type(self, kind: MessageType, device: str | None = None) -> list[Decoded]:
        return [d for d in self.messages
                if d.topic.type is kind and (device is None or d.topic.device == device)]


def start_node(tmp_path: Path, broker: BrokerConfig, *, node_id: str = "area-1", interval_ms: int = 100,
               **kw: object) -> NodeService:
    node = NodeService(tmp_path / f"data-{node_id}", broker, group=GROUP, node_id=node_id,
                       demo_interval_ms=interval_ms, **kw)
    node.start()
    return node


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def watch(broker: BrokerConfig, client_id: str = "watch", topics: tuple[str, ...] = ("spBv1.0/#",)) -> Probe:
    probe = Probe(broker, client_id, subscribe=topics)
    probe.wait_subscribed(len(topics))
    return probe
