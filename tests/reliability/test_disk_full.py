"""Issue #18, defect 3: on a full disk the journal must not be called damaged (the advice that
followed, "move the journal folder aside", would break the audit chain over a temporary
condition), and a station must not refuse to start over it: the journal opens degraded, holds
its events in memory and writes them, with a critical ``storage.journal_held`` event, once the
disk takes writes again. The disk-full answer comes from SQLite itself (SQLITE_FULL), injected
where the journal writes (``fulldisk.py``)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.journal import Journal, JournalError, read_events, verify

from .fulldisk import FullDisk, wait_for

ROOT = Path(__file__).resolve().parents[2]



def test_a_journal_opened_on_a_full_disk_holds_its_events_and_writes_them_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    jdir = disk.folder / "journal"
    Journal.open(jdir).close()
    disk.fill()
    journal = Journal.open(jdir)  # on main: JournalError, "the disk is full ... start again"
    try:
        assert not journal.problems, journal.problems  # not damaged, nothing to quarantine
        for i in range(30):
            journal.append("alarm.transition", "system", {"i": i})
        assert journal.flush(5.0) is False
        stats = journal.stats()
        assert stats.flush_timeouts == 0, "flush must not wait out its timeout on a refusing disk"
        assert stats.held_since is not None and stats.queued >= 31 and stats.committed == 0, stats
        assert "disk is full" in (stats.last_error or "")
        assert wait_for(lambda: disk.refused >= 2)  # the writer keeps trying
        assert verify(jdir).status == "intact"  # the file on disk is untouched meanwhile
        disk.free()
        assert wait_for(lambda: journal.flush(1.0), timeout=30.0)
        assert journal.stats().held_since is None
    finally:
        assert journal.close() is True
    assert verify(jdir).status == "intact"
    events = list(read_events(jdir))
    held = [e for e in events if e.kind == "storage.journal_held"]
    assert len(held) == 1 and held[0].critical
    assert held[0].body["held_events"] >= 31 and held[0].body["lost_events"] == 0, held[0].body
    assert "disk is full" in held[0].body["error"]
    assert [e.body["i"] for e in events if e.kind == "alarm.transition"] == list(range(30))
    assert [e.kind for e in events].count("app.start") == 2
    assert "journal.unclean_shutdown" not in [e.kind for e in events]


CRASHING_WRITER = r"""
import sys, time
from app.core.journal import Journal
j = Journal.open(sys.argv[1], checkpoint_every=1000, checkpoint_interval_s=600)
j.flush(5)  # the start-up events, sealed (journal.created is critical)
for i in range(5):
    j.append("alarm.transition", "system", {"i": i})
j.flush(5)
print("committed", flush=True)
time.sleep(60)
"""


def test_a_crashed_journal_opened_on_a_full_disk_seals_its_tail_once_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    jdir = tmp_path / "disk" / "journal"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(jdir)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    disk.fill()
    journal = Journal.open(jdir)
    try:
        assert journal.stats().held_since is not None
        disk.free()
        assert wait_for(lambda: journal.flush(1.0), timeout=30.0)
    finally:
        assert journal.close() is True
    assert verify(jdir).status == "intact"
    unclean = read_events(jdir, kind="journal.unclean_shutdown")
    assert len(unclean) == 1 and unclean[0].body["recovered"]["events"] == 5, unclean


def test_a_journal_that_cannot_be_created_on_a_full_disk_is_refused_naming_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    disk.fill()
    with pytest.raises(JournalError) as ei:
        Journal.open(disk.folder / "journal")
    msg = str(ei.value)
    assert "cannot create the journal database: the disk is full" in msg, msg
    assert "damaged" not in msg
    disk.free()
    Journal.open(disk.folder / "journal").close()  # and it starts once there is room
    assert verify(disk.folder / "journal").status == "intact"


def test_a_journal_on_a_full_disk_holds_a_bounded_number_of_events_without_stalling_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    disk = FullDisk(tmp_path / "disk", monkeypatch)
    jdir = disk.folder / "journal"
    Journal.open(jdir).close()
    disk.fill()
    journal = Journal.open(jdir, queue_max=50)
    try:
        assert wait_for(lambda: disk.refused >= 1)
        for i in range(120):  # more than it may hold
            journal.append("alarm.transition", "system", {"i": i})
        # the callers (alarm engine, screen) never wait on a disk that refuses: on main each
        # append beyond the bound waited 2 s for room first (counted in backlog_waits)
        stats = journal.stats()
        assert stats.backlog_waits == 0 and stats.queued <= 50 and stats.dropped > 0, stats
        disk.free()
        assert wait_for(lambda: journal.flush(1.0), timeout=30.0)
    finally:
        journal.close()
    events = list(read_events(jdir))
    held = [e.body for e in events if e.kind == "storage.journal_held"]
    assert len(held) == 1 and held[0]["lost_events"] == stats.dropped, held
    lost = [e for e in events if e.kind == "system.dropped"]
    assert lost and lost[0].critical and sum(e.body["lost_events"] for e in lost) == stats.dropped
    kept = [e.body["i"] for e in events if e.kind == "alarm.transition"]
    assert kept == list(range(len(kept))) and len(kept) + stats.dropped == 120  # the oldest kept
    assert verify(jdir).status == "intact"
