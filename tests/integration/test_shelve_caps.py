"""Shelving is capped for every role, engineers included, and more tightly for a vital-signs
device (profile ``alarm_signals = "medical"``) (#17). Refusals are journaled."""

from __future__ import annotations

import time

import pytest

from app.core.errors import VigilError
from app.core.journal import read_events
from app.core.users import Role

try:  # the composition root moved (base: app.core.engine)
    from app.station import Core
except ImportError:  # pragma: no cover - the base commit
    from app.core.engine import Core  # type: ignore[no-redef]

H = 3600.0


def test_shelving_is_capped_per_role_and_shorter_for_vital_signs(tmp_path):
    core = Core(tmp_path / "data", demo_interval_ms=200, plugins_enabled=False)
    core.start()
    try:
        core.users.add(None, "ada", "admin-pass-1", Role.ADMINISTRATOR)
        ada = core.users.authenticate("ada", "admin-pass-1")
        core.users.add(ada, "erin", "engineer-pass", Role.ENGINEER)
        core.users.add(ada, "otto", "operator-pass", Role.OPERATOR)
        alarms = core.alarms.alarms()
        vital = next(a.id for a in alarms if a.device == "vitals")
        plant = next(a.id for a in alarms if a.device not in ("vitals", "") and a.kind != "ANOMALY")

        core.login("erin", "engineer-pass")
        with pytest.raises(VigilError, match="at most 24 h"):
            core.shelve(plant, "maintenance", time.time() + 30 * H)
        core.shelve(plant, "maintenance", time.time() + 20 * H)
        with pytest.raises(VigilError, match="vital-signs alarm for at most 2 h"):
            core.shelve(vital, "probe change", time.time() + 3 * H)
        core.shelve(vital, "probe change", time.time() + 1 * H)
        core.unshelve(vital)

        core.login("otto", "operator-pass")
        with pytest.raises(VigilError, match=r"at most 0\.5 h"):
            core.shelve(vital, "probe change", time.time() + 1 * H)
        core.shelve(vital, "probe change", time.time() + 0.25 * H)
    finally:
        core.stop()
    refused = [e for e in read_events(tmp_path / "data" / "journal")
               if e.kind == "action.refused" and e.body.get("action") == "alarm.shelve"]
    assert [e.actor for e in refused] == ["erin", "erin", "otto"]
