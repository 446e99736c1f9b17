"""Remote-station tests: a real Core on the demo plant (its simulator over Modbus TCP on
127.0.0.1), the node's station-protocol server, and workstations, all through a real Mosquitto
started by tests/mqtt_support.py."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mqtt_support import MosquittoBroker, mosquitto, secured_mosquitto  # noqa: F401

from app.core.users import Role
from app.station import Core
from app.station.mqtt_link import BrokerConfig
from app.station.remote.server import StationProtocolServer
from app.station.remote.station import RemoteStation

GROUP = "plant"
NODE = "area1"
USERS = {
    "admin": ("admin-password-1", Role.ADMINISTRATOR),
    "erin": ("erin-password-1", Role.ENGINEER),
    "olga": ("olga-password-1", Role.OPERATOR),
    "vera": ("vera-password-1", Role.VIEWER),
}


def wait_until(pred: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    """Poll ``pred`` until truthy or ``timeout`` (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


def start_node_core(data_dir: Path, **kw: Any) -> Core:
    core = Core(data_dir, **kw)
    core.start()
    core.users.add(None, "admin", USERS["admin"][0], Role.ADMINISTRATOR)
    session = core.users.authenticate("admin", USERS["admin"][0])
    for name, (password, role) in USERS.items():
        if name != "admin":
            core.users.add(session, name, password, role)
    core.users.logout(session)
    return core


class Node:
    """A node as the tests see it: its core and its station-protocol server."""

    def __init__(self, core: Core, broker: BrokerConfig, node_id: str = NODE):
        self.core = core
        self.server = StationProtocolServer(core, broker, GROUP, node_id)
        self.server.start()
        assert self.server.connected.wait(10), "the node's protocol server did not connect"

    def stop(self) -> None:
        self.server.stop()
        self.core.stop()

    def journal(self, kind: str) -> list[Any]:
        from app.core.journal import read_events

        self.core.journal.flush(timeout=5.0)
        return [e for e in read_events(self.core.data_dir / "journal") if e.kind == kind]


@pytest.fixture
def node(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Node]:  # noqa: F811
    n = Node(start_node_core(tmp_path / "node"), mosquitto.config())
    yield n
    n.stop()


@pytest.fixture
def stations(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Callable[..., RemoteStation]]:  # noqa: F811
    """Make connected workstations (closed at the end)."""
    made: list[RemoteStation] = []

    def make(station_id: str = "ws1", **kw: Any) -> RemoteStation:
        st = RemoteStation(mosquitto.config(), GROUP, tmp_path / station_id, station_id=station_id, **kw)
        st.connect(wait_s=10)
        made.append(st)
        return st

    yield make
    for st in made:
        st.close()
