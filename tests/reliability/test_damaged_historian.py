"""Issue #18, defect 10: a damaged historian.sqlite stopped the whole workstation from starting.
It is moved aside (kept, for recovery) with a loud problem and a fresh file, and the plant is
watched as before, like a damaged alarm store."""

from __future__ import annotations

import time

from app.core.journal import read_events
from app.station import Core


def test_a_damaged_historian_is_moved_aside_and_the_plant_still_watched(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    garbage = b"this is not SQLite " * 500
    (data / "historian.sqlite").write_bytes(garbage)
    core = Core(data, demo_interval_ms=100)
    core.start()
    try:
        assert any("historian database was damaged" in p for p in core.config_problems), core.config_problems
        aside = sorted(data.glob("historian.sqlite.damaged-*"))
        assert [p.read_bytes() for p in aside] == [garbage]  # kept byte for byte
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not core.latest():
            time.sleep(0.05)
        assert core.latest(), "the plant is not polled"
    finally:
        core.stop()
    events = [e for e in read_events(data / "journal") if e.kind == "historian.quarantined"]
    assert len(events) == 1 and events[0].critical
    assert events[0].body["moved_to"] == str(aside[0])


def test_a_historian_that_is_someone_elses_database_is_not_moved(tmp_path):
    """Not damage: a valid SQLite file of another program is refused, never renamed."""
    import pytest

    from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
    from app.core.historian import HistorianError

    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "historian.sqlite") as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
    core = Core(data, demo_interval_ms=100)
    with pytest.raises(HistorianError, match="not a Vigil historian"):
        core.start()
    assert (data / "historian.sqlite").exists() and not list(data.glob("historian.sqlite.damaged-*"))
