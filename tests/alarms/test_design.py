"""Alarm handling an operator can trust (issue 15), in the engine: suppression by design, one
alarm for one device fault, the flood ending when the list is empty, first-out time, the
feedback deviation alarm, off-delay and the chattering flag. Real journal, real state file,
a hand-driven clock."""

from __future__ import annotations

from pathlib import Path

from app.core.alarms import AlarmQuery, AlarmState
from app.core.model import Quality, Sample
from app.core.plant import parse_plant
from app.core.profiles import ProfileLibrary, parse_profile
from tests.alarms.conftest import Clock, Rig

S = AlarmState

VALVE_PROFILE = b"""
[device]
id = "test_valve"

[[points]]
name = "setpoint"
unit = "%"
table = "holding"
address = 0
type = "uint16"
scale = 0.1
access = "rw"
min = 0.0
max = 100.0
feedback = "position"
feedback_tolerance = 5.0
feedback_time_s = 10.0

[[points]]
name = "position"
unit = "%"
table = "input"
address = 0
type = "uint16"
scale = 0.1

[[points]]
name = "vibration"
table = "input"
address = 1
type = "uint16"
hi = 5.0
off_delay_s = 30.0
"""


def _valve_rig(tmp_path: Path, clock: Clock) -> Rig:
    lib = ProfileLibrary()
    lib.add(parse_profile(VALVE_PROFILE, "test_valve.toml"))
    plant = parse_plant(b'[plant]\nname="v"\n[[devices]]\nname="v1"\nprofile="test_valve"\n'
                        b'host="127.0.0.1"\nport=5020\n',
                        "plant.toml", lib)
    return Rig(tmp_path, clock, plant)


_NORMAL = {"tank.level": 50.0, "tank.pressure": 10.0, "tank.overflow": False}


def _poll(rig: Rig, quality: Quality) -> None:
    """One device poll of ``tank`` in which every point came back with ``quality``."""
    rig.engine.on_samples([Sample(t, v if quality is Quality.GOOD else None, quality, rig.clock())
                           for t, v in _NORMAL.items()])


def test_hi_is_suppressed_while_hihi_is_active_and_returns_after(rig: Rig) -> None:
    rig.feed("tank.level", 95.0)  # above HI 80 and HIHI 90 in one step
    assert rig.state("tank.level:HIHI") == S.UNACK_ACTIVE
    hi = rig.engine.alarm("tank.level:HI")
    assert hi.state == S.SUPPRESSED and hi.condition  # tracked, not annunciated
    assert hi.suppressed_rule == "tank.level:HIHI" and "tank.level:HIHI" in (hi.suppressed_reason or "")
    # HI never annunciated: the journal has no unack_active for it
    assert not [t for t in rig.transitions() if t[0] == "tank.level:HI" and t[2] == "unack_active"]
    rig.feed("tank.level", 85.0)  # HIHI clears (below 90 - deadband 2), HI still high
    assert rig.state("tank.level:HIHI") == S.UNACK_RTN
    assert rig.state("tank.level:HI") == S.UNACK_ACTIVE
    rig.feed("tank.level", 95.0)
    rig.engine.acknowledge_all(None, "olga")
    rig.feed("tank.level", 50.0)  # straight down from above HIHI: HI never sounds on the way
    assert rig.state("tank.level:HI") == S.NORMAL
    assert len([t for t in rig.transitions() if t[0] == "tank.level:HI" and t[2] == "unack_active"]) == 1
    rig.feed("tank.level", 3.0)  # LOLO and LO: only LOLO annunciates
    assert rig.state("tank.level:LOLO") == S.UNACK_ACTIVE
    assert rig.state("tank.level:LO") == S.SUPPRESSED
    # the suppressed view and the history keep it
    rows = rig.engine.history(AlarmQuery(alarm_id="tank.level:LO"))
    assert [r["to_state"] for r in rows if r["event"] == "transition"] == ["suppressed"]
    assert any(r["event"] == "suppress" and r["actor"] == "system" for r in rows)


def test_a_device_answering_exceptions_is_one_device_alarm_and_its_points_are_suppressed(rig: Rig) -> None:
    _poll(rig, Quality.GOOD)
    for _ in range(5):  # a 5-poll exception burst
        rig.clock.advance(1)
        _poll(rig, Quality.BAD_DEVICE)
    assert rig.state("tank:DEVICE") == S.UNACK_ACTIVE
    annunciating = [v.id for v in rig.engine.alarms() if v.state.annunciating]
    assert annunciating == ["tank:DEVICE"]  # one fault, one alarm
    for bad in ("tank.level:BAD", "tank.pressure:BAD", "tank.overflow:BAD"):
        v = rig.engine.alarm(bad)
        assert v.state == S.SUPPRESSED and v.condition and v.suppressed_rule == "tank:DEVICE"
    rig.clock.advance(1)
    _poll(rig, Quality.GOOD)  # answers again
    assert rig.state("tank:DEVICE") == S.UNACK_RTN
    assert rig.state("tank.level:BAD") == S.NORMAL  # back through normal, never annunciated
    bad_activations = [t for t in rig.transitions() if t[0].endswith(":BAD") and t[2] == "unack_active"]
    assert bad_activations == []
    # history: the point alarms are recorded as suppressed
    rows = rig.engine.history(AlarmQuery(tag="tank"))
    suppressed = {r["alarm_id"] for r in rows if r["to_state"] == "suppressed"}
    assert suppressed >= {"tank.level:BAD", "tank.pressure:BAD"}


