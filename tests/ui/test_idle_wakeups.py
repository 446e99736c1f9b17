"""An idle window sleeps (issue 14): the bridge drains the station only when samples or alarm
changes are waiting, and the annunciator wakes only for what it must do (a burst, the end of a
silence). Nothing the operator sees comes later for it: a sample after a long quiet spell is
shown at once, a silence still runs out, diagnostics (comm state) still arrive every half
second when no sample does, and a station that cannot announce its samples is still drained.

The station here is the real snapshot buffer the core feeds, behind the few methods the bridge
calls; samples and alarm changes are pushed from another thread, as the core does."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QLabel

from app.core.alarms.annunciation import Annunciation, Convention, Due
from app.core.model import Quality, Sample
from app.core.snapshot import SnapshotBuffer
from app.ui.annunciator import Annunciator
from app.ui.bridge import CoreBridge
from tests.ui.bridge_station import BufferStation, NotifyingStation, sample


def test_a_quiet_station_is_not_drained_25_times_a_second(qtbot: Any, bridge: CoreBridge,
                                                          station: NotifyingStation) -> None:
    assert bridge.event_driven
    qtbot.wait(300)  # the first drain, at start
    before = station.drains
    qtbot.wait(2000)
    # the half-second heartbeat only (4 in 2 s), where a free-running 25 Hz timer drains 50 times
    assert station.drains - before <= 6


def test_a_sample_after_a_long_quiet_spell_is_shown_at_once(qtbot: Any, bridge: CoreBridge,
                                                            station: NotifyingStation) -> None:
    qtbot.wait(1500)
    got: list[list[Sample]] = []
    bridge.samples.connect(got.append)
    beats = station.drains
    station.push([sample(7)])
    qtbot.waitUntil(lambda: bool(got), timeout=2000)
    assert [s.value for s in got[0]] == [7.0]
    # the wake-up brought it, not the heartbeat: one drain, not a wait for the next beat
    assert station.drains - beats <= 2


def test_many_batches_in_a_burst_arrive_whole_in_order_in_few_drains(qtbot: Any, bridge: CoreBridge,
                                                                     station: NotifyingStation) -> None:
    got: list[float] = []
    emissions: list[int] = []

    def on_samples(batch: list[Sample]) -> None:
        emissions.append(len(batch))
        got.extend(float(s.value) for s in batch)  # type: ignore[arg-type]

    bridge.samples.connect(on_samples)

    def produce() -> None:
        for i in range(200):
            station.buffer.on_samples([sample(i)])

    t = threading.Thread(target=produce)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: len(got) == 200, timeout=3000)
    assert got == [float(i) for i in range(200)]
    assert len(emissions) < 200  # coalesced: batches waiting together are drained together


def test_batches_landing_moments_apart_are_drained_together(qtbot: Any, station: NotifyingStation) -> None:
    """Devices polled on the same beat finish a few milliseconds apart: the bridge gathers them
    into one drain (one pass to the screen), and a heartbeat in between does not split them."""
    parent = QObject()
    b = CoreBridge(station, parent, gather_s=0.3, diagnostics_every_s=0.05)  # type: ignore[arg-type]
    b.start()
    try:
        qtbot.wait(300)  # the first beats, with nothing waiting
        emissions: list[list[Sample]] = []
        b.samples.connect(emissions.append)

        def poll_two_devices() -> None:
            station.buffer.on_samples([sample(1, "meter.power")])
            time.sleep(0.1)  # several heartbeats pass meanwhile
            station.buffer.on_samples([sample(2, "tank.level")])

        t = threading.Thread(target=poll_two_devices)
        t.start()
        qtbot.waitUntil(lambda: sum(len(e) for e in emissions) == 2, timeout=3000)
        t.join()
        assert [[s.tag for s in e] for e in emissions] == [["meter.power", "tank.level"]]
    finally:
        b.stop()


def test_an_alarm_change_wakes_the_bridge(qtbot: Any, bridge: CoreBridge, station: NotifyingStation) -> None:
    qtbot.wait(700)
    assert station.alarm_listener is not None
    view = type("View", (), {"id": "tank.level:HI"})()
    with qtbot.waitSignal(bridge.alarms_changed, timeout=2000) as sig:
        threading.Thread(target=station.alarm_listener, args=(view,)).start()
    assert [v.id for v in sig.args[0]] == ["tank.level:HI"]


def test_diagnostics_keep_coming_when_no_sample_does(qtbot: Any, bridge: CoreBridge) -> None:
    seen: list[float] = []
    bridge.diagnostics.connect(lambda _d: seen.append(time.monotonic()))
    qtbot.waitUntil(lambda: len(seen) >= 3, timeout=4000)  # comm state and staleness stay current


def test_while_samples_flow_diagnostics_come_with_the_drains_not_on_a_heartbeat(
    qtbot: Any, bridge: CoreBridge, station: NotifyingStation
) -> None:
    """A drain brings the diagnostics when they are due, so a plant that is being polled does
    not also wake the GUI thread twice a second for them; they keep coming all the same."""
    qtbot.wait(300)
    beats: list[int] = []
    bridge._heartbeat.timeout.connect(lambda: beats.append(1))
    seen: list[object] = []
    bridge.diagnostics.connect(seen.append)
    stop = threading.Event()

    def poll() -> None:  # a device polled ten times a second
        i = 0
        while not stop.wait(0.1):
            i += 1
            station.buffer.on_samples([sample(i)])

    t = threading.Thread(target=poll)
    t.start()
    try:
        qtbot.wait(2500)
    finally:
        stop.set()
        t.join()
    assert len(seen) >= 3  # comm state and staleness stay current
    assert len(beats) <= 1  # a heartbeat every half second would have fired five times


def test_a_station_that_cannot_announce_samples_is_drained_on_a_timer(qtbot: Any) -> None:
    station = BufferStation()
    parent = QObject()
    b = CoreBridge(station, parent)  # type: ignore[arg-type]
    assert not b.event_driven
    b.start()
    try:
        got: list[list[Sample]] = []
        b.samples.connect(got.append)
        qtbot.wait(500)
        station.push([sample(3)])
        qtbot.waitUntil(lambda: bool(got), timeout=2000)
        assert [s.value for s in got[0]] == [3.0]
    finally:
        b.stop()


def test_the_buffer_announces_only_when_samples_start_waiting() -> None:
    buf = SnapshotBuffer()
    calls: list[int] = []
    buf.notify(lambda: calls.append(1))
    buf.on_samples([sample(1)])
    buf.on_samples([sample(2)])  # still waiting: no second announcement
    assert calls == [1]
    assert [s.value for s in buf.drain()] == [1.0, 2.0]
    buf.on_samples([])  # nothing to wait for
    assert calls == [1]
    buf.on_samples([sample(3)])
    assert calls == [1, 1]
    buf.notify(None)
    buf.drain()
    buf.on_samples([sample(4)])
    assert calls == [1, 1]


# -- the annunciator ------------------------------------------------------------------------------

class Alarm:
    def __init__(self, aid: str, priority: str = "high", state: str = "unack_active") -> None:
        self.id, self.priority, self.state, self.device = aid, priority, state, "tank"


class Views:
    """The window's alarm list as the annunciator reads it; counts the reads (= its wake-ups)."""

    def __init__(self) -> None:
        self.alarms: list[Alarm] = []
        self.reads = 0

    def __call__(self) -> list[Alarm]:
        self.reads += 1
        return list(self.alarms)


