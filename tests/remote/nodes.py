"""A real node for tests: NodeService (core, Sparkplug edge node) plus the station-protocol
server, as `vigil node` runs them, with an administrator and an operator account."""

from __future__ import annotations

from pathlib import Path

from app.core.users import Role
from app.station.mqtt_link import BrokerConfig
from app.station.node.service import NodeService
from app.station.remote.server import StationProtocolServer

GROUP = "plant"
ADMIN = ("admin", "admin-password-1")
OPERATOR = ("olga", "olga-password-1")


def start_node(data_dir: Path, broker: BrokerConfig, node_id: str, **core_kw: object) -> NodeService:
    svc = NodeService(data_dir, broker, group=GROUP, node_id=node_id, factories=[StationProtocolServer],
                      **core_kw)
    svc.start()
    core = svc.core
    core.users.add(None, ADMIN[0], ADMIN[1], Role.ADMINISTRATOR)
    admin = core.users.authenticate(*ADMIN)
    core.users.add(admin, OPERATOR[0], OPERATOR[1], Role.OPERATOR)
    core.users.logout(admin)
    return svc
