"""Access audit (#17, HIPAA audit controls): reading alarm history and opening a patient's
display are journaled with the user and the scope, never the values. Real station, real
journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.alarms.types import AlarmQuery
from app.core.errors import VigilError
from app.core.journal import read_events
from app.core.users import Role
from app.station.engine import Core
from app.station.local import LocalStation


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(tmp_path / "no-user-plugins"))
    core = Core(tmp_path / "data", window=False, plugins_enabled=False)
    core.start()
    st = LocalStation(core)
    admin = st.create_administrator("ada", "admin-pass-1")
    core.services.users.add(admin, "nina", "nurse-pass-1", Role.OPERATOR)
    st.login("nina", "nurse-pass-1")
    try:
        yield st
    finally:
        core.stop()


def _access(st: LocalStation) -> list:
    st.core.journal.flush(timeout=10.0)
    return [e for e in read_events(st.core.data_dir / "journal", kind="access.*")]


def test_alarm_history_query_is_journaled_with_user_and_scope(station):
    station.alarm_history(AlarmQuery(tag="icu", since=1_700_000_000.0))
    (event,) = _access(station)
    assert (event.kind, event.actor) == ("access.alarm_history", "nina")
    assert json.loads(event.body["scope"]) == {"tag": "icu", "since": 1_700_000_000.0, "limit": 10_000}


def test_opening_a_patient_display_is_journaled_without_values(station):
    station.record_access("display_opened", "bedside ICU-3 BED 7: devices icu")
    (event,) = _access(station)
    assert (event.kind, event.actor, event.body["role"]) == ("access.display_opened", "nina", "operator")
    assert event.body["scope"] == "bedside ICU-3 BED 7: devices icu"
    with pytest.raises(VigilError):
        station.record_access("display opened; drop table", "x")
