"""The idle lock is bounded and its changes are journaled (#17): an edited settings.json can
neither switch it off in effect nor lengthen it unnoticed."""

from __future__ import annotations

import json
from typing import Any

from app.core.journal import read_events
from app.ui.idle import parse_idle_lock_s
from app.ui.main_window import MainWindow


def _station(core: Any) -> Any:
    try:
        from app.station import LocalStation
    except ImportError:  # pragma: no cover - the base commit: the window took the core
        return core
    return LocalStation(core)


def _changes(core: Any) -> list[dict[str, Any]]:
    core.journal.flush(timeout=5.0)
    return [e.body for e in read_events(core.data_dir / "journal", kind="settings.changed")
            if e.body.get("setting") == "idle_lock_s"]


def test_idle_lock_is_bounded() -> None:
    value, problem = parse_idle_lock_s(7 * 86400)  # "a week": the lock switched off in effect
    assert value == 3600.0 and problem and "between" in problem
    value, problem = parse_idle_lock_s(1)
    assert value == 30.0 and problem
    assert parse_idle_lock_s(900) == (900.0, None)


def test_idle_lock_changes_are_journaled(qtbot, core, tmp_path) -> None:
    settings = tmp_path / "ui-settings.json"
    for seconds in (600, 1200, 1200, 99999):
        settings.write_text(json.dumps({"idle_lock_s": seconds}), encoding="utf-8")
        win = MainWindow(_station(core), settings_path=settings)
        qtbot.addWidget(win)
        win.close()
    changes = _changes(core)
    assert [(c["old"], c["new"]) for c in changes] == [(None, 600.0), (600.0, 1200.0), (1200.0, 3600.0)]
