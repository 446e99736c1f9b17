"""Injecting a simulator fault into the running demo plant is an engineer's action (#17):
refused (and journaled) for nobody logged in and for an operator, made for an engineer."""

from __future__ import annotations

import pytest

from app.core.journal import read_events
from app.core.users import PermissionDenied, Role

try:  # the composition root moved (base: app.core.engine)
    from app.station import Core
except ImportError:  # pragma: no cover - the base commit
    from app.core.engine import Core  # type: ignore[no-redef]


def test_inject_fault_needs_an_engineer(tmp_path):
    core = Core(tmp_path / "data", demo_interval_ms=200, plugins_enabled=False)
    core.start()
    try:
        core.users.add(None, "ada", "admin-pass-1", Role.ADMINISTRATOR)
        ada = core.users.authenticate("ada", "admin-pass-1")
        core.users.add(ada, "otto", "operator-pass", Role.OPERATOR)
        with pytest.raises(PermissionDenied):
            core.inject_fault("cavitation")  # nobody logged in
        core.login("otto", "operator-pass")
        with pytest.raises(PermissionDenied):
            core.inject_fault("cavitation")
        core.login("ada", "admin-pass-1")
        core.inject_fault("cavitation")
    finally:
        core.stop()
    events = read_events(tmp_path / "data" / "journal")
    faults = [e for e in events if e.kind == "sim.fault"]
    assert [e.actor for e in faults] == ["ada"]
    assert sum(1 for e in events if e.kind == "action.refused" and "demo.fault" in str(e.body)) == 2
