"""A drain's changes reach the screen in one pass (issue 14, the idle window's CPU): the bridge
says when a drain's signals are out (``drained``), and the process display draws what they
marked then, instead of a frame later on a timer of its own, so its repaint and the tag table's
are one trip to the screen and nothing waits longer than before."""

from __future__ import annotations

from typing import Any

from app.core.model import Quality
from app.ui.bridge import CoreBridge
from tests.ui.bridge_station import NotifyingStation, sample


class Change:
    """What the bridge reads of an alarm change: its id."""

    def __init__(self, aid: str) -> None:
        self.id = aid


def test_drained_comes_after_the_samples_and_alarm_changes_of_that_drain(
    qtbot: Any, bridge: CoreBridge, station: NotifyingStation
) -> None:
    qtbot.wait(300)  # the first drain, at start, found nothing
    heard: list[str] = []
    bridge.samples.connect(lambda _b: heard.append("samples"))
    bridge.alarms_changed.connect(lambda _v: heard.append("alarms"))
    bridge.drained.connect(lambda: heard.append("drained"))
    station.push([sample(1)])
    qtbot.waitUntil(lambda: "drained" in heard, timeout=2000)
    assert heard == ["samples", "drained"]
    heard.clear()
    assert station.alarm_listener is not None
    station.alarm_listener(Change("tank.level:HI"))
    qtbot.waitUntil(lambda: "drained" in heard, timeout=2000)
    assert heard == ["alarms", "drained"]


def test_a_heartbeat_that_finds_nothing_says_nothing(qtbot: Any, bridge: CoreBridge,
                                                     station: NotifyingStation) -> None:
    qtbot.wait(300)
    heard: list[str] = []
    bridge.drained.connect(lambda: heard.append("drained"))
    ticks = bridge.ticks
    qtbot.wait(1200)
    assert bridge.ticks > ticks  # the heartbeat drained (twice a second)
    assert heard == []


def test_the_overview_draws_what_a_drain_marked_when_the_drain_ends(qtbot: Any, window: Any) -> None:
    """On the real demo plant: by the time ``drained`` has been handled, every symbol the drain's
    samples marked is drawn (none left waiting for a timer), and it shows the new value."""
    from tests.ui.conftest import wait_for_good

    view = window.displays
    scene = view.scene
    assert scene is not None
    wait_for_good(qtbot, window, "tank.level")
    seen: list[tuple[int, bool, int]] = []

    def after_drain() -> None:  # connected after the window's own handler: runs after it
        seen.append((scene.pending(), scene._flush_timer.isActive(), scene.layer.draws))

    window.bridge.drained.connect(after_drain)
    qtbot.waitUntil(lambda: len(seen) >= 6, timeout=10_000)
    # drawn at the drain's end, not a frame later (a flush that runs out of its time budget on
    # a loaded machine leaves the rest to a timer, hence "a drain", not "every drain")
    assert any(pending == 0 and not timer for pending, timer, _ in seen)
    assert seen[-1][2] > seen[0][2]  # values moved on the overview meanwhile, and were drawn
    items = scene.items_by_key["tank.level"]

    def shows_the_current_value() -> None:
        shown = view.live.view("tank.level")
        assert shown.quality is Quality.GOOD
        assert all(i._look is not None and i._look[0] == i.value_text(shown) for i in items)

    qtbot.waitUntil(shows_the_current_value, timeout=2000)
