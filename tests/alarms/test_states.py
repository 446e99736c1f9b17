"""The ISA-18.2 life cycle of one alarm, operator actions and their refusals, all journaled."""

from __future__ import annotations

import pytest

from app.core.alarms import AlarmError, AlarmState
from tests.alarms.conftest import Rig

S = AlarmState


def test_rise_ack_clear_is_journaled_with_actor_value_and_limit(rig: Rig) -> None:
    rig.feed("tank.level", 50.0)
    assert rig.state("tank.level:HI") == S.NORMAL
    rig.feed("tank.level", 85.0)
    assert rig.state("tank.level:HI") == S.UNACK_ACTIVE
    assert rig.state("tank.level:HIHI") == S.NORMAL
    rig.clock.advance(3)
    view = rig.engine.acknowledge("tank.level:HI", "alice")
    assert view.state == S.ACK_ACTIVE and view.acked_by == "alice" and view.acked_at == rig.clock()
    rig.feed("tank.level", 50.0)
    assert rig.state("tank.level:HI") == S.NORMAL

    events = [e for e in rig.events() if e[1].startswith("alarm.") and e[1] != "alarm.restored"]
    kinds = [(kind, actor, body.get("from"), body.get("to")) for _, kind, actor, body in events]
    assert kinds == [
        ("alarm.transition", "system", "normal", "unack_active"),
        ("alarm.ack", "alice", None, "ack_active"),
        ("alarm.transition", "alice", "unack_active", "ack_active"),
        ("alarm.transition", "system", "ack_active", "normal"),
    ]
    first = events[0][3]
    assert first["alarm"] == "tank.level:HI" and first["value"] == 85.0 and first["limit"] == 80.0
    assert first["priority"] == "medium"


def test_return_to_normal_before_ack_waits_for_ack(rig: Rig) -> None:
    rig.feed("tank.level", 95.0)
    assert rig.state("tank.level:HIHI") == S.UNACK_ACTIVE
    rig.feed("tank.level", 20.0)
    assert rig.state("tank.level:HIHI") == S.UNACK_RTN
    assert rig.engine.alarm("tank.level:HIHI").annunciating
    rig.engine.acknowledge("tank.level:HIHI", "bob")
    assert rig.state("tank.level:HIHI") == S.NORMAL


def test_unack_rtn_that_rises_again_is_unack_active(rig: Rig) -> None:
    rig.feed("tank.level", 3.0)
    rig.feed("tank.level", 50.0)
    assert rig.state("tank.level:LOLO") == S.UNACK_RTN
    rig.feed("tank.level", 3.0)
    assert rig.state("tank.level:LOLO") == S.UNACK_ACTIVE


def test_ack_in_normal_is_refused_with_a_clear_message(rig: Rig) -> None:
    with pytest.raises(AlarmError, match=r"'tank\.level:HI' is normal: there is nothing to acknowledge"):
        rig.engine.acknowledge("tank.level:HI", "alice")
    assert not [e for e in rig.events() if e[1] == "alarm.ack"]


def test_second_ack_is_refused_naming_who_acked(rig: Rig) -> None:
    rig.feed("tank.level", 85.0)
    rig.engine.acknowledge("tank.level:HI", "alice")
    with pytest.raises(AlarmError, match="already acknowledged by alice"):
        rig.engine.acknowledge("tank.level:HI", "bob")


def test_unknown_alarm_and_missing_actor_are_refused(rig: Rig) -> None:
    with pytest.raises(AlarmError, match=r"unknown alarm 'tank\.nope:HI'"):
        rig.engine.acknowledge("tank.nope:HI", "alice")
    rig.feed("tank.level", 85.0)
    with pytest.raises(AlarmError, match="name of who"):
        rig.engine.acknowledge("tank.level:HI", "  ")
    assert rig.state("tank.level:HI") == S.UNACK_ACTIVE


def test_acknowledge_all_acks_only_waiting_alarms(rig: Rig) -> None:
    rig.feed("tank.level", 95.0)  # HI and HIHI
    rig.feed("tank.overflow", True)
    rig.engine.acknowledge("tank.overflow:STATE", "alice")
    done = rig.engine.acknowledge_all(None, "bob")
    assert sorted(done) == ["tank.level:HIHI"]  # HI is suppressed by design under HIHI
    assert rig.engine.alarm("tank.overflow:STATE").acked_by == "alice"
    with pytest.raises(AlarmError, match="unknown alarm"):
        rig.engine.acknowledge_all(["tank.level:HI", "bogus"], "bob")


