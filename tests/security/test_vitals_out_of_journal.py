"""Vital values stay out of the journal (#17): the journal is kept forever, so an alarm on a
vital-signs device (``alarm_signals = "medical"``) journals a reference to the historian sample
(tag and time) instead of the measured value; the alarm store (encrypted) keeps the value for
the window and `vigil alarms history`, and a history re-derived from the journal says where the
value is. Real demo plant, real simulator over Modbus TCP, real journal and stores."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.core.alarms.store import query_events, repair_history
from app.core.alarms.types import AlarmQuery, AlarmState
from app.core.journal import read_events
from app.core.users import Role
from app.station.engine import Core
from app.station.local import LocalStation

HR_HI = "vitals.heart_rate:HIHI"


def _raise_heart_rate(sim: object) -> None:
    """The patient's heart rate runs away (the monitor's slow wander pushed far up: about
    190/min, back under 140 only after half a minute)."""
    sim.model._devices["vitals"].hr.x = 30.0  # type: ignore[attr-defined]


@pytest.fixture
def station(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(tmp_path / "no-user-plugins"))
    core = Core(tmp_path / "data", window=False, demo_interval_ms=100)
    core.start()
    st = LocalStation(core)
    st.create_administrator("ada", "admin-pass-1")
    try:
        yield st
    finally:
        core.stop()


def _wait_alarm(st: LocalStation, aid: str, state: AlarmState, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if st.core.services.alarms.alarm(aid).state is state:
            return
        time.sleep(0.1)
    raise AssertionError(f"{aid} never reached {state} (is {st.core.services.alarms.alarm(aid).state})")


def test_vital_alarm_journals_a_historian_reference_not_the_value(station: LocalStation) -> None:
    core = station.core
    sim = core.simulator
    assert sim is not None
    sim.call(_raise_heart_rate)
    _wait_alarm(station, HR_HI, AlarmState.UNACK_ACTIVE)
    station.acknowledge([HR_HI])
    core.journal.flush(timeout=10.0)

    events = [e for e in read_events(core.data_dir / "journal")
              if str(e.body.get("alarm", "")).startswith("vitals.")]
    raised = [e for e in events if e.kind == "alarm.transition" and e.body["alarm"] == HR_HI]
    assert raised and {e.body["to"] for e in raised} >= {"unack_active", "ack_active"}
    for e in events:
        assert "value" not in e.body, e
    ref = raised[0].body["value_ref"]
    assert ref["tag"] == "vitals.heart_rate" and ref["t"] == pytest.approx(raised[0].body["t"])

    # the historian holds the referenced sample: the tag's last one at or before that time
    core.services.historian.flush(10.0)
    series = station.history(["vitals.heart_rate"], ref["t"] - 60.0, ref["t"], 100_000)["vitals.heart_rate"]
    assert len(series) and series.value[-1] >= 120.0

    # the alarm store (encrypted) keeps the value the window and `vigil alarms history` show
    assert core.services.alarms.flush(10.0)
    rows = query_events(core.data_dir / "alarms.sqlite", AlarmQuery(tag="vitals.heart_rate"))
    stored = [r for r in rows if r["alarm_id"] == HR_HI and r["to_state"] == "unack_active"]
    assert stored and isinstance(stored[0]["value"], (int, float)) and stored[0]["value"] >= 120.0

    # nothing of the vitals device's values anywhere in the journal's bytes either
    text = "".join(json.dumps(e.body) for e in events)
    assert str(stored[0]["value"]) not in text


def test_plant_alarms_keep_their_value_in_the_journal(station: LocalStation) -> None:
    """Only patient data is referenced: a plant alarm's transition still carries its value."""
    core = station.core
    alarms = core.services.alarms
    admin = core.services.users.authenticate("ada", "admin-pass-1")
    core.services.users.add(admin, "otto", "oper-pass-1", Role.OPERATOR)
    machine = alarms._machine
    a = machine.alarms["tank.level:HI"]
    with alarms._lock:
        out: list = []
        machine.set_condition(a, True, 97.5, time.time(), "system", out)
    core.journal.flush(timeout=10.0)
    (e,) = [e for e in read_events(core.data_dir / "journal", kind="alarm.transition")
            if e.body["alarm"] == "tank.level:HI"]
    assert e.body["value"] == 97.5 and "value_ref" not in e.body


def test_history_repaired_from_the_journal_says_see_historian(tmp_path: Path) -> None:
    """A lost alarm-history row re-derived from the journal has no value to show: it says
    where the value is, and keeps the reference."""
    from app.core.alarms.store import SEE_HISTORIAN, AlarmStore

    path = tmp_path / "alarms.sqlite"
    store = AlarmStore(path)
    store.close()
    t = time.time()
    body = {"alarm": HR_HI, "from": "normal", "to": "unack_active",
            "value_ref": {"tag": "vitals.heart_rate", "t": t}, "limit": 120.0,
            "priority": "high", "source": "vitals.heart_rate", "cause": "condition", "t": t}
    assert repair_history(path, [(7, "system", body)], lambda aid, src: "vitals") == 1
    (row,) = query_events(path, AlarmQuery(tag="vitals.heart_rate"))
    assert row["value"] == SEE_HISTORIAN
    assert row["detail"]["value_ref"] == {"tag": "vitals.heart_rate", "t": t}


def _as_vital_signs_device(core: Core, device: str) -> None:
    """Make ``device``'s profile say what a bedside device's does (``alarm_signals =
    "medical"``): the demo's monitor has no writable point, an infusion pump would."""
    profile = core.plant.profiles[device]
    core.plant.profiles[device] = profile.model_copy(
        update={"device": profile.device.model_copy(update={"alarm_signals": "medical"})})


def test_a_setpoint_write_on_a_vital_signs_device_journals_a_reference(station: LocalStation) -> None:
    core = station.core
    _as_vital_signs_device(core, "tank")
    assert station.login("ada", "admin-pass-1")
    result = station.write_setpoint("tank", "valve_setpoint", 37.0)
    assert result.new == 37.0  # the write itself is unchanged
    core.journal.flush(timeout=10.0)
    (e,) = read_events(core.data_dir / "journal", kind="setpoint.write")
    assert e.actor == "ada" and e.critical
    assert not {"old", "new", "readback", "value"} & set(e.body)
    assert e.body["value_ref"]["tag"] == "tank.valve_setpoint"


def test_an_anomaly_on_a_vital_signs_device_keeps_its_explanation_out_of_the_journal(
    station: LocalStation,
) -> None:
    core = station.core
    text = "abnormal behaviour, heart_rate 151 /min (normal 58-88)"
    aid = core.services.alarms.set_anomaly("bedside", True, tag_or_device="vitals", explanation=text)
    core.journal.flush(timeout=10.0)
    (e,) = [e for e in read_events(core.data_dir / "journal", kind="alarm.transition")
            if e.body["alarm"] == aid]
    assert "151" not in json.dumps(e.body) and e.body["value_ref"]["tag"] == "vitals"
    assert core.services.alarms.flush(10.0)
    rows = query_events(core.data_dir / "alarms.sqlite", AlarmQuery(alarm_id=aid))
    assert rows and rows[0]["value"] == text  # the store (encrypted) keeps it for the window
