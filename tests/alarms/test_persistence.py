"""State survives a restart; the state table is what the journal vouches for; a broken state
file or a table that disagrees with the journal is reported, never silently trusted."""

from __future__ import annotations

from pathlib import Path

from app.core.alarms import AlarmState, compare_with_table, read_states, replay_transitions
from app.core.alarms.replay import rebuild_rows
from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.journal import read_events, verify
from app.core.model import Quality, Sample
from tests.alarms.conftest import Clock, Rig

S = AlarmState


def _restored_events(rig: Rig) -> list[dict]:
    return [b for _, k, _, b in rig.events() if k == "alarm.restored"]


def test_state_survives_restart_and_the_restore_is_journaled(tmp_path: Path, clock: Clock) -> None:
    r = Rig(tmp_path, clock)
    r.feed("tank.level", 95.0)
    r.engine.acknowledge("tank.level:HIHI", "alice")
    r.engine.shelve("tank.pressure:HI", "bob", "transmitter fault", clock() + 3600)
    r.engine.set_out_of_service("tank2.level:LO", "maint", True, "drained for inspection")
    r.engine.set_anomaly("iforest", True, tag_or_device="tank", explanation="level")
    r.close()

    clock.advance(60)
    r2 = Rig(tmp_path, clock)
    try:
        v = r2.engine.alarm("tank.level:HIHI")
        assert v.state == S.ACK_ACTIVE and v.acked_by == "alice" and v.condition
        assert r2.state("tank.level:HI") == S.SUPPRESSED  # by design, under the active HIHI
        p = r2.engine.alarm("tank.pressure:HI")
        assert p.state == S.SHELVED and p.shelved_by == "bob" and p.shelve_reason == "transmitter fault"
        assert r2.engine.alarm("tank2.level:LO").out_of_service_reason == "drained for inspection"
        assert r2.state("anomaly:iforest") == S.UNACK_ACTIVE  # detector alarms come back too
        restored = _restored_events(r2)[-1]
        assert restored["vouched_by_journal"] is True and restored["journal_wins"] == []
        assert restored["states"]["ack_active"] == 1 and restored["states"]["shelved"] == 1
        # the next good value settles the truth: the level fell while we were down
        r2.feed("tank.level", 50.0)
        assert r2.state("tank.level:HIHI") == S.NORMAL
        # HI was suppressed under HIHI the whole time: it returns through normal, unannounced
        assert r2.state("tank.level:HI") == S.NORMAL
    finally:
        r2.close()
    assert verify(tmp_path / "journal").ok


def test_shelve_that_expired_while_down_is_unshelved_at_start(tmp_path: Path, clock: Clock) -> None:
    r = Rig(tmp_path, clock)
    r.feed("tank.level", 85.0)
    r.engine.shelve("tank.level:HI", "bob", "noisy", clock() + 60)
    r.close()
    clock.advance(3600)
    r2 = Rig(tmp_path, clock)
    try:
        assert r2.state("tank.level:HI") == S.UNACK_ACTIVE  # still high when we left it
        unshelves = [(a, b["reason"]) for _, k, a, b in r2.events() if k == "alarm.unshelve"]
        assert unshelves == [("system", "shelve expired")]
    finally:
        r2.close()


def test_state_table_equals_what_the_journal_replays_to(tmp_path: Path, clock: Clock) -> None:
    r = Rig(tmp_path, clock)
    try:
        for v in (95.0, 50.0, 3.0, 85.0, 9.0):
            r.feed("tank.level", v)
            clock.advance(1)
        r.engine.acknowledge_all(None, "carol")
        r.feed("tank.overflow", True)
        r.engine.shelve("tank.overflow:STATE", "carol", "float switch stuck", clock() + 99)
        r.engine.flush()
        events = r.events()
    finally:
        r.close()
    replay = replay_transitions((s, k, b) for s, k, _, b in events)
    assert replay.problems == [] and replay.transitions > 5
    table = {row["id"]: row["state"] for row in read_states(tmp_path / "alarms.sqlite")}
    assert compare_with_table(replay, table) == []
    rebuilt = rebuild_rows(events)
    assert rebuilt["tank.overflow:STATE"]["shelved"][:2] == ["carol", "float switch stuck"]


def test_a_table_edited_behind_our_back_loses_to_the_journal(tmp_path: Path, clock: Clock) -> None:
    r = Rig(tmp_path, clock)
    r.feed("tank.level", 95.0)
    r.close()
    # someone "clears" the alarm by editing the cache
    con = sqlite3.connect(tmp_path / "alarms.sqlite")
    con.execute(
        "UPDATE alarm_state SET data = json_set(data, '$.state', 'normal', '$.condition', json('false')) "
        "WHERE id = 'tank.level:HIHI'"
    )
    con.commit()
    con.close()
    r2 = Rig(tmp_path, clock)
    try:
        assert r2.state("tank.level:HIHI") == S.UNACK_ACTIVE
        restored = _restored_events(r2)[-1]
        assert restored["vouched_by_journal"] is False
        assert restored["journal_wins"] == ["tank.level:HIHI: table normal, journal unack_active"]
        assert len(_restored_events(r2)) == 2  # one per start
    finally:
        r2.close()
    assert verify(tmp_path / "journal").ok


def test_corrupt_state_file_is_moved_aside_and_state_rebuilt_from_journal(
    tmp_path: Path, clock: Clock
) -> None:
    r = Rig(tmp_path, clock)
    r.feed("tank.level", 3.0)
    r.engine.acknowledge("tank.level:LOLO", "alice")
    r.close()
    for p in tmp_path.glob("alarms.sqlite*"):
        p.unlink()
    (tmp_path / "alarms.sqlite").write_bytes(b"this is not a database" * 100)
    r2 = Rig(tmp_path, clock)
    try:
        v = r2.engine.alarm("tank.level:LOLO")
        assert v.state == S.ACK_ACTIVE and v.acked_by == "alice"
        kinds = [k for _, k, _, _ in r2.events()]
        assert "alarm.state_quarantined" in kinds
        aside = list(tmp_path.glob("alarms.sqlite.corrupt-*"))
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    finally:
        r2.close()


def test_a_state_writer_that_cannot_keep_up_is_journaled_and_healed_at_restart(
    tmp_path: Path, clock: Clock
) -> None:
    # A queue of 1 with the writer thread busy: state rows get dropped. That is a fault we
    # cannot produce otherwise on a fast disk, so the queue is made tiny rather than mocked.
    from app.core.alarms import AlarmEngine
    from app.core.journal import Journal
    from tests.alarms.conftest import make_plant

    journal = Journal.open(tmp_path / "journal", clock=clock)
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite", clock=clock, store_queue_max=1)
    engine.configure(make_plant())
    for v in (95.0, 50.0, 95.0, 50.0, 95.0):
        engine.on_samples([Sample("tank.level", v, Quality.GOOD, clock())])
    assert engine.store_dropped > 0
    engine.tick()
    engine.close()
    journal.close()
    drops = [e.body for e in read_events(tmp_path / "journal", kind="system.dropped")]
    assert drops and drops[-1]["what"] == "alarm state-table writes"
    r2 = Rig(tmp_path, clock)
    try:
        assert r2.state("tank.level:HIHI") == S.UNACK_ACTIVE  # the journal had it all
    finally:
        r2.close()
