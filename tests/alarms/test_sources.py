"""Where alarms come from: profiles (limits, discrete, bad quality), device health, and what
deadband, on-delay and sample quality do to them."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from app.core.alarms import AlarmError, AlarmState, plant_alarms
from app.core.model import Quality
from tests.alarms.conftest import Rig, make_plant

S = AlarmState


def test_plant_alarm_ids_priorities_and_no_per_tag_comm_alarms() -> None:
    defs = {d.id: d for d in plant_alarms(make_plant())}
    tank = sorted(i for i in defs if i.startswith("tank.") or i.startswith("tank:"))
    assert tank == [
        "tank.level:BAD", "tank.level:HI", "tank.level:HIHI", "tank.level:LO", "tank.level:LOLO",
        "tank.overflow:BAD", "tank.overflow:STATE",
        "tank.pressure:BAD", "tank.pressure:HI",
        "tank:COMM", "tank:DEVICE",
    ]  # temperature has no limits: no BAD alarm for it (it would only add noise)
    assert defs["tank.level:HIHI"].priority.label == "high"
    assert defs["tank.level:LOLO"].priority.label == "high"
    assert defs["tank.level:HI"].priority.label == "medium"
    assert defs["tank:COMM"].priority.label == "high"
    assert defs["tank.pressure:HI"].priority.label == "urgent"  # the point's override
    assert defs["tank.level:HI"].deadband == 2.0 and defs["tank.pressure:HI"].on_delay_s == 5.0
    assert "tank2:COMM" in defs


def test_deadband_holds_alarm_until_value_clears_it(rig: Rig) -> None:
    rig.feed("tank.level", 80.0)  # at the limit: active
    assert rig.state("tank.level:HI") == S.UNACK_ACTIVE
    for v in (79.0, 78.5, 79.9, 78.01):  # inside the 2.0 deadband: still active
        rig.feed("tank.level", v)
        assert rig.state("tank.level:HI") == S.UNACK_ACTIVE
    rig.feed("tank.level", 77.99)
    assert rig.state("tank.level:HI") == S.UNACK_RTN
    rig.feed("tank.level", 79.5)  # below the limit itself: does not re-raise
    assert rig.state("tank.level:HI") == S.UNACK_RTN


def test_low_alarm_deadband(rig: Rig) -> None:
    rig.feed("tank.level", 9.0)
    assert rig.state("tank.level:LO") == S.UNACK_ACTIVE
    rig.feed("tank.level", 11.5)
    assert rig.state("tank.level:LO") == S.UNACK_ACTIVE
    rig.feed("tank.level", 12.5)
    assert rig.state("tank.level:LO") == S.UNACK_RTN


def test_on_delay_ignores_short_excursions(rig: Rig) -> None:
    rig.feed("tank.pressure", 60.0)
    rig.clock.advance(4.9)
    rig.feed("tank.pressure", 60.0)
    assert rig.state("tank.pressure:HI") == S.NORMAL
    rig.feed("tank.pressure", 40.0)  # dips below: the delay starts over
    rig.clock.advance(1)
    rig.feed("tank.pressure", 60.0)
    rig.clock.advance(4.9)
    rig.feed("tank.pressure", 60.0)
    assert rig.state("tank.pressure:HI") == S.NORMAL
    rig.clock.advance(0.2)
    rig.feed("tank.pressure", 61.0)
    assert rig.state("tank.pressure:HI") == S.UNACK_ACTIVE
    body = next(b for _, k, _, b in rig.events() if k == "alarm.transition")
    assert body["value"] == 61.0 and body["limit"] == 50.0


def test_discrete_alarm_follows_abnormal_state(rig: Rig) -> None:
    rig.feed("tank.overflow", False)
    assert rig.state("tank.overflow:STATE") == S.NORMAL
    rig.feed("tank.overflow", True)
    assert rig.state("tank.overflow:STATE") == S.UNACK_ACTIVE
    rig.feed("tank.overflow", False)
    assert rig.state("tank.overflow:STATE") == S.UNACK_RTN


def test_bad_quality_raises_bad_alarm_and_holds_limit_alarms(rig: Rig) -> None:
    from app.core.model import Sample

    rig.feed("tank.level", 95.0)
    # one point refused while another of the same device reads fine: the point's own fault
    rig.engine.on_samples([Sample("tank.level", None, Quality.BAD_DEVICE, rig.clock()),
                           Sample("tank.pressure", 1.0, Quality.GOOD, rig.clock())])
    assert rig.state("tank:DEVICE") == S.NORMAL
    assert rig.state("tank.level:BAD") == S.UNACK_ACTIVE
    # the last known state is held: a value we cannot read is never reported as back to normal
    assert rig.state("tank.level:HIHI") == S.UNACK_ACTIVE
    rig.feed("tank.level", 50.0)
    assert rig.state("tank.level:BAD") == S.UNACK_RTN
    assert rig.state("tank.level:HIHI") == S.UNACK_RTN


def test_nan_and_garbage_values_are_bad_not_crashes(rig: Rig) -> None:
    rig.feed("tank.level", math.nan)
    assert rig.state("tank.level:BAD") == S.UNACK_ACTIVE
    assert rig.engine.alarm("tank.level:BAD").value.startswith("unusable value")
    rig.feed("tank.level", "garbage")
    rig.feed("tank.level", 50.0)
    assert rig.state("tank.level:BAD") == S.UNACK_RTN
    assert rig.engine.sink_errors == 0
    # the journal accepted the NaN as text (JSON has no NaN)
    assert any(b.get("alarm") == "tank.level:BAD" for _, _, _, b in rig.events())


def test_comm_loss_is_one_device_alarm_not_one_per_tag(rig: Rig) -> None:
    for tag in ("tank.level", "tank.pressure", "tank.overflow", "tank.temperature"):
        rig.feed(tag, None, Quality.BAD_COMM)
    rig.clock.advance(rig.engine.comm_on_delay_s)  # still not answering after the on-delay
    for tag in ("tank.level", "tank.pressure", "tank.overflow", "tank.temperature"):
        rig.feed(tag, None, Quality.BAD_COMM)
    active = [v.id for v in rig.engine.alarms() if v.state.annunciating]
    assert active == ["tank:COMM"]
    rig.feed("tank.level", 50.0)  # the device answers again
    assert rig.state("tank:COMM") == S.UNACK_RTN


def test_device_state_raises_and_clears_comm_alarm(rig: Rig) -> None:
    rig.engine.on_device_state("tank2", False, "connection refused")
    rig.clock.advance(rig.engine.comm_on_delay_s)
    rig.engine.on_device_state("tank2", False, "connection refused")
    v = rig.engine.alarm("tank2:COMM")
    assert v.state == S.UNACK_ACTIVE and v.value == "connection refused"
    rig.engine.acknowledge("tank2:COMM", "alice")
    rig.engine.on_device_state("tank2", True, "")
    assert rig.state("tank2:COMM") == S.NORMAL
    rig.engine.on_device_state("no_such_device", False, "x")  # ignored, no crash


def test_uncertain_values_neither_raise_nor_clear(rig: Rig) -> None:
    rig.feed("tank.level", 95.0)
    rig.feed("tank.level", 50.0, Quality.UNCERTAIN)
    assert rig.state("tank.level:HIHI") == S.UNACK_ACTIVE
    rig.feed("tank.level", 99.0, Quality.UNCERTAIN)
    assert rig.state("tank.level:BAD") == S.NORMAL


def test_unwatched_tags_and_mixed_batches(rig: Rig, clock) -> None:
    from app.core.model import Sample

    batch = [
        Sample("tank.temperature", 500.0, Quality.GOOD, clock()),
        Sample("other.thing", 1.0, Quality.GOOD, clock()),
        Sample("tank.level", 95.0, Quality.GOOD, clock()),
        Sample("tank2.level", 3.0, Quality.GOOD, clock()),
    ]
    rig.engine.on_samples(batch)
    active = sorted(v.id for v in rig.engine.alarms() if v.state.annunciating)
    # HI under HIHI and LO under LOLO are suppressed by design
    assert active == ["tank.level:HIHI", "tank2.level:LOLO"]


# ------------------------------------------------------------ communication loss on-delay

def test_one_lost_reply_raises_no_comm_alarm(rig: Rig) -> None:
    """The TCP driver drops the connection after one timeout and the runtime reports the
    device offline; if it answers again within the on-delay, nothing is annunciated."""
    assert rig.engine.comm_on_delay_s == 2.0
    rig.engine.on_device_state("tank", False, "timeout")
    rig.feed("tank.level", None, Quality.BAD_COMM)  # the samples themselves are BAD at once
    rig.clock.advance(1.5)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.NORMAL
    rig.engine.on_device_state("tank", True, "")
    rig.feed("tank.level", 50.0)
    rig.clock.advance(10)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.NORMAL
    assert not [t for t in rig.transitions() if t[0] == "tank:COMM"]


def test_comm_alarm_rises_on_the_tick_after_the_delay_without_further_reports(rig: Rig) -> None:
    rig.engine.on_device_state("tank", False, "connection refused")
    rig.clock.advance(1.9)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.NORMAL
    rig.clock.advance(0.1)
    rig.engine.tick()  # what the engine's 1 s ticker does with the real clock
    v = rig.engine.alarm("tank:COMM")
    assert v.state == S.UNACK_ACTIVE and v.value == "connection refused"
    # the alarm carries the time it activated, not when the trouble began
    assert v.activated_at == rig.clock()
    rig.engine.on_device_state("tank", True, "")
    assert rig.state("tank:COMM") == S.UNACK_RTN


def test_bad_comm_samples_rise_after_the_delay_and_a_good_sample_cancels(rig: Rig) -> None:
    rig.feed("tank.level", None, Quality.BAD_COMM)
    rig.clock.advance(1.0)
    rig.feed("tank.level", 50.0)  # answered within the delay: the clock restarts
    rig.clock.advance(1.5)
    rig.feed("tank.level", None, Quality.BAD_COMM)
    rig.clock.advance(1.5)
    rig.feed("tank.level", None, Quality.BAD_COMM)
    assert rig.state("tank:COMM") == S.NORMAL  # 1.5 s of continuous loss, not 4
    rig.clock.advance(0.5)
    rig.feed("tank.temperature", None, Quality.BAD_COMM)
    assert rig.state("tank:COMM") == S.UNACK_ACTIVE


def test_comm_on_delay_per_engine_and_per_device(tmp_path) -> None:
    from app.core.alarms import AlarmEngine
    from app.core.journal import Journal
    from tests.alarms.conftest import Clock

    clock = Clock()
    journal = Journal.open(tmp_path / "journal", clock=clock)
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite", clock=clock, comm_on_delay_s=5.0)
    defs = [replace(d, on_delay_s=0.0) if d.id == "tank2:COMM" else d for d in plant_alarms(make_plant())]
    engine.configure_definitions(defs)
    try:
        engine.on_device_state("tank", False, "down")
        engine.on_device_state("tank2", False, "down")
        assert engine.alarm("tank2:COMM").state == S.UNACK_ACTIVE  # its definition: no delay
        clock.advance(4.9)
        engine.tick()
        assert engine.alarm("tank:COMM").state == S.NORMAL  # the engine's 5 s
        clock.advance(0.1)
        engine.tick()
        assert engine.alarm("tank:COMM").state == S.UNACK_ACTIVE
        with pytest.raises(AlarmError, match="comm_on_delay_s"):
            AlarmEngine(journal, tmp_path / "other.sqlite", clock=clock, comm_on_delay_s=-1)
    finally:
        engine.close()
        journal.close()
