"""The main window on a `RemoteStation`: live values from a real node through a real Mosquitto,
struck through as STALE when the node goes, and a close that stops nothing on the node."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mqtt_support import MosquittoBroker, mosquitto  # noqa: F401
from remote.nodes import GROUP, start_node

from app.core.model import Quality
from app.station.remote.station import RemoteStation


@pytest.fixture
def remote(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[tuple[Any, RemoteStation]]:  # noqa: F811
    svc = start_node(tmp_path / "node", mosquitto.config(), "area1")
    station = RemoteStation(mosquitto.config(), GROUP, tmp_path / "ws", station_id="ws1").connect(wait_s=15)
    yield svc, station
    station.close()
    if svc.core.started:
        svc.stop()


@pytest.fixture
def remote_window(qtbot: Any, remote: tuple[Any, RemoteStation]) -> Iterator[Any]:
    from app.ui.main_window import MainWindow

    win = MainWindow(remote[1])
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    gc.collect()


def test_the_window_shows_a_nodes_live_values_and_strikes_them_through_when_it_goes(
        qtbot: Any, remote: tuple[Any, RemoteStation], remote_window: Any) -> None:
    svc, _station = remote
    win = remote_window

    def live() -> None:
        row = win.tag_model.row_of("tank.level")
        assert row is not None and win.tag_model.quality_of(row) is Quality.GOOD
        # the node's own newest poll of the point, on this screen (by exception: same or newer)
        node = svc.core.latest()["tank.level"]
        assert row.t >= node.t - 1.5 and isinstance(row.value, (int, float))
        assert win.devices.state_of("tank") == "online"

    qtbot.waitUntil(live, timeout=15_000)
    svc.stop()  # a clean stop: DDEATH/NDEATH and the status go offline

    def stale() -> None:
        row = win.tag_model.row_of("tank.level")
        assert row is not None and win.tag_model.quality_of(row) is Quality.STALE

    qtbot.waitUntil(stale, timeout=3_000)

    def node_alarm() -> None:  # the alarm list says the node is gone, not "no alarms"
        lost = win.alarm_model.by_id("area1/station.node:COMM")
        assert lost is not None and lost.condition

    qtbot.waitUntil(node_alarm, timeout=3_000)


def test_closing_a_connected_window_asks_and_stops_nothing_on_the_node(
        qtbot: Any, remote: tuple[Any, RemoteStation], remote_window: Any) -> None:
    svc, _station = remote
    win = remote_window
    asked: list[str] = []
    guard = win.alarm_handling.close_guard
    guard.ask = lambda text: asked.append(text) or False
    assert guard.request_close() is False and win.isVisible()  # declined
    guard.ask = lambda text: asked.append(text) or True
    assert guard.request_close() is True  # nobody logged in, and no engineer needed
    assert "nodes keep polling" in asked[0]
    assert not win.isVisible()
    polls = svc.core.diagnostics()["tank"].samples
    qtbot.wait(1200)
    assert svc.core.started and svc.core.diagnostics()["tank"].samples > polls
