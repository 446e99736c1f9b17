"""When a bounded queue has to drop something, the journal says so."""

from __future__ import annotations

import time

from app.core.journal import read_events
from app.core.snapshot import SnapshotBuffer
from app.station import Core


def test_dropped_ui_samples_are_journaled(tmp_path):
    core = Core(tmp_path / "data", demo_interval_ms=100)
    core.snapshots = SnapshotBuffer(maxlen=5)  # a UI that never drains
    core.start()
    try:
        deadline = time.monotonic() + 10
        while core.snapshots.dropped == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        core.stop()
    dropped = [e for e in read_events(tmp_path / "data" / "journal") if e.kind == "system.dropped"]
    assert dropped, "no system.dropped event"
    assert dropped[-1].body["total"]["ui_snapshots"] > 0
    assert dropped[-1].critical
