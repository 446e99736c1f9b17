"""Issue #18, defect 3 (and 4), the start: a station whose disk is already full when it starts
runs in degraded mode instead of refusing. It polls, raises alarms and shows its state; the
journal holds the events it cannot write (bounded) and writes them when space returns, with a
critical event saying what was held; historian samples are counted as lost and that loss is
journaled; ``station.disk:SYSTEM`` is active from the first moment; nothing is moved aside.

The disk is full by injection where SQLite reports it (``fulldisk.py``): every commit of the
journal, historian and alarm store under the data folder answers SQLITE_FULL.
"""

from __future__ import annotations

from pathlib import Path

from app.cli import main
from app.core.alarms.store import query_events
from app.core.alarms.types import AlarmQuery
from app.core.journal import read_events, verify
from app.station import Core

from .fulldisk import FullDisk, wait_for


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.name.endswith(("-wal", "-shm"))}


def _ran_once(data: Path) -> None:
    core = Core(data, demo_interval_ms=100, window=False)
    core.start()
    try:
        assert wait_for(lambda: len(core.latest()) > 0)
        # an alarm transition the next start's history check has to look at
        core.alarms.set_system_condition("test", True, message="before the disk filled")
        assert core.alarms.flush(5.0) and core.journal.flush()
    finally:
        core.stop()
    assert core.stop_recorded


def test_a_station_starts_and_watches_the_plant_on_a_disk_that_is_already_full(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _ran_once(data)
    before = _files(data)
    disk = FullDisk(data, monkeypatch)
    disk.fill()
    core = Core(data, demo_interval_ms=100, window=False, demo_faults=["dead:vitals@1"])
    core.start()  # on main: JournalError "cannot write the journal database: the disk is full"
    try:
        # its journal flushes returned at once, the events held, rather than each waiting 10 s
        assert core.journal.stats().flush_timeouts == 0, "start must not wait for a disk that refuses writes"
        # the technical alarm is there from the first moment, not one housekeeping period later
        disk_alarm = {a.id: a for a in core.alarms.alarms()}.get("station.disk:SYSTEM")
        assert disk_alarm is not None and disk_alarm.condition, core.alarms.alarms()
        assert "disk full" in disk_alarm.description, disk_alarm.description
        assert any("refusing writes" in p for p in core.config_problems), core.config_problems
        assert any("journal" in p and "held in memory" in p for p in core.config_problems), \
            core.config_problems
        # polling and alarming go on: values arrive, and the dead device raises its COMM alarm
        assert wait_for(lambda: len(core.latest()) >= 20)
        assert wait_for(lambda: "vitals:COMM" in {a.id for a in core.alarms.alarms() if a.condition})
        assert wait_for(lambda: core.historian.stats().failed > 0), core.historian.stats()
        held = core.journal.stats()
        assert held.queued > 0 and held.dropped == 0 and held.committed == 0, held
        assert disk.refused > 0
        # nothing moved aside or deleted because of the full disk
        assert _files(data) == before, _files(data) ^ before

        disk.free()
        assert wait_for(lambda: core.journal.flush(1.0), timeout=30.0)
        assert wait_for(lambda: core.alarms.flush(1.0), timeout=30.0)
        core.services.housekeeping.run_checks()  # the next look sees writes succeed again
        assert wait_for(lambda: not {a.id: a for a in core.alarms.alarms()}["station.disk:SYSTEM"].condition)
        assert any("refused writes from" in p for p in core.config_problems), core.config_problems
    finally:
        core.stop()
    assert core.stop_recorded is True
    assert verify(data / "journal").status == "intact"
    events = list(read_events(data / "journal"))
    starts = [e.seq for e in events if e.kind == "app.start"]
    assert len(starts) == 2, "the start on the full disk is journaled once space returned"
    this_run = [e for e in events if e.seq >= starts[-1]]
    kinds = [e.kind for e in this_run]
    held_events = [e for e in this_run if e.kind == "storage.journal_held"]
    assert len(held_events) == 1 and held_events[0].critical, kinds
    body = held_events[0].body
    assert body["held_events"] >= kinds.index("storage.journal_held") and body["lost_events"] == 0, body
    assert "disk is full" in body["error"], body
    failing = next(e for e in this_run if e.kind == "storage.failing")
    recovered = next(e for e in this_run if e.kind == "storage.recovered")
    assert failing.critical and recovered.critical
    assert recovered.body["lost"].get("historian_samples", 0) > 0, recovered.body
    # the alarms raised while the disk was full reached the journal and the alarm history
    raised = {e.body["alarm"] for e in this_run
              if e.kind == "alarm.transition" and e.body["to"] == "unack_active"}
    assert {"station.disk:SYSTEM", "vitals:COMM"} <= raised, raised
    history = {r["alarm_id"] for r in query_events(data / "alarms.sqlite", AlarmQuery(limit=10_000))}
    assert {"station.disk:SYSTEM", "vitals:COMM", "station.test:SYSTEM"} <= history, history


def test_headless_run_on_a_full_disk_polls_and_says_so(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    _ran_once(data)
    disk = FullDisk(data, monkeypatch)
    disk.fill()
    try:
        rc = main(["run", "--headless", "--duration", "3", "--data-dir", str(data)])
    finally:
        disk.free()
    out, err = capsys.readouterr()
    # it ran (on main: "cannot write the journal database: the disk is full", exit 2)
    assert "polling 4 devices" in out, (out, err)
    assert "configuration problem: the disk of" in out and "refusing writes" in out, out
    assert "held in memory" in out, out
    assert "journal events held in memory" in out.splitlines()[-1], out  # the status line says so
    # and is honest about the end: the stop record could not be written on the full disk
    assert rc == 3, (rc, err)
    assert "stop record could not be written" in err, err
    assert verify(data / "journal").status in ("intact", "unsealed_tail")


def test_a_historian_on_a_full_disk_counts_every_lost_sample_but_logs_the_refusal_once_a_minute(
    tmp_path, monkeypatch, caplog
):
    from app.core.historian import Historian
    from app.core.model import Quality, Sample

    disk = FullDisk(tmp_path / "disk", monkeypatch)
    historian = Historian(disk.folder / "historian.sqlite", flush_interval_s=0.01)
    historian.start()
    try:
        disk.fill()
        for k in range(10):  # ten group commits refused, as a full disk refuses every one
            historian.on_samples([Sample(f"d.p{i}", float(i), Quality.GOOD, 1000.0 + k) for i in range(5)])
            historian.flush(2.0)
        assert historian.stats().failed == 50, historian.stats()
        logged = [r for r in caplog.records if "samples not stored" in r.getMessage()]
        assert len(logged) == 1, [r.getMessage() for r in logged]  # on main: one line per commit
        disk.free()
        historian.on_samples([Sample("d.p0", 1.0, Quality.GOOD, 2000.0)])
        assert historian.flush(5.0) and historian.stats().failed == 50
    finally:
        historian.close()
