"""The edge node drives its MQTT client on its publisher thread (no paho network thread): the
wake-up it waits on beside the broker socket, the reconnect backoff, and a node that starts
before its broker and is born once the broker is up."""

from __future__ import annotations

import itertools
import select
import threading
import time
from pathlib import Path

from mqtt_support import MosquittoBroker

from app.core.sparkplug import MessageType
from app.station.mqtt_link import RECONNECT_MAX_S, RECONNECT_MIN_S, Backoff
from app.station.node.tap import SampleTap, Wakeup
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
