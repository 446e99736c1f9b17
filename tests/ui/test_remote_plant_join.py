"""A connected window follows the plant as nodes join: a node started after the window opened
shows its devices in the plant tree, the tag table and the overview without a reconnect, and
the operator's selection and trend pens on the first node stay. Real nodes (NodeService on
the demo plant) through a real Mosquitto; the window offscreen."""

from __future__ import annotations

import gc
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from mqtt_support import MosquittoBroker, mosquitto  # noqa: F401
from PySide6.QtCore import QItemSelectionModel
from remote.nodes import GROUP, start_node

from app.core.alarms.annunciation import Convention
from app.core.displays import OVERVIEW
from app.core.model import Quality
from app.sim.server import demo_plant_toml
from app.station.remote import wire
from app.station.remote.station import RemoteStation
from app.ui.tag_table import COL_TAG, TagRow, TagTableModel

AREA1 = {"pump", "meter", "tank", "vitals"}
AREA2 = {"pump2", "meter2", "tank2", "vitals2"}
#: where the screenshots go when VIGIL_SCREENSHOTS names a folder (looked at by hand)
SHOTS = os.environ.get("VIGIL_SCREENSHOTS", "")


def area2_plant(tmp_path: Path, port: int) -> Path:
    """A second plant area on the same simulator: devices pump2, meter2, tank2, vitals2."""
    text = re.sub(r'name = "(pump|meter|tank|vitals)"', r'name = "\g<1>2"', demo_plant_toml(port))
    plant = tmp_path / "area2.toml"
    plant.write_text(text.replace('name = "Demo plant"', 'name = "Area 2"'))
    return plant


@pytest.fixture
def first_node(tmp_path: Path, mosquitto: MosquittoBroker) -> Iterator[Any]:  # noqa: F811
    svc = start_node(tmp_path / "node1", mosquitto.config(), "area1")
    yield svc
    if svc.core.started:
        svc.stop()


@pytest.fixture
def station(tmp_path: Path, mosquitto: MosquittoBroker, first_node: Any) -> Iterator[RemoteStation]:  # noqa: F811
    st = RemoteStation(mosquitto.config(), GROUP, tmp_path / "ws", station_id="ws1").connect(wait_s=15)
    yield st
    st.close()


@pytest.fixture
def window(qtbot: Any, station: RemoteStation) -> Iterator[Any]:
    from app.ui.main_window import MainWindow

    win = MainWindow(station, settings_path=station.data_dir / "settings.json")
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    gc.collect()


def select_tag(win: Any, tag: str) -> None:
    proxy = win.tags.proxy
    row = next(i for i in range(proxy.rowCount()) if proxy.index(i, COL_TAG).data() == tag)
    win.tags.view.selectionModel().setCurrentIndex(
        proxy.index(row, COL_TAG),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )


