"""The Station hands out values only: everything the window receives can be pickled (so a remote
station can send it) and none of it is a live service. Runs the real demo plant."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest

from app.core.model import Quality
from app.core.users import PermissionDenied, Role
from app.station import Core, LocalStation, NotStarted, Station
from app.station.interface import AlarmQuery, JournalFilter


def _wait(pred, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_every_answer_is_a_value(tmp_path: Path) -> None:
    core = Core(tmp_path / "data", demo_interval_ms=200, plugins_enabled=False)
    core.start()
    try:
        station: Station = LocalStation(core)
        assert _wait(lambda: any(s.quality is Quality.GOOD for s in station.latest().values()))
        assert not station.has_accounts()
        admin = station.create_administrator("ada", "ada-password-1")
        assert station.session == admin and admin.role is Role.ADMINISTRATOR
        station.add_user("olga", "olga-password-1", Role.OPERATOR)
        station.note("shift starts")
        answers = {
            "plant": station.plant,
            "stale_rule": station.stale_rule(),
            "drain": station.drain_samples(),
            "latest": station.latest(),
            "diagnostics": station.diagnostics(),
            "alarms": station.alarms(),
            "detectors": station.detector_status(),
            "history": station.history(["tank.level_m"], time.time() - 60, time.time(), 100),
            "alarm_history": station.alarm_history(AlarmQuery(limit=10)),
            "journal": station.journal_events(JournalFilter(actor="ada", text="shift starts")),
            "verify": station.verify_journal(),
            "head": station.export_journal_head(),
            "users": station.users(),
            "plugins": station.plugins(),
            "problems": station.problems(),
            "dropped": station.dropped_counts(),
            "session": station.session,
        }
        for name, value in answers.items():
            again = pickle.loads(pickle.dumps(value))
            assert type(again) is type(value), name
        assert [e["body"]["text"] for e in answers["journal"]] == ["shift starts"]
        assert answers["verify"].status == "intact"
        assert [u.name for u in answers["users"]] == ["ada", "olga"]
        assert "tank.level_m" in answers["stale_rule"].after_s
        # actions run as the station's session and are refused by the station, not the screen
        station.login("olga", "olga-password-1")
        with pytest.raises(PermissionDenied):
            station.set_user_disabled("ada", True)
    finally:
        core.stop()
    # a window may poll a moment after the station stopped: nothing, view only; actions refuse
    assert station.alarms() == [] and station.detector_status() == [] and not station.in_flood()
    assert station.has_accounts() and station.session is None and station.plugins() is None
    with pytest.raises(NotStarted):
        station.acknowledge(["tank.level_m:HI"])
