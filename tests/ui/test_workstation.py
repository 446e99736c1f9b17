"""The workstation on the real demo plant: real simulator over Modbus TCP, real historian,
alarm engine and signed journal, driven through the widgets an operator uses."""

from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import Qt

from app.core.journal import read_events
from app.core.model import Quality
from app.sim.faults import parse_fault
from app.ui import alarm_fields as af
from app.ui.tag_table import COL_ALARM, COL_QUALITY, COL_VALUE
from tests.ui.conftest import OPERATOR, sim_values, wait_for_good


def cell(win: Any, tag: str, col: int) -> str:
    model = win.tag_model
    return model.data(model.index(model.row_index(tag), col))


def journal_events(core: Any, kind: str) -> list[Any]:
    core.journal.flush(timeout=5.0)
    return read_events(core.data_dir / "journal", kind=kind)


def test_values_from_the_devices_appear_in_the_tag_table(qtbot, window, core):
    wait_for_good(qtbot, window, "tank.level")
    wait_for_good(qtbot, window, "pump.tag_label")
    # a string register decoded end to end: simulator -> Modbus TCP -> codec -> bridge -> table
    assert cell(window, "pump.tag_label", COL_VALUE) == "P-101 SKAB"
    assert cell(window, "tank.level", COL_QUALITY) == "good"
    shown = float(cell(window, "tank.level", COL_VALUE))
    truth = sim_values(core)["tank"]["level"]
    assert math.isclose(shown, truth, abs_tol=1.0), (shown, truth)
    # every enabled device's points get a value, with its unit beside it
    qtbot.waitUntil(
        lambda: all(window.tag_model.row(i).quality is not None for i in range(window.tag_model.rowCount())),
        timeout=5000,
    )
    row = window.tag_model.row_of("tank.level")
    assert row is not None and row.unit == "%"


def test_tank_overflow_alarm_is_acknowledged_through_the_ui_and_journaled(qtbot, window, core):
    wait_for_good(qtbot, window, "tank.level")
    # drive the real plant into an overflow: valve wide open, outlet pump off, simulated time x20
    core.write_setpoint("tank", "valve_setpoint", 100.0)
    core.write_setpoint("tank", "pump_run", False)
    core.simulator.simulator.speed = 20.0
    alarm_id = "tank.level:HIHI"  # HI is suppressed by design under HIHI (issue 15)
    panel = window.alarm_panel

    def listed() -> None:
        assert alarm_id in window.alarm_model.visible_ids()

    qtbot.waitUntil(listed, timeout=15000)
    view = window.alarm_model.by_id(alarm_id)
    assert af.state(view) == "unack_active" and af.priority(view) == "high"
    assert "tank.level" in window.banner.text.text() or window.banner.chip.text()
    # the tag table shows the alarm beside the value: its kind and state, priority as colour
    assert cell(window, "tank.level", COL_ALARM).startswith("HIHI: ACTIVE")
    bg = window.tag_model.data(window.tag_model.index(window.tag_model.row_index("tank.level"), COL_ALARM),
                               Qt.ItemDataRole.BackgroundRole)
    assert bg.name() == window.scheme.alarm_color("high").name()

    assert panel.select(alarm_id)
    qtbot.mouseClick(panel.ack_btn, Qt.MouseButton.LeftButton)

    def acked() -> None:
        v = window.alarm_model.by_id(alarm_id)
        assert af.state(v) in ("ack_active", "normal") and v.acked_by == OPERATOR[0]

    qtbot.waitUntil(acked, timeout=5000)
    acks = [
        e
        for e in journal_events(core, "alarm.ack")
        if e.body.get("alarm") == alarm_id or alarm_id in str(e.body)
    ]
    assert acks, "the acknowledgement was not journaled"
    assert acks[-1].actor == OPERATOR[0]


def test_setpoint_dialog_refuses_out_of_range_writes_and_reads_back(qtbot, window, core):
    wait_for_good(qtbot, window, "tank.valve_setpoint")
    dlg = window.open_setpoint("tank.valve_setpoint")
    assert dlg is not None  # owned by the window, deleted on close
    assert "0.00 … 100.00 %" in dlg.limits.text()

    qtbot.keyClicks(dlg.entry, "150")
    assert not dlg.write_btn.isEnabled()
    assert "above the highest allowed value" in dlg.problem.text()

    dlg.entry.clear()
    qtbot.keyClicks(dlg.entry, "37.55")  # the register holds tenths of a percent
    assert not dlg.write_btn.isEnabled() and "steps of 0.1" in dlg.problem.text()
    dlg.entry.clear()
    qtbot.keyClicks(dlg.entry, "37.5")
    # polling goes on while the operator types: the label follows the device, the entry does not
    updates = []
    window.bridge.samples.connect(
        lambda batch: updates.extend(s for s in batch if s.tag == "tank.valve_setpoint")
    )
    qtbot.waitUntil(lambda: len(updates) >= 2, timeout=3000)
    assert dlg.entry.text() == "37.5"
    assert "50.00 %" in dlg.current.text()

    qtbot.mouseClick(dlg.write_btn, Qt.MouseButton.LeftButton)
    assert dlg.confirm_btn.isVisible() and "37.50 %" in dlg.confirm_btn.text()
    assert math.isclose(sim_values(core)["tank"]["valve_setpoint"], 50.0)  # nothing sent before confirming
    qtbot.mouseClick(dlg.confirm_btn, Qt.MouseButton.LeftButton)

    qtbot.waitUntil(lambda: dlg.result is not None, timeout=5000)
    assert "reads back <b>37.50 %" in dlg.outcome.text()
    assert dlg.result.readback == 37.5 and dlg.result.old == 50.0
    assert sim_values(core)["tank"]["valve_setpoint"] == 37.5
    writes = journal_events(core, "setpoint.write")
    assert writes and writes[-1].actor == OPERATOR[0]
    assert writes[-1].body == {"tag": "tank.valve_setpoint", "old": 50.0, "new": 37.5, "readback": 37.5}
    dlg.close()


