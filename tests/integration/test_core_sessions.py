"""Every action re-checks the session in the core: a disabled account or a forged session
cannot touch the plant, and the refusal is journaled."""

from __future__ import annotations

import time

import pytest

from app.core.errors import VigilError
from app.core.journal import read_events
from app.core.users import Role, Session
from app.station import Core


def test_disabled_or_forged_sessions_cannot_write_setpoints(tmp_path):
    core = Core(tmp_path / "data", demo_interval_ms=200)
    core.start()
    try:
        core.users.add(None, "ada", "admin-pass-1", Role.ADMINISTRATOR)
        ada = core.users.authenticate("ada", "admin-pass-1")
        core.users.add(ada, "olga", "operator-pass", Role.OPERATOR)
        olga = core.login("olga", "operator-pass")
        deadline = time.monotonic() + 10
        while core.latest().get("tank.valve_setpoint") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        core.write_setpoint("tank", "valve_setpoint", 40.0)  # allowed while the account is live
        core.users.set_disabled(ada, "olga", True)
        with pytest.raises(VigilError, match=r"disabled|ended"):
            core.write_setpoint("tank", "valve_setpoint", 41.0, session=olga)
        assert core.session is None  # the console fell back to view-only
        with pytest.raises(VigilError, match="not a session issued"):
            core.write_setpoint(
                "tank", "valve_setpoint", 42.0, session=Session("nobody", Role.ADMINISTRATOR, 0)
            )
        assert core.runtime.write is not None
        time.sleep(0.5)
        assert core.latest()["tank.valve_setpoint"].value == pytest.approx(40.0)
    finally:
        core.stop()
    events = read_events(tmp_path / "data" / "journal")
    writes = [e for e in events if e.kind == "setpoint.write"]
    assert [w.body["new"] for w in writes] == [40.0]
    refused = [e for e in events if e.kind == "action.refused"]
    assert {e.actor for e in refused} >= {"olga", "nobody"}