def test_shelved_alarm_tracks_condition_and_unshelving_shows_the_truth(rig: Rig) -> None:
    rig.feed("tank.level", 85.0)
    rig.engine.acknowledge("tank.level:HI", "alice")
    until = rig.clock() + 3600
    v = rig.engine.shelve("tank.level:HI", "alice", "sensor being recalibrated", until)
    assert v.state == S.SHELVED and v.shelved_by == "alice" and v.shelved_until == until
    assert not v.annunciating
    rig.feed("tank.level", 50.0)  # clears while shelved: still shelved, condition tracked
    assert rig.state("tank.level:HI") == S.SHELVED
    assert not rig.engine.alarm("tank.level:HI").condition
    rig.feed("tank.level", 86.0)
    assert rig.engine.alarm("tank.level:HI").condition
    v = rig.engine.unshelve("tank.level:HI", "bob")
    # active on unshelving: it re-annunciates (the old acknowledgement does not carry over)
    assert v.state == S.UNACK_ACTIVE and v.acked_by is None
    kinds = [k for _, k, _, _ in rig.events() if k in ("alarm.shelve", "alarm.unshelve")]
    assert kinds == ["alarm.shelve", "alarm.unshelve"]


def test_unshelving_a_clear_alarm_returns_to_normal(rig: Rig) -> None:
    rig.feed("tank.level", 85.0)
    rig.engine.shelve("tank.level:HI", "alice", "noisy", rig.clock() + 60)
    rig.feed("tank.level", 40.0)
    assert rig.engine.unshelve("tank.level:HI", "alice").state == S.NORMAL


def test_shelve_expiry_unshelves_and_journals_it(rig: Rig) -> None:
    rig.feed("tank.level", 85.0)
    rig.engine.shelve("tank.level:HI", "alice", "noisy", rig.clock() + 600)
    rig.clock.advance(599)
    rig.feed("tank.level", 85.0)
    assert rig.state("tank.level:HI") == S.SHELVED
    rig.clock.advance(2)
    rig.feed("tank.level", 85.0)  # any batch runs the due timers
    assert rig.state("tank.level:HI") == S.UNACK_ACTIVE
    unshelves = [(a, b) for _, k, a, b in rig.events() if k == "alarm.unshelve"]
    assert len(unshelves) == 1
    assert unshelves[0][0] == "system" and unshelves[0][1]["reason"] == "shelve expired"


def test_shelve_expiry_without_samples_runs_on_tick(rig: Rig) -> None:
    rig.engine.shelve("tank.level:LO", "alice", "tank drained", rig.clock() + 10)
    rig.clock.advance(11)
    rig.engine.tick()
    assert rig.state("tank.level:LO") == S.NORMAL


def test_shelve_needs_reason_and_future_expiry(rig: Rig) -> None:
    with pytest.raises(AlarmError, match="without a reason"):
        rig.engine.shelve("tank.level:HI", "alice", " ", rig.clock() + 60)
    with pytest.raises(AlarmError, match="expiry must be in the future"):
        rig.engine.shelve("tank.level:HI", "alice", "why", rig.clock() - 1)
    with pytest.raises(AlarmError, match="is not shelved"):
        rig.engine.unshelve("tank.level:HI", "alice")


def test_out_of_service_hides_alarm_and_return_shows_truth(rig: Rig) -> None:
    v = rig.engine.set_out_of_service("tank.pressure:HI", "maint", True, "transmitter replaced")
    assert v.state == S.OUT_OF_SERVICE and v.out_of_service_by == "maint"
    rig.feed("tank.pressure", 70.0)
    rig.clock.advance(10)
    rig.feed("tank.pressure", 70.0)
    assert rig.state("tank.pressure:HI") == S.OUT_OF_SERVICE
    assert rig.engine.alarm("tank.pressure:HI").condition
    with pytest.raises(AlarmError, match="not annunciating"):
        rig.engine.acknowledge("tank.pressure:HI", "maint")
    with pytest.raises(AlarmError, match="already out of service"):
        rig.engine.set_out_of_service("tank.pressure:HI", "maint", True, "again")
    v = rig.engine.set_out_of_service("tank.pressure:HI", "maint", False, "back")
    assert v.state == S.UNACK_ACTIVE
    crit = [k for _, k, _, _ in rig.events() if k.startswith("alarm.") and "service" in k]
    assert crit == ["alarm.out_of_service", "alarm.return_to_service"]


