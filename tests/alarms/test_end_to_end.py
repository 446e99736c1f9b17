"""End to end: the demo tank overflows (stuck inlet valve), the real runtime polls the real
demo simulator over Modbus TCP on 127.0.0.1, the alarm rises, a named operator acknowledges
it, the valve fault clears and the operator's setpoint drains the tank, the alarm clears, and
the journal verifies afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.alarms import AlarmEngine, AlarmQuery, AlarmState
from app.core.journal import Journal, read_events, verify
from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import ProfileLibrary
from app.core.runtime import Runtime
from app.sim.demo import DEMO_DEVICES
from app.sim.faults import parse_faults
from app.sim.server import SimulatorThread

S = AlarmState
SPEED = 30.0  # simulated seconds per real second: the overflow takes ~2 simulated minutes


def wait_until(what: str, cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for: {what}")


@pytest.mark.slow
def test_tank_overflow_alarm_rises_is_acknowledged_clears_and_journal_verifies(tmp_path: Path) -> None:
    from vigil_modbus.driver import TcpDriver

    sim = SimulatorThread(seed=1, faults=parse_faults("stuck_valve@0+150"), speed=SPEED)
    port = sim.start()
    profile_id, unit, name, _ms = DEMO_DEVICES["tank"]
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    plant = parse_plant(
        f'[[devices]]\nname = "{name}"\nprofile = "{profile_id}"\nhost = "127.0.0.1"\n'
        f"port = {port}\nunit = {unit}\n"
        "interval_ms = 100\n".encode(),
        "<e2e plant>",
        lib,
    )
    journal = Journal.open(tmp_path / "journal")
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite")
    engine.configure(plant)
    rt = Runtime(
        plant,
        lambda cfg: TcpDriver(cfg.link_config()),
        sinks=[engine],
        on_diagnostics=lambda d: engine.on_device_state(d.device, d.state == "online", d.last_error),
    )
    rt.start()
    try:
        hihi = "tank.level:HIHI"
        wait_until("tank.level HIHI to rise", lambda: engine.alarm(hihi).state == S.UNACK_ACTIVE)
        view = engine.alarm(hihi)
        assert view.priority == "high" and view.value >= 95.0 and view.limit == 95.0
        wait_until("the high-level switch to trip",
                   lambda: engine.alarm("tank.high_level_switch:STATE").condition)
        assert engine.alarm("tank.high_level_switch:STATE").priority == "urgent"

        acked = engine.acknowledge(hihi, "olga.operator")
        assert acked.state == S.ACK_ACTIVE and acked.acked_by == "olga.operator"
        engine.acknowledge_all(None, "olga.operator")
        # the operator closes the inlet: it takes effect when the stuck valve frees itself
        result = rt.write("tank", "valve_setpoint", 0.0)
        assert result.readback == 0.0

        wait_until("tank.level HIHI to clear", lambda: engine.alarm(hihi).state == S.NORMAL)
        wait_until("every tank alarm back to normal or waiting for ack",
                   lambda: not any(v.condition for v in engine.alarms() if v.id.startswith("tank.level")))
        assert engine.alarm("tank:COMM").state == S.NORMAL  # the link stayed up throughout
    finally:
        rt.stop()
        sim.stop()
        engine.flush()
        history = engine.history(AlarmQuery(alarm_id="tank.level:HIHI"))
        engine.close()
        journal.close()

    steps = [(e["event"], e["from_state"], e["to_state"], e["actor"]) for e in history]
    assert steps[:4] == [
        ("transition", "normal", "unack_active", "system"),
        ("ack", "unack_active", None, "olga.operator"),
        ("transition", "unack_active", "ack_active", "olga.operator"),
        ("transition", "ack_active", "normal", "system"),
    ]
    alarm_events = [(e.kind, e.actor, e.body.get("to"))
                    for e in read_events(tmp_path / "journal", kind="alarm.*")
                    if e.body.get("alarm") == "tank.level:HIHI"]
    assert alarm_events[:4] == [
        ("alarm.transition", "system", "unack_active"),
        ("alarm.ack", "olga.operator", "ack_active"),
        ("alarm.transition", "olga.operator", "ack_active"),
        ("alarm.transition", "system", "normal"),
    ]
    result = verify(tmp_path / "journal")
    assert result.ok, result.message
    assert result.unsealed == 0  # closing sealed the journal with a signed checkpoint