def shot(win: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        win.grab().save(str(Path(SHOTS) / name))


def test_a_node_that_starts_later_appears_in_the_tree_the_table_and_the_overview(
        qtbot: Any, tmp_path: Path, mosquitto: MosquittoBroker,  # noqa: F811
        first_node: Any, station: RemoteStation, window: Any) -> None:
    win = window
    assert set(win.devices.items) == AREA1

    def first_live() -> None:
        row = win.tag_model.row_of("tank.level")
        assert row is not None and win.tag_model.quality_of(row) is Quality.GOOD

    qtbot.waitUntil(first_live, timeout=15_000)
    # the operator's state on the first node: a tag selected, a device selected, a pen added
    select_tag(win, "tank.level")
    win.devices.tree.setCurrentItem(win.devices.items["tank"])
    win.devices.items["tank"].setExpanded(True)
    win.trend.add_pen("tank.level")
    pens_before = list(win.trend.pens)
    assert win.displays.stack[-1][0] == OVERVIEW
    overview_tiles = {b.attrs.get("device") for b in win.displays.display.bindings if b.symbol == "tile"}
    assert overview_tiles == AREA1
    shot(win, "before-join.png")

    assert first_node.core.simulator is not None
    second = start_node(tmp_path / "node2", mosquitto.config(), "area2",
                        plant_path=area2_plant(tmp_path, first_node.core.simulator.port))
    try:
        def joined() -> None:
            # the plant tree: the new node's devices under the group's plant
            assert set(win.devices.items) == AREA1 | AREA2
            assert "area2" in win.devices.tree.topLevelItem(0).text(0)
            # the tag table: its rows, with live GOOD values from its Sparkplug data
            row = win.tag_model.row_of("tank2.level")
            assert row is not None and win.tag_model.quality_of(row) is Quality.GOOD
            # the overview, generated again: a tile per device of both nodes, and symbols bound
            tiles = {b.attrs.get("device") for b in win.displays.display.bindings if b.symbol == "tile"}
            assert tiles == AREA1 | AREA2
            assert "tank2.level" in win.displays.scene.items_by_key
            assert win.devices.state_of("tank2") == "online"
            # the alarm sound follows the new bedside monitor's convention, not the plant's
            assert win.alarm_handling.policy.conventions["vitals2"] == Convention("medical")

        qtbot.waitUntil(joined, timeout=20_000)
        # without a reconnect, and the first node's selection and pens are where they were
        assert win.station is station and station.plant_version >= 1
        assert win.tags.selected_tags() == ["tank.level"]
        assert win.devices.selected_device() == "tank"
        assert win.devices.tree.currentItem() is win.devices.items["tank"]
        assert win.devices.items["tank"].isExpanded()
        assert list(win.trend.pens) == pens_before
        row = win.tag_model.row_of("tank.level")
        assert row is not None and win.tag_model.quality_of(row) is Quality.GOOD
        assert win.displays.stack[-1][0] == OVERVIEW and len(win.displays.stack) == 1
        # the new devices are offered in the display chooser and reachable by name
        chooser = [win.displays.chooser.itemData(i) for i in range(win.displays.chooser.count())]
        assert "demo_tank?device=tank2" in chooser
        # a trend pen of the new node's tag draws its values
        win.trend.add_pen("tank2.level")
        assert any("plant updated" in m for m in win.messages)
        qtbot.wait(1500)  # a few frames of live data on the new rows, for the screenshot
        shot(win, "after-join.png")
    finally:
        second.stop()

    def stale() -> None:
        # a node that goes away keeps its devices on screen, struck through as STALE
        assert "tank2" in win.devices.items
        row = win.tag_model.row_of("tank2.level")
        assert row is not None and win.tag_model.quality_of(row) is Quality.STALE
        assert win.devices.state_of("tank2") == "node offline"
        tiles = {b.attrs.get("device") for b in win.displays.display.bindings if b.symbol == "tile"}
        assert tiles == AREA1 | AREA2

    qtbot.waitUntil(stale, timeout=5_000)
    qtbot.wait(1000)  # the display's next frames, for the screenshot
    shot(win, "after-node-stopped.png")


def publish_plant(broker: MosquittoBroker, node: str, payload: bytes) -> None:
    """Publish a node's retained plant description as a node does (the test stands in for one)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"fake-{node}",
                         protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        client.publish(f"vigil/{GROUP}/{node}/plant", payload, qos=1, retain=True).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_node_that_changes_its_plant_is_shown_as_it_is_now_and_a_hand_made_display_stays(
        qtbot: Any, mosquitto: MosquittoBroker, first_node: Any,  # noqa: F811
        station: RemoteStation, window: Any) -> None:
    win = window
    described = wire.plant_to_json(first_node.core.plant)
    # the same plant again, as a node publishes it at every reconnection: nothing to rebuild
    publish_plant(mosquitto, "area1", json.dumps(described).encode())
    qtbot.wait(1500)
    assert station.plant_version == 0
    assert not any("plant updated" in m for m in win.messages)

    win.show_display("tank")  # a hand-made display (the built-in demo tank's)
    shown = win.displays.display
    assert shown is not None and shown.name == "demo_tank" and not shown.problems
    scene = win.displays.scene
    select_tag(win, "pump.flow")
    win.trend.add_pen("meter.p_total")
    win.trend.add_pen("pump.flow")

    # the node's plant changes: the meter is gone from it
    smaller = dict(described, devices=[d for d in described["devices"] if d["name"] != "meter"])
    publish_plant(mosquitto, "area1", json.dumps(smaller).encode())

    def changed() -> None:
        assert set(win.devices.items) == AREA1 - {"meter"}
        assert win.tag_model.row_of("meter.p_total") is None

    qtbot.waitUntil(changed, timeout=5_000)
    assert station.plant_version == 1
    # the hand-made display is kept as it was (not regenerated, not left)
    assert win.displays.display is shown and win.displays.scene is scene
    # the selection and the pens of tags that still exist stay; the meter's pen is gone, said
    assert win.tags.selected_tags() == ["pump.flow"]
    assert "pump.flow" in win.trend.pens and "meter.p_total" not in win.trend.pens
    assert any("meter.p_total" in m and "removed from the trend" in m for m in win.messages)
    win.displays.home()
    tiles = {b.attrs.get("device") for b in win.displays.display.bindings if b.symbol == "tile"}
    assert tiles == AREA1 - {"meter"}


def test_the_table_keeps_values_and_place_of_remaining_tags_when_rows_come_and_go(qtbot: Any) -> None:
    def rows(*tags: str) -> list[TagRow]:
        return [TagRow(t, t.split(".")[0], t.split(".")[1], "", "", False) for t in tags]

    model = TagTableModel(rows("a.x", "b.x", "c.x"))
    from app.core.model import Sample

    model.apply_samples([Sample("a.x", 1.0, Quality.GOOD, 10.0), Sample("c.x", 3.0, Quality.GOOD, 10.0)])
    events: list[str] = []
    model.modelReset.connect(lambda: events.append("reset"))
    model.rowsInserted.connect(lambda _p, lo, hi: events.append(f"insert {lo}-{hi}"))
    model.rowsRemoved.connect(lambda _p, lo, hi: events.append(f"remove {lo}-{hi}"))

    added = model.set_rows(rows("a.x", "a.y", "c.x", "d.x", "d.y"))
    assert added == ["a.y", "d.x", "d.y"]
    assert events == ["remove 1-1", "insert 1-1", "insert 3-4"]  # no reset: views keep their place
    assert [model.row(i).tag for i in range(model.rowCount())] == ["a.x", "a.y", "c.x", "d.x", "d.y"]
    assert model.row_of("a.x").value == 1.0 and model.row_of("c.x").value == 3.0
    assert model.row_of("a.y").quality is None and model.row_index("d.y") == 4
    model.apply_samples([Sample("d.y", 4.0, Quality.GOOD, 11.0)])
    assert model.row_of("d.y").value == 4.0

    events.clear()
    assert model.set_rows(rows("c.x", "a.x")) == []  # another order of the tags that stay
    assert events == ["reset"]
    assert model.row_of("a.x").value == 1.0 and model.row_index("a.x") == 1
