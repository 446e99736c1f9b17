"""The node side of a distributed Vigil: the core as a service (`NodeService`, ``vigil node``)
publishing the plant as a Sparkplug B 3.0 edge node (`EdgeNode`) to an MQTT broker."""

from app.station.node.edge import EdgeNode, EdgeStats
from app.station.node.service import DEFAULT_GROUP, BrokerService, NodeService, ServiceFactory
from app.station.node.tap import SampleTap

__all__ = [
    "DEFAULT_GROUP", "BrokerService", "EdgeNode", "EdgeStats", "NodeService", "SampleTap", "ServiceFactory",
]
