"""``vigil node``: the plant's core as a long-running service, and the broker-facing services
that share it (the Sparkplug edge node; the Vigil station protocol server joins the list).

The core (polling, historian, alarms, detectors, journal and its key, accounts) runs whatever
the broker does: a broker that is down at start or goes away later costs the stations their
view, never the plant its record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from app.core.sparkplug import check_id
from app.station.engine import Core
from app.station.mqtt_link import BrokerConfig
from app.station.node.edge import EdgeNode
from app.station.node.tap import SampleTap

log = logging.getLogger(__name__)

DEFAULT_GROUP = "vigil"


class BrokerService(Protocol):
    """A part of the node that talks to the broker; started after the core, stopped before it."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


#: builds a broker service for a started core: (core, broker, group, node id) -> service
ServiceFactory = Callable[[Core, BrokerConfig, str, str], BrokerService]


class NodeService:
    """Owns the `Core` and the broker services. ``start()`` brings up the core, then each
    service in order; ``stop()`` takes them down in reverse (the edge node's NDEATH goes out
    before the core's final journal checkpoint)."""

    def __init__(
        self,
        data_dir: Path,
        broker: BrokerConfig,
        *,
        plant_path: Path | None = None,
        group: str = DEFAULT_GROUP,
        node_id: str | None = None,
        factories: Sequence[ServiceFactory] = (),
        **core_kw: object,
    ) -> None:
        self.broker = broker
        self.group = check_id("group id", group)
        self.node_id = check_id("node id", node_id or _default_node_id())
        self.tap = SampleTap()
        self.core = Core(data_dir, plant_path, window=False, extra_sinks=[self.tap], **core_kw)  # type: ignore[arg-type]
        #: how each broker service is made once the core runs; the edge node is the first
        self.factories: list[ServiceFactory] = [self._edge_node, *factories]
        self.services: list[BrokerService] = []
        self.edge: EdgeNode | None = None

    def _edge_node(self, core: Core, broker: BrokerConfig, group: str, node_id: str) -> EdgeNode:
        self.edge = EdgeNode(core, self.tap, broker, group, node_id)
        return self.edge

    def start(self) -> None:
        self.core.start()
        try:
            self.core.journal.append("node.start", "system", {
                "group": self.group, "node": self.node_id, "broker": self.broker.describe()})
            for factory in self.factories:
                service = factory(self.core, self.broker, self.group, self.node_id)
                service.start()
                self.services.append(service)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self.services:
            service = self.services.pop()
            try:
                service.stop()
            except Exception:
                log.exception("error while stopping %r", service)
        if self.core.started:
            self.core.journal.append("node.stop", "system", {"group": self.group, "node": self.node_id})
        self.core.stop()
        self.tap.wake.close()

    def __enter__(self) -> NodeService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _default_node_id() -> str:
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_.:-]", "-", socket.gethostname())[:64] or "vigil-node"