@pytest.fixture
def quiet(qtbot: Any) -> Any:
    views = Views()
    chip = QLabel("")  # the banner's priority chip, which flashes
    ann = Annunciator(views, Annunciation(), chip=chip, poll=False)
    assert not ann.audio.available  # no sound server in the tests: the flashing and deadlines remain
    yield ann, views
    ann.stop()


def test_a_quiet_annunciator_sleeps(qtbot: Any, quiet: Any) -> None:
    ann, views = quiet
    qtbot.wait(200)
    before = views.reads
    qtbot.wait(1500)
    assert views.reads == before  # polling would have read the list 15 times
    assert ann.due is None and not ann.flashing


def test_a_new_alarm_wakes_it_and_flashes_at_once(qtbot: Any, quiet: Any) -> None:
    ann, views = quiet
    qtbot.wait(300)
    views.alarms.append(Alarm("tank.level:HIHI", "urgent"))
    ann.wake()
    qtbot.waitUntil(lambda: ann.due is not None, timeout=2000)
    assert ann.due == Due("urgent", Convention.PLANT, ("tank.level:HIHI",))
    assert ann.flashing
    views.alarms[0].state = "ack_active"
    ann.wake()
    qtbot.waitUntil(lambda: ann.due is None and not ann.flashing, timeout=2000)