def test_layered_suppressions_unwind_in_order(rig: Rig) -> None:
    rig.engine.shelve("tank.level:LO", "alice", "drained", rig.clock() + 100)
    rig.engine.set_suppressed_by_design("tank.level:LO", "system", True, "pump stopped")
    assert rig.state("tank.level:LO") == S.SUPPRESSED
    rig.engine.set_out_of_service("tank.level:LO", "maint", True, "work order 17")
    assert rig.state("tank.level:LO") == S.OUT_OF_SERVICE
    rig.engine.set_out_of_service("tank.level:LO", "maint", False, "done")
    assert rig.state("tank.level:LO") == S.SUPPRESSED
    rig.engine.set_suppressed_by_design("tank.level:LO", "system", False, "pump running")
    assert rig.state("tank.level:LO") == S.SHELVED
    rig.feed("tank.level", 8.0)
    assert rig.state("tank.level:LO") == S.SHELVED
    rig.engine.unshelve("tank.level:LO", "alice")
    assert rig.state("tank.level:LO") == S.UNACK_ACTIVE


def test_subscribers_see_each_change_and_a_raising_subscriber_is_contained(rig: Rig) -> None:
    seen = []

    def broken(view: object) -> None:
        raise RuntimeError("ui bug")

    rig.engine.subscribe(broken)
    unsubscribe = rig.engine.subscribe(lambda v: seen.append((v.id, str(v.state))))
    rig.feed("tank.level", 95.0)
    assert sorted(seen) == [("tank.level:HI", "suppressed"), ("tank.level:HIHI", "unack_active")]
    assert rig.engine.callback_errors == 2
    unsubscribe()
    rig.feed("tank.level", 50.0)
    assert len(seen) == 2


def test_anomaly_alarm_is_an_ordinary_alarm(rig: Rig) -> None:
    aid = rig.engine.set_anomaly("pump_iforest", True, tag_or_device="tank",
                                 explanation="tank.level 62%, tank.pressure 30%", priority="high")
    assert aid == "anomaly:pump_iforest"
    v = rig.engine.alarm(aid)
    assert v.state == S.UNACK_ACTIVE and v.priority == "high" and "tank.level" in (v.explanation or "")
    rig.engine.acknowledge(aid, "alice")
    rig.engine.shelve(aid, "alice", "retraining", rig.clock() + 60)
    rig.engine.set_anomaly("pump_iforest", False, tag_or_device="tank")
    assert rig.engine.unshelve(aid, "alice").state == S.NORMAL
    actors = {actor for _, _, actor, b in rig.events() if b.get("alarm") == aid}
    assert actors == {"detector:pump_iforest", "alice"}


def test_a_closed_journal_does_not_stop_alarming_and_is_counted(rig: Rig) -> None:
    rig.journal.close()
    rig.feed("tank.level", 95.0)
    assert rig.state("tank.level:HIHI") == S.UNACK_ACTIVE
    # HIHI's transition, HI's suppression by design and HI's transition to suppressed
    assert rig.engine.journal_errors == 3 and "journal is closed" in (rig.engine.last_error or "")


def test_reconfigure_keeps_state_and_journals_what_changed(rig: Rig) -> None:
    from app.core.alarms import plant_alarms
    from tests.alarms.conftest import make_plant

    rig.feed("tank2.level", 95.0)
    rig.feed("tank.level", 95.0)
    defs = [d for d in plant_alarms(make_plant()) if not d.id.startswith("tank2")]
    rig.engine.configure_definitions(defs)
    assert rig.state("tank.level:HIHI") == S.UNACK_ACTIVE  # kept across the reconfiguration
    assert all(not v.id.startswith("tank2") for v in rig.engine.alarms())
    conf = [b for _, k, _, b in rig.events() if k == "alarm.configured"]
    assert len(conf) == 1
    body = conf[0]
    assert "tank2.level:HIHI" in body["removed"] and "tank2.level:HIHI" in body["removed_while_annunciating"]


def test_with_the_real_clock_a_ticker_expires_shelves_without_any_samples(tmp_path) -> None:
    import time

    from app.core.alarms import AlarmEngine
    from app.core.journal import Journal
    from tests.alarms.conftest import make_plant

    journal = Journal.open(tmp_path / "journal")
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite", tick_interval_s=0.05)
    try:
        engine.configure(make_plant())
        engine.shelve("tank.level:HI", "alice", "short test", time.time() + 0.2)
        deadline = time.monotonic() + 10
        while engine.alarm("tank.level:HI").state == S.SHELVED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine.alarm("tank.level:HI").state == S.NORMAL
    finally:
        engine.close()
        journal.close()