def test_comm_loss_suppresses_the_points_bad_alarms(rig: Rig) -> None:
    rig.engine.on_device_state("tank", False, "no answer")
    rig.clock.advance(5)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.UNACK_ACTIVE
    assert rig.state("tank.level:BAD") == S.SUPPRESSED
    rig.engine.on_device_state("tank", True, "modbus tcp 127.0.0.1: cannot connect")
    comm = rig.engine.alarm("tank:COMM")
    assert comm.state == S.UNACK_RTN and comm.value == "answering again"  # not the old error
    assert rig.state("tank.level:BAD") == S.NORMAL


def test_the_flood_ends_when_nothing_is_left_on_the_list(rig: Rig) -> None:
    ids = []
    for i in range(12):  # 12 new alarms in 12 s: a flood
        rig.feed("tank.overflow", True)
        rig.clock.advance(0.5)
        rig.feed("tank.overflow", False)
        rig.clock.advance(0.5)
        ids.append(i)
    assert rig.engine.in_flood
    rig.engine.acknowledge_all(None, "olga")
    assert all(not v.state.annunciating for v in rig.engine.alarms())
    assert not rig.engine.in_flood  # 12 s later, not 10 minutes later
    k = rig.engine.kpis()
    assert k["floods"] == 1 and k["time_in_flood_s"] < 20


def test_first_out_time_stays_while_the_alarm_is_worked(rig: Rig, clock: Clock) -> None:
    t0 = clock()
    rig.feed("tank.overflow", True)
    clock.advance(10)
    rig.feed("tank.overflow", False)  # cleared, unacknowledged
    clock.advance(10)
    rig.feed("tank.overflow", True)  # back before anyone acknowledged: the same episode
    v = rig.engine.alarm("tank.overflow:STATE")
    assert v.first_out == t0 and v.last_change == t0 + 20
    rig.engine.acknowledge("tank.overflow:STATE", "olga")
    assert rig.engine.alarm("tank.overflow:STATE").first_out == t0
    clock.advance(5)
    rig.feed("tank.overflow", False)  # acknowledged and cleared: the episode ends
    assert rig.engine.alarm("tank.overflow:STATE").first_out is None


def test_feedback_that_does_not_follow_raises_a_deviation_alarm(tmp_path: Path, clock: Clock) -> None:
    rig = _valve_rig(tmp_path, clock)
    try:
        def poll(sp: float, pos: float) -> None:
            rig.engine.on_samples([Sample("v1.setpoint", sp, Quality.GOOD, clock()),
                                   Sample("v1.position", pos, Quality.GOOD, clock())])

        poll(50.0, 50.0)
        poll(10.0, 100.0)  # written 10 %, the valve stays at 100 %
        clock.advance(5)
        poll(10.0, 100.0)
        assert rig.state("v1.setpoint:FEEDBACK") == S.NORMAL  # it may take its time
        clock.advance(6)
        poll(10.0, 100.0)
        v = rig.engine.alarm("v1.setpoint:FEEDBACK")
        assert v.state == S.UNACK_ACTIVE and v.value == 100.0
        poll(10.0, 12.0)  # follows again (within 5 %)
        assert rig.state("v1.setpoint:FEEDBACK") == S.UNACK_RTN
        # a valve that moves in time raises nothing
        rig.engine.acknowledge("v1.setpoint:FEEDBACK", "olga")
        poll(80.0, 12.0)
        clock.advance(4)
        poll(80.0, 78.0)
        clock.advance(20)
        poll(80.0, 80.0)
        assert rig.state("v1.setpoint:FEEDBACK") == S.NORMAL
    finally:
        rig.close()


def test_off_delay_holds_a_chattering_alarm_and_the_chattering_flag(tmp_path: Path, clock: Clock) -> None:
    rig = _valve_rig(tmp_path, clock)
    try:
        rig.feed("v1.vibration", 6.0)
        assert rig.state("v1.vibration:HI") == S.UNACK_ACTIVE
        clock.advance(10)
        rig.feed("v1.vibration", 1.0)  # gone for 10 s of its 30 s off-delay: still active
        assert rig.state("v1.vibration:HI") == S.UNACK_ACTIVE
        clock.advance(10)
        rig.feed("v1.vibration", 6.0)  # back: the off-delay starts over
        clock.advance(25)
        rig.feed("v1.vibration", 1.0)
        clock.advance(25)
        rig.feed("v1.vibration", 1.0)
        assert rig.state("v1.vibration:HI") == S.UNACK_ACTIVE
        clock.advance(6)
        rig.feed("v1.vibration", 1.0)  # 31 s gone: clears
        assert rig.state("v1.vibration:HI") == S.UNACK_RTN
        # without the off-delay it would chatter: set it to 0 and flap it 5 times
        rig.engine.set_off_delay("v1.vibration:HI", "eve", 0.0)
        for _ in range(5):
            clock.advance(10)
            rig.feed("v1.vibration", 6.0)
            clock.advance(10)
            rig.feed("v1.vibration", 1.0)
        v = rig.engine.alarm("v1.vibration:HI")
        assert v.chattering and v.activations_recent == 6 and v.off_delay_s == 0.0
        assert any(k == "alarm.off_delay" and a == "eve" for _, k, a, _ in rig.events())
    finally:
        rig.close()