def test_a_silence_runs_out_on_time_while_nothing_else_happens(qtbot: Any, quiet: Any) -> None:
    ann, views = quiet
    views.alarms.append(Alarm("tank.level:HI", "high"))
    ann.wake()
    qtbot.waitUntil(lambda: ann.due is not None, timeout=2000)
    changes: list[float] = []
    ann.changed.connect(lambda: changes.append(time.monotonic()))
    ann.silence(0.8)
    assert ann.due is None and ann.policy.is_silenced(time.time()) and ann.flashing
    silenced_at = time.monotonic()
    reads = views.reads
    # nobody calls wake(): the end of the silence is the annunciator's own deadline
    qtbot.waitUntil(lambda: ann.due is not None, timeout=4000)
    assert time.monotonic() - silenced_at >= 0.75  # not before the silence ended
    assert ann.due is not None and ann.due.alarms == ("tank.level:HI",)
    assert changes  # the banner was told ("silenced until" goes, the sound is due again)
    assert views.reads - reads <= 3  # woken for the deadline, not polled through the silence


def test_without_a_signal_it_still_polls(qtbot: Any) -> None:
    views = Views()
    ann = Annunciator(views, Annunciation())
    try:
        qtbot.wait(200)
        views.alarms.append(Alarm("pump.vibration:HI", "medium"))
        qtbot.waitUntil(lambda: ann.due is not None, timeout=2000)  # nobody woke it
    finally:
        ann.stop()


# -- the window on the real demo plant ------------------------------------------------------------

def test_with_no_sample_at_all_the_overview_still_marks_values_stale_on_time(qtbot: Any, window: Any,
                                                                             core: Any) -> None:
    """Staleness is decided by time, not by samples: when polling stops, nothing wakes the
    bridge any more, and the overview must still stop showing the last values as good."""
    from tests.ui.conftest import wait_for_good

    view = window.displays
    assert view.scene is not None
    items = view.scene.items_by_key["tank.level"]
    assert items, "the overview shows the tank level"
    wait_for_good(qtbot, window, "tank.level")
    qtbot.waitUntil(lambda: all(i._look is not None and Quality.GOOD in i._look for i in items), timeout=5000)
    core.runtime.stop()  # no poll, no sample, no wake-up from the station from now on
    stopped = time.monotonic()
    # STALE after three poll periods (500 ms) and a second, seen by the display's own clock
    qtbot.waitUntil(lambda: all(Quality.STALE in i._look for i in items), timeout=8000)
    assert time.monotonic() - stopped >= 2.0
    assert view.live.view("tank.level").quality is Quality.STALE


def test_a_once_mode_burst_is_over_when_it_has_played_without_being_woken(qtbot: Any) -> None:
    views = Views()
    ann = Annunciator(views, Annunciation({"medium": "once"}), chip=QLabel(""), poll=False)
    try:
        views.alarms.append(Alarm("pump.vibration:HI", "medium"))
        ann.wake()
        qtbot.waitUntil(lambda: ann.due is not None, timeout=2000)
        # its one burst (0.9 s) played: nothing is due any more, and it stops looking
        qtbot.waitUntil(lambda: ann.due is None, timeout=4000)
        assert ann.flashing  # still unacknowledged: the banner keeps flashing
        reads = views.reads
        qtbot.wait(1000)
        assert views.reads == reads
    finally:
        ann.stop()
