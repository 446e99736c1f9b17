"""A node on a production-like broker: TLS with a CA made in the test, password log-in and the
shipped ACL (the node logs in with its node id as user name)."""

from __future__ import annotations

from pathlib import Path

from mqtt_support import SECURED_USERS, MosquittoBroker, shipped_acl

from app.core.sparkplug import MessageType
from app.station.mqtt_link import BrokerConfig
from node.mqtt_probe import Probe
from node.sp_host import HostView, start_node, wait_until, watch


def test_node_publishes_over_tls_within_the_acl(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path / "broker", users=SECURED_USERS, acl=shipped_acl(), tls=True) as broker:
        assert broker.ca_path is not None
        pw = tmp_path / "node-password"
        pw.write_text(SECURED_USERS["node"] + "\n")
        node_cfg = BrokerConfig.from_url(broker.url(), username="node", password_file=pw,
                                         tls_ca=broker.ca_path)
        with watch(broker.config("station"), "station-1") as station:
            node = start_node(tmp_path, node_cfg, node_id="node")
            try:
                wait_until(lambda: len(HostView.of(station).of_type(MessageType.DDATA)) >= 3, 20,
                           "data over TLS")
                view = HostView.of(station)
                assert view.of_type(MessageType.NBIRTH) and len(view.of_type(MessageType.DBIRTH)) == 4
                assert all(d.topic.node == "node" for d in view.messages)
            finally:
                node.stop()
            wait_until(lambda: bool(HostView.of(station).of_type(MessageType.NDEATH)), 5, "the NDEATH")


def test_a_node_named_unlike_its_account_is_kept_out_of_the_namespace(tmp_path: Path) -> None:
    """The ACL ties a node's topics to its user name: a node publishing as another node id
    reaches nobody (the broker drops it), so one compromised node cannot speak for another."""
    with MosquittoBroker(tmp_path / "broker", users=SECURED_USERS, acl=shipped_acl()) as broker:
        with Probe(broker.config("admin"), "admin-watch", subscribe=("spBv1.0/#",)) as admin:
            admin.wait_subscribed(1)
            node = start_node(tmp_path, broker.config("node"), node_id="area-2")
            try:
                assert node.edge is not None
                wait_until(lambda: node.edge is not None and node.edge.stats.births >= 1
                           and node.edge.stats.messages >= 10, 20, "the node publishing")
            finally:
                node.stop()
        assert not [m for m in admin.messages if "/area-2" in m.topic]
