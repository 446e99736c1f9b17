"""``vigil node``: run the plant's core as a headless service that publishes it to an MQTT
broker as a Sparkplug B 3.0 edge node (and serves the Vigil stations through the same broker).

Without ``--plant`` the built-in demo simulator runs in-process, as ``vigil run`` does. The
password is read from ``--password-file`` (first line), never from an argument.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli._common import stop_on_signals, wait_until_stopped
from app.cli.run import _positive
from app.core.errors import VigilError
from app.core.paths import resolve_data_dir

if TYPE_CHECKING:
    from app.station.node import NodeService

#: how often the service prints its status line (its log is the only screen)
STATUS_EVERY_S = 30.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="run the core as a service publishing to an MQTT broker (Sparkplug B)")
    p.add_argument("--plant", help="plant file (TOML); default: the built-in demo plant")
    p.add_argument("--data-dir", help="data folder (default: VIGIL_DATA_DIR or the user data dir)")
    p.add_argument("--broker", required=True, help="mqtt://HOST:PORT or mqtts://HOST:PORT")
    p.add_argument("--group", default="vigil", help="Sparkplug group id (default: vigil)")
    p.add_argument("--node-id", help="Sparkplug edge node id (default: this host's name)")
    p.add_argument("--username", help="broker user name (with the shipped ACL: the node id)")
    p.add_argument("--password-file", type=Path, help="file whose first line is the broker password")
    p.add_argument("--tls-ca", type=Path, help="CA certificate that signed the broker's (PEM)")
    p.add_argument("--tls-cert", type=Path, help="client certificate (PEM), with --tls-key")
    p.add_argument("--tls-key", type=Path, help="client key (PEM), with --tls-cert")
    p.add_argument("--duration", type=_positive, help="stop after this many seconds")
    p.add_argument("--seed", type=int, default=0, help="demo simulator seed")
    p.add_argument("--demo-interval-ms", type=int, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def make_node(args: argparse.Namespace) -> NodeService:
    from app.cli.journal import journal_passphrase
    from app.station.mqtt_link import BrokerConfig
    from app.station.node import NodeService
    from app.station.remote.server import StationProtocolServer

    broker = BrokerConfig.from_url(
        args.broker, username=args.username, password_file=args.password_file,
        tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
    )
    data_dir = resolve_data_dir(args.data_dir)
    return NodeService(
        data_dir, broker, plant_path=Path(args.plant) if args.plant else None,
        group=args.group, node_id=args.node_id, seed=args.seed,
        demo_interval_ms=args.demo_interval_ms,
        journal_passphrase=journal_passphrase(data_dir / "journal"),
        factories=[StationProtocolServer],
    )


def run(args: argparse.Namespace) -> int:
    try:
        node = make_node(args)
        node.start()
    except (VigilError, ValueError) as e:
        print(f"vigil node: {e}", file=sys.stderr)
        return 2
    try:
        return _serve(node, args.duration)
    finally:
        node.stop()
        print("vigil node: stopped", flush=True)


def _serve(node: NodeService, duration: float | None) -> int:
    """Until the duration ends or SIGINT/SIGTERM (systemd's stop)."""
    stop = stop_on_signals()
    core = node.core
    print(
        f"vigil node: {node.group}/{node.node_id} polling {len(core.plant.enabled_devices())} devices, "
        f"{len(core.plant.tags())} tags (data in {core.data_dir}); publishing to {node.broker.describe()}",
        flush=True,
    )
    for problem in core.config_problems:
        print(f"vigil node: configuration problem: {problem}", flush=True)
    wait_until_stopped(stop, duration, STATUS_EVERY_S, lambda: print(_status_line(node), flush=True))
    print(_status_line(node), flush=True)
    return 0


def _status_line(node: NodeService) -> str:
    diags = node.core.diagnostics()
    online = sum(1 for d in diags.values() if d.state == "online")
    edge = node.edge
    bus = "broker: not started"
    if edge is not None:
        s = edge.stats
        bus = (f"broker {'connected' if edge.connected else 'DISCONNECTED'}, {s.births} births, "
               f"{s.messages} messages, {s.metrics} metrics published")
    return f"vigil node: {online}/{len(diags)} devices online; {bus}"
