"""Technical alarms of the station itself (disk almost full, log-in failures) go through the same
state machine as process alarms: raised, acknowledged, cleared, journaled."""

from __future__ import annotations

from pathlib import Path

from app.core.alarms import AlarmEngine


class _Journal:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, object]]] = []

    def append(self, kind: str, actor: str, body: dict[str, object], *, critical: bool = False) -> None:
        self.events.append((kind, actor, body))


def test_system_condition_raises_and_clears(tmp_path: Path) -> None:
    journal = _Journal()
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite")
    try:
        aid = engine.set_system_condition("disk", True, message="disk almost full: 3 % free")
        view = engine.alarm(aid)
        assert aid == "station.disk:SYSTEM"
        assert view.kind == "SYSTEM" and view.priority == "high"
        assert view.state == "unack_active"
        assert any(aid in str(body) for _, _, body in journal.events)
        engine.set_system_condition("disk", False, message="disk almost full: 3 % free")
        assert engine.alarm(aid).state == "unack_rtn"
    finally:
        engine.close()


def test_a_station_alarm_survives_reconfiguration_and_restart(tmp_path: Path) -> None:
    from tests.alarms.conftest import make_plant

    journal = _Journal()
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite")
    try:
        aid = engine.set_system_condition("disk", True, message="disk almost full: 3 % free")
        engine.configure(make_plant())
        assert engine.alarm(aid).state == "unack_active"
        engine.flush()
    finally:
        engine.close()
    again = AlarmEngine(journal, tmp_path / "alarms.sqlite")
    try:
        again.configure(make_plant())
        assert again.alarm(aid).state == "unack_active"
        assert again.alarm(aid).kind == "SYSTEM"
    finally:
        again.close()
