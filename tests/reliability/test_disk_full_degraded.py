"""Issue #18, defects 3 and 4: a full disk is a degraded mode, not a loss nobody hears of.

- alarm-history writes the disk refuses are held and written once space returns, so
  ``vigil alarms history`` is complete (on main they were counted and gone);
- a good alarm store on a disk that refuses writes is not moved aside as if it were damaged;
- historian samples lost while the disk was full are journaled with their count when writes
  succeed again, and the "disk almost full" / "disk full" technical alarm is raised before and
  while it happens;
- shutdown on a full disk is bounded and honest: the journal's close says the stop record was
  not written, and ``vigil run`` exits non-zero.

The disk fills by injection at the point SQLite reports it (see ``fulldisk.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.core.alarms import AlarmEngine
from app.core.alarms.store import (
    AlarmStore,
    EventRow,
    StoreError,
    open_or_quarantine,
    query_events,
    read_states,
)
from app.core.alarms.types import AlarmQuery
from app.core.atrest import dbapi as cipher
from app.core.historian import Historian
from app.core.journal import Journal, read_events, verify
from app.core.model import Quality, Sample

from .fulldisk import FullDisk, full_error, wait_for


def _event(i: int) -> EventRow:
    return EventRow(1000.0 + i, f"tank.level:HI{i % 3}", "tank.level", "tank", "high", "transition",
                    "normal", "unack_active", 90.0 + i, 80.0, "system", {"cause": "condition"})



def test_alarm_history_refused_by_a_full_disk_is_written_when_space_returns(tmp_path, monkeypatch):
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    store = AlarmStore(disk.folder / "alarms.sqlite", retry_s=0.05)
    try:
        for i in range(5):
            store.put_event(_event(i))
        assert store.flush()
        disk.fill()
        for i in range(5, 26):  # the 21 alarm changes
            store.put_event(_event(i))
            store.put_state(f"tank.level:HI{i % 3}", {"state": "unack_active", "n": i})
        assert not store.flush(), "a refused write must not be reported as committed"
        assert disk.refused >= 1 and store.stats().write_errors >= 1
        assert store.stats().held == 21 + 3  # 21 events, and the latest state of 3 alarms
        disk.free()
        assert wait_for(lambda: store.flush(1.0)), store.stats()
        stats = store.stats()
        assert stats.held == 0 and stats.dropped == 0 and stats.written_late == 24
    finally:
        store.close()
    rows = query_events(disk.folder / "alarms.sqlite", AlarmQuery(limit=1000))
    assert [r["value"] for r in rows] == [90.0 + i for i in range(26)]
    states = {s["id"]: s["n"] for s in read_states(disk.folder / "alarms.sqlite")}
    assert states == {"tank.level:HI0": 24, "tank.level:HI1": 25, "tank.level:HI2": 23}


def test_held_alarm_history_is_bounded_and_what_is_given_up_is_counted(tmp_path, monkeypatch):
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    store = AlarmStore(disk.folder / "alarms.sqlite", queue_max=10, retry_s=60.0)
    try:
        disk.fill()
        for i in range(25):
            store.put_event(_event(i))
            if i % 5 == 4:
                store.flush()  # let the writer take them (the queue itself holds only 10)
        assert wait_for(lambda: store.stats().held + store.stats().dropped == 25)
        assert store.stats().held == 10 and store.stats().dropped == 15
    finally:
        disk.free()
        store.close()
    rows = query_events(disk.folder / "alarms.sqlite", AlarmQuery(limit=1000))
    assert [r["value"] for r in rows] == [90.0 + i for i in range(15, 25)]  # the newest are kept


def test_an_alarm_store_on_a_refusing_disk_is_not_moved_aside(tmp_path, monkeypatch):
    path = tmp_path / "alarms.sqlite"
    AlarmStore(path).close()
    import app.core.alarms.store as store_module

    def refusing(p: Path):
        raise full_error(cipher)

    monkeypatch.setattr(store_module, "_connect", refusing)
    with pytest.raises(StoreError) as ei:
        open_or_quarantine(path)
    assert "disk is full" in str(ei.value) and "not damaged" in str(ei.value)
    assert path.exists() and not list(tmp_path.glob("alarms.sqlite.corrupt-*"))


class _Disk:
    """shutil.disk_usage, with the free space set by the test."""

    def __init__(self, free_mb: float) -> None:
        self.free = int(free_mb * 1e6)

    def __call__(self, path: Path) -> tuple[int, int, int]:
        return (10**12, 10**12 - self.free, self.free)


def _samples(n: int, t0: float) -> list[Sample]:
    return [Sample(f"d.p{i}", float(i), Quality.GOOD, t0) for i in range(n)]


def test_samples_lost_on_a_full_disk_are_journaled_with_their_count_and_alarmed(tmp_path, monkeypatch):
    from app.station.housekeeping import DiskWatch

    disk = FullDisk(tmp_path / "disk", monkeypatch)
    journal = Journal.open(tmp_path / "journal")
    alarms = AlarmEngine(journal, state_path=tmp_path / "alarms.sqlite")
    historian = Historian(disk.folder / "historian.sqlite", flush_interval_s=0.01)
    historian.start()
    problems: list[str] = []
    space = _Disk(free_mb=5000)
    watch = DiskWatch(tmp_path, alarms, journal, problems,
                      lambda: {"historian_samples": historian.stats().failed},
                      min_free_mb=100, disk_usage=space)
    try:
        watch.check()
        assert "station.disk:SYSTEM" not in {a.id for a in alarms.alarms()}
        space.free = int(50e6)  # below the 100 MB threshold: warned before anything fails
        watch.check()
        disk_alarm = {a.id: a for a in alarms.alarms()}["station.disk:SYSTEM"]
        assert disk_alarm.annunciating and "almost full" in disk_alarm.description

        space.free = 0
        disk.fill()
        for k in range(4):
            historian.on_samples(_samples(20, 2000.0 + k))
            historian.flush(2.0)
        lost = historian.stats().failed
        assert lost == 80, historian.stats()
        watch.check()  # the counter grew: the episode starts
        assert any("refusing writes" in p for p in problems), problems
        assert "disk full" in {a.id: a for a in alarms.alarms()}["station.disk:SYSTEM"].description
        disk.free()
        space.free = int(5000e6)
        historian.on_samples(_samples(20, 3000.0))
        assert historian.flush(5.0)
        watch.check()  # nothing more lost: the episode ends with its count
        assert journal.flush()
        events = {e.kind: e.body for e in read_events(tmp_path / "journal")}
        assert events["storage.failing"]["lost_so_far"] == {"historian_samples": 80}
        assert events["storage.recovered"]["lost"] == {"historian_samples": 80}
        assert any("lost 80 historian samples" in p for p in problems), problems
        assert not any("refusing writes" in p for p in problems)
        assert not {a.id: a for a in alarms.alarms()}["station.disk:SYSTEM"].condition
    finally:
        historian.close()
        alarms.close()
        journal.close()


def test_closing_the_journal_on_a_full_disk_is_bounded_and_says_the_stop_was_not_written(
    tmp_path, monkeypatch
):
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    jdir = disk.folder / "journal"
    journal = Journal.open(jdir)
    journal.append("test.before", "tester", {"n": 1})
    assert journal.flush()
    disk.fill()
    journal.append("test.during", "tester", {"n": 2})
    # generous timeout: the writer must give up by itself, not be abandoned by the join
    assert journal.close(timeout=60.0) is False
    assert not journal._thread.is_alive()
    assert journal.stop_recorded is False
    disk.free()
    assert verify(jdir).status in ("intact", "unsealed_tail")
    reopened = Journal.open(jdir)
    assert reopened.close() is True
    kinds = [e.kind for e in read_events(jdir)]
    assert "journal.unclean_shutdown" in kinds and kinds[-1] == "app.stop"
    assert verify(jdir).status == "intact"


def test_vigil_run_exits_non_zero_when_the_stop_record_could_not_be_written(tmp_path, monkeypatch, capsys):
    import app.cli.run as run_module

    disk = FullDisk(tmp_path / "data", monkeypatch)
    headless = run_module._headless

    def fill_then_run(core, duration):  # the disk fills once the demo plant runs headless
        disk.fill()
        return headless(core, duration)

    monkeypatch.setattr(run_module, "_headless", fill_then_run)
    try:
        rc = main(["run", "--headless", "--duration", "7", "--data-dir", str(disk.folder)])
    finally:
        disk.free()
    out, err = capsys.readouterr()
    assert rc == 3, err
    assert "stop record could not be written" in err, err
    # found while running, and printed: headless, the terminal is the only screen
    assert "configuration problem: the disk of" in out and "refusing writes" in out, out


def test_journal_events_refused_for_minutes_are_kept_and_committed_when_space_returns(
    tmp_path, monkeypatch
):
    import app.core.journal.writer as writer_module

    # "minutes" of refusals, shortened: on main the writer then threw the refused group away
    monkeypatch.setattr(writer_module, "STALLED_AFTER_ATTEMPTS", 3, raising=False)
    real_range = range
    monkeypatch.setattr(writer_module, "range", lambda n: real_range(min(n, 3)), raising=False)
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    jdir = disk.folder / "journal"
    journal = Journal.open(jdir)
    assert journal.flush()
    disk.fill()
    for i in range(50):
        journal.append("alarm.transition", "system", {"i": i})
    assert wait_for(lambda: disk.refused >= 5), disk.refused  # well past the give-up point
    disk.free()
    wait_for(lambda: journal.flush(1.0), timeout=30.0)  # the next retry commits
    journal.close()
    assert journal.stats().dropped == 0
    assert [e.body["i"] for e in read_events(jdir, kind="alarm.transition")] == list(range(50))
    assert journal.stop_recorded is True
    assert verify(jdir).status == "intact"


def test_alarm_history_lost_with_the_process_is_re_derived_from_the_journal_at_start(tmp_path):
    """The store held refused writes in memory and the process died (or the disk stayed full
    past what it holds): the journal has the transitions, the history does not. The next start
    re-derives them, once."""
    from app.station import Core

    data = tmp_path / "data"
    core = Core(data, demo_interval_ms=100, window=False)
    core.start()
    try:
        core.alarms.set_system_condition("test", True, message="raised while the disk was full")
        core.alarms.set_system_condition("test", False, message="cleared")
        assert core.alarms.flush(5.0) and core.journal.flush()
    finally:
        core.stop()
    # the history rows of those two changes were lost with the process
    from app.core.atrest import connect

    con = connect(data / "alarms.sqlite")
    with con:
        gone = con.execute("DELETE FROM alarm_events WHERE alarm_id = 'station.test:SYSTEM'").rowcount
    con.close()
    assert gone == 2
    core = Core(data, demo_interval_ms=100, window=False)
    core.start()
    try:
        rows = query_events(data / "alarms.sqlite", AlarmQuery(alarm_id="station.test:SYSTEM"))
        assert [(r["from_state"], r["to_state"], r["device"]) for r in rows] == [
            ("normal", "unack_active", "station"), ("unack_active", "unack_rtn", "station")]
        assert core.journal.flush()
        repaired = read_events(data / "journal", kind="alarm.history_repaired")
        assert [e.body["rows"] for e in repaired] == [2]
    finally:
        core.stop()
    core = Core(data, demo_interval_ms=100, window=False)  # a third start repairs nothing more
    core.start()
    core.stop()
    rows = query_events(data / "alarms.sqlite", AlarmQuery(alarm_id="station.test:SYSTEM"))
    assert len(rows) == 2 and len(read_events(data / "journal", kind="alarm.history_repaired")) == 1
