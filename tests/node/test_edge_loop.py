"""The edge node drives its MQTT client on its publisher thread (no paho network thread): the
wake-up it waits on beside the broker socket, the reconnect backoff, and a node that starts
before its broker and is born once the broker is up."""

from __future__ import annotations

import itertools
import os
import select
import socket
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from mqtt_support import MosquittoBroker

from app.core.sparkplug import MessageType
from app.station.mqtt_link import (
    BATCH_BYTES,
    RECONNECT_MAX_S,
    RECONNECT_MIN_S,
    Backoff,
    BrokerConfig,
    DirectPublisher,
    make_client,
    pump,
)
from app.station.node.tap import SampleTap, Wakeup
from node.mqtt_probe import Probe
from node.sp_host import HostView, start_node, wait_until, watch


def _readable(w: Wakeup) -> bool:
    return bool(select.select([w.fileno()], [], [], 0)[0])


def test_a_raised_wakeup_is_readable_until_cleared_and_raising_twice_costs_one_byte() -> None:
    w = Wakeup()
    try:
        assert not w.is_set() and not _readable(w)
        w.set()
        w.set()
        assert w.is_set() and _readable(w)
        w.clear()
        assert not w.is_set() and not _readable(w)  # both raisings were one byte
        assert w.wait(0.01) is False
        threading.Timer(0.05, w.set).start()
        assert w.wait(10.0) is True  # another thread's set ends the wait
    finally:
        w.close()
    w.set()  # a closed wake-up (the node stopped) is raised without an error


def test_a_poll_raises_the_taps_wakeup() -> None:
    tap = SampleTap()
    tap.on_poll("pump", 1.0, ("pump.a",), [1], None)
    assert _readable(tap.wake)
    tap.wake.clear()
    assert [p.device for p in tap.drain()] == ["pump"] and not _readable(tap.wake)


def test_reconnect_backoff_doubles_to_its_cap_and_starts_again_after_a_connection() -> None:
    b = Backoff()
    waits = [b.next() for _ in range(6)]
    assert waits[0] == RECONNECT_MIN_S and waits[-1] == RECONNECT_MAX_S
    assert all(later >= earlier for earlier, later in itertools.pairwise(waits))
    b.reset()
    assert b.next() == RECONNECT_MIN_S


def test_a_node_started_before_its_broker_is_born_when_the_broker_comes(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    mosquitto.stop()
    node = start_node(tmp_path, mosquitto.config())
    try:
        assert node.edge is not None
        historian = node.core.historian
        t0 = time.time()
        # the plant runs without a broker: polls are stored, nothing is connected
        wait_until(lambda: len(historian.query(["tank.level"], t0, t0 + 60)["tank.level"].t) >= 5, 15,
                   "polls stored while the broker is down")
        assert not node.edge.connected and node.edge.stats.births == 0
        mosquitto.start()
        with watch(mosquitto.config()) as probe:
            wait_until(lambda: node.edge is not None and node.edge.connected, 20, "the node connected")
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DDATA)) >= 5, 20, "DDATA")
            # the client is driven by the node's own publisher thread, not by a paho thread
            paho = [t.name for t in threading.enumerate() if t.name.startswith("paho-mqtt-client-vigil-node")]
            assert not paho
            node.stop()
            wait_until(lambda: bool(HostView.of(probe).of_type(MessageType.NDEATH)), 5,
                       "the NDEATH of a clean stop")
    finally:
        node.stop()


def _pumped_client(cfg: BrokerConfig, name: str, v5: bool) -> mqtt.Client:
    """A paho client connected to ``cfg`` and driven with `pump` (no paho thread)."""
    client = make_client(cfg, name, protocol_v5=v5)
    connected: list[bool] = []
    client.on_connect = lambda c, u, f, rc, p=None: connected.append(not rc.is_failure)
    client.connect(cfg.host, cfg.port, keepalive=10)
    deadline = time.monotonic() + 10
    while not connected and time.monotonic() < deadline:
        pump(client, 0.05)
    assert connected == [True]
    return client


def test_a_batch_of_direct_frames_goes_out_when_it_ends_whole_and_in_order(
        mosquitto: MosquittoBroker) -> None:
    """Inside `batch` nothing reaches the broker (one write at the end, as a node's round of
    DDATA); a frame that fills the batch writes what came before it first; the subscriber
    gets every message in order."""
    cfg = mosquitto.config()
    with Probe(cfg, "batch-watch", subscribe=("batch/#",)) as probe:
        probe.wait_subscribed(1)
        client = _pumped_client(cfg, "batch", True)
        direct = DirectPublisher(client, v5=True)
        small = [(f"batch/{i}", os.urandom(700)) for i in range(20)]
        with direct.batch():
            for topic, payload in small:
                assert direct.publish(topic, payload)
            for _ in range(6):  # the network loop goes on; the batch stays here
                pump(client, 0.05)
            assert probe.messages == []
        probe.wait_for(lambda: len(probe.messages) >= len(small), 10, "the batch")
        big = [("batch/big-0", os.urandom(BATCH_BYTES)), ("batch/after", b"after")]
        with direct.batch():
            assert direct.publish(*small[0])
            for topic, payload in big:
                assert direct.publish(topic, payload)
            probe.wait_for(lambda: len(probe.messages) >= len(small) + 2, 10,
                           "the frames up to the one that filled the batch")
        probe.wait_for(lambda: len(probe.messages) >= len(small) + 3, 10, "the rest")
        assert client.socket() is not None
        client.disconnect()
        got = [(m.topic, m.payload) for m in probe.messages]
    assert got == [*small, small[0], *big]


@pytest.mark.parametrize("v5", [True, False], ids=["mqtt5", "mqtt311"])
def test_direct_qos0_frames_reach_a_subscriber_whole_and_in_order_among_pahos(
        mosquitto: MosquittoBroker, v5: bool) -> None:
    """Every remaining-length size (1 to 4 bytes) and a payload far bigger than a socket
    buffer (written in parts), interleaved with paho's own QoS 1 publishes on the same
    connection: the subscriber gets every topic and payload, byte for byte, in order."""
    cfg = mosquitto.config()
    sizes = [0, 1, 120, 127, 128, 5000, 16_380, 16_384, 3_000_000]
    sent: list[tuple[str, bytes]] = []
    with Probe(cfg, "direct-watch", subscribe=("direct/#",)) as probe:
        probe.wait_subscribed(1)
        client = _pumped_client(cfg, f"direct-{v5}", v5)
        deadline = time.monotonic() + 10
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # big frames go in parts
        direct = DirectPublisher(client, v5=v5)
        infos = []
        for i, size in enumerate(sizes):
            payload = os.urandom(size)
            assert direct.publish(f"direct/{i}/qos0", payload)  # plain TCP, nothing queued
            sent.append((f"direct/{i}/qos0", payload))
            infos.append(client.publish(f"direct/{i}/paho", b"paho %d" % i, qos=1))
            sent.append((f"direct/{i}/paho", b"paho %d" % i))
            while client.want_write():  # paho's frame out before the next direct one
                pump(client, 0.05)
        while not all(info.is_published() for info in infos) and time.monotonic() < deadline + 20:
            pump(client, 0.05)
        probe.wait_for(lambda: len(probe.messages) >= len(sent), 20, "every message")
        assert client.socket() is not None  # the connection was never given up
        client.disconnect()
        got = [(m.topic, m.payload) for m in probe.messages]
    assert [t for t, _ in got] == [t for t, _ in sent]
    assert got == sent