def test_a_device_that_dies_turns_bad_within_three_poll_intervals(qtbot, window, core):
    device = "vitals"
    interval_s = core.plant.device(device).interval_ms / 1000.0
    tags = [t for t in core.plant.tags() if t.startswith(device + ".")]
    for t in tags:
        wait_for_good(qtbot, window, t)
    qtbot.waitUntil(lambda: window.devices.state_of(device) == "online", timeout=3000)

    def kill(sim: Any) -> None:
        sim.model.faults = (*sim.model.faults, parse_fault(f"dead:{device}@{sim.model.t}"))

    core.simulator.call(kill)
    t_dead = time.monotonic()

    first_bad: dict[str, Quality | None] = {}

    def all_bad() -> None:
        for t in tags:
            row = window.tag_model.row_of(t)
            quality = window.tag_model.quality_of(row)
            if quality is not Quality.GOOD:
                first_bad.setdefault(t, quality)
            assert quality is not Quality.GOOD, t
            assert cell(window, t, COL_QUALITY) != "good"

    qtbot.waitUntil(all_bad, timeout=15_000)
    took = time.monotonic() - t_dead
    # turned bad by the first poll that failed (BAD_COMM), not later by the age rule (STALE after
    # three poll intervals and a second of grace) or the device's state
    assert set(first_bad.values()) == {Quality.BAD_COMM}, first_bad
    # the last value stays visible but is drawn struck through, never in the normal style
    model = window.tag_model
    idx = model.index(model.row_index(tags[0]), COL_VALUE)
    assert model.data(idx, Qt.ItemDataRole.FontRole).strikeOut()
    # the other devices are unaffected
    assert cell(window, "tank.level", COL_QUALITY) == "good"
    qtbot.waitUntil(lambda: window.devices.state_of(device) != "online", timeout=5000)
    qtbot.waitUntil(lambda: device in window.comm_label.text(), timeout=2000)
    print(f"{device} shown bad {took:.2f} s after it died (poll interval {interval_s:.1f} s)")


def test_trend_scrolls_back_into_history(qtbot, window, core):
    wait_for_good(qtbot, window, "tank.level_m")
    t_first = time.time()
    qtbot.wait(2500)  # let the historian record a couple of seconds
    core.historian.flush(timeout=5.0)
    trend = window.trend
    with qtbot.waitSignal(trend.history_loaded, timeout=8000, check_params_cb=lambda n: n > 0):
        pen = trend.add_pen("tank.level_m")
        added = time.time()
        # the pen's live buffer only starts now; earlier data can only come from the historian
        t0, t1 = t_first - 1.0, added - 0.3
        trend.item.vb.setXRange(t0, t1, padding=0)
        trend.item.vb.sigRangeChangedManually.emit([True, True])  # what a mouse drag emits
    qtbot.waitUntil(lambda: not trend._hist_busy, timeout=5000)
    trend.draw_frame(force=True)
    assert trend.paused
    xs, ys = pen.curve.getData()
    inside = (xs >= t0) & (xs <= t1)
    assert inside.sum() >= 3
    expected = core.historian.query(["tank.level_m"], t0, t1, max_points=2000)["tank.level_m"]
    for x, y in zip(xs[inside], ys[inside], strict=True):
        j = list(expected.t).index(x)
        assert math.isclose(y, expected.value[j])
    # the cursor readout reads the same history
    mid = float(xs[inside][len(xs[inside]) // 2])
    assert trend.readout_at(mid)["tank.level_m"] is not None
    trend.set_paused(False)
    assert not trend.paused


def test_the_bridge_delivers_samples_in_batches_not_one_signal_per_sample(qtbot, window, core):
    wait_for_good(qtbot, window, "tank.level")
    batches: list[int] = []
    window.bridge.samples.connect(lambda batch: batches.append(len(batch)))
    qtbot.wait(2000)
    ticks_max = 2.0 * 1000 / window.bridge._timer.interval()
    assert batches, "no samples reached the screen"
    assert len(batches) <= ticks_max + 2  # at most one emission per 40 ms tick
    assert sum(batches) > 2 * len(batches)  # each emission carries many samples


def test_the_banner_shows_a_flood_only_during_a_flood(qtbot):
    from app.ui.alarm_panel import AlarmBanner, AlarmModel

    model = AlarmModel()
    banner = AlarmBanner()
    qtbot.addWidget(banner)
    banner.show()
    banner.update_from(model, in_flood=False)
    assert not banner.flood.isVisible()
    assert banner.text.text() == "No alarms need attention"
    banner.update_from(model, in_flood=True)
    assert banner.flood.isVisible() and banner.flood.text() == "ALARM FLOOD"
