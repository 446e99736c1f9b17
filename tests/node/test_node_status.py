"""The node's station-protocol status: published when something in it changes (a device's
state at once, through the core's device-state signal); the per-device counters, which change
with every poll, only every STATUS_FULL_EVERY_S."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mqtt_support import MosquittoBroker

from app.station.remote import server
from node.mqtt_probe import Probe, Received
from node.sp_host import GROUP, start_node


def _vitals_state(m: Received) -> str | None:
    status = json.loads(m.payload) if m.payload else {}
    return (status.get("diagnostics") or {}).get("vitals", {}).get("state")


def test_a_device_going_offline_is_published_in_the_status_without_waiting_for_the_counters(
        mosquitto: MosquittoBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the counters' turn never comes in this test: only the state change can publish it
    monkeypatch.setattr(server, "STATUS_FULL_EVERY_S", 3600.0)
    topic = f"vigil/{GROUP}/area-1/status"
    with Probe(mosquitto.config(), "status-watch", subscribe=(topic,)) as probe:
        probe.wait_subscribed(1)
        node = start_node(tmp_path, mosquitto.config(), demo_faults=["dead:vitals@2+60"],
                          factories=[server.StationProtocolServer])
        try:
            probe.wait_message(lambda m: bool(m.payload), 15, "the first status")
            # "connecting" (before the first poll) is not the fault: wait for the dead device
            dead = probe.wait_message(lambda m: _vitals_state(m) == "offline", 30,
                                      "a status with vitals offline")
        finally:
            node.stop()
    status = json.loads(dead.payload)
    assert status["online"] is True and status["node"] == "area-1"
    assert status["diagnostics"]["pump"]["state"] == "online"  # the whole status, not a part
