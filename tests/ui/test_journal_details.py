"""The journal view shows event details as fields people read, not raw JSON (issue 15, item 7)."""

from __future__ import annotations

from app.ui.journal_view import readable_body


def test_a_body_reads_as_named_fields_not_json() -> None:
    line, full = readable_body({"alarm": "tank.level:HIHI", "state": "unack_active",
                                "value": 97.5, "shelved": None, "critical": True})
    assert line == "alarm tank.level:HIHI · state unack_active · value 97.5 · shelved none · critical yes"
    assert "{" not in line and '"' not in line
    assert full.splitlines() == ["alarm: tank.level:HIHI", "state: unack_active", "value: 97.5",
                                 "shelved: none", "critical: yes"]


def test_nested_fields_and_lists_are_flattened() -> None:
    line, full = readable_body({"tag": "tank.valve_setpoint", "old": {"value": 50, "unit": "%"},
                                "alarms": ["a:HI", "b:LO"], "user_name": "olga"})
    assert line == ("tag tank.valve_setpoint · old.value 50 · old.unit % · alarms a:HI, b:LO"
                    " · user name olga")
    assert "old.unit: %" in full.splitlines()


def test_text_bodies_stay_as_they_are() -> None:
    assert readable_body("shift starts") == ("shift starts", "shift starts")
