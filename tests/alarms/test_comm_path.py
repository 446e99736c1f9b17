"""Communication loss has one input path (``app/core/alarms/comm.py``): the runtime's device
report and the device's BAD_COMM / GOOD samples are evidence about the same loss, so whichever
comes first starts the on-delay, and the device gets one COMM alarm, one activation and one
return in the journal, whatever the mix and order of the evidence."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.alarms import AlarmEngine, AlarmState
from app.core.diagnostics import DeviceDiagnostics
from app.core.journal import Journal
from app.core.model import Quality, Sample
from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import ProfileLibrary
from app.core.runtime import Runtime
from app.sim.demo import DEMO_DEVICES
from app.sim.server import SimulatorThread
from tests.alarms.conftest import Rig, transitions

S = AlarmState
TANK_TAGS = ("tank.level", "tank.pressure", "tank.overflow", "tank.temperature")


def _bad_poll(rig: Rig) -> None:
    rig.engine.on_samples([Sample(t, None, Quality.BAD_COMM, rig.clock()) for t in TANK_TAGS])


def _comm_steps(rig: Rig) -> list[tuple[str, str]]:
    return [(frm, to) for alarm, frm, to, _ in rig.transitions() if alarm == "tank:COMM"]


def test_report_and_bad_samples_of_one_outage_are_one_alarm_with_the_reports_reason(rig: Rig) -> None:
    # what the runtime does when a link dies: BAD_COMM for every tag, then "offline"
    _bad_poll(rig)
    rig.engine.on_device_state("tank", False, "modbus tcp 127.0.0.1: connection refused")
    for _ in range(3):  # more of both during the on-delay: nothing new starts
        rig.clock.advance(0.5)
        _bad_poll(rig)
        rig.engine.on_device_state("tank", False, "modbus tcp 127.0.0.1: connection refused")
    assert rig.state("tank:COMM") == S.NORMAL  # 1.5 s of the 2 s on-delay
    rig.clock.advance(0.5)
    _bad_poll(rig)  # a sample is the first evidence after the delay: it raises the alarm ...
    view = rig.engine.alarm("tank:COMM")
    assert view.state == S.UNACK_ACTIVE
    # ... with the runtime's reason, which says more than "bad samples"
    assert view.value == "modbus tcp 127.0.0.1: connection refused"
    for _ in range(5):
        rig.clock.advance(1.0)
        _bad_poll(rig)
        rig.engine.on_device_state("tank", False, "timeout")
        rig.engine.tick()
    assert _comm_steps(rig) == [("normal", "unack_active")]


def test_the_on_delay_runs_from_the_first_evidence_whichever_it_is(rig: Rig) -> None:
    _bad_poll(rig)  # samples first ...
    rig.clock.advance(1.5)
    rig.engine.on_device_state("tank", False, "timeout")  # ... the report 1.5 s later
    rig.clock.advance(0.5)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.UNACK_ACTIVE  # 2 s after the samples, not 3.5 s
    assert rig.engine.alarm("tank:COMM").value == "timeout"  # the report's reason replaced the samples'


def test_a_good_sample_ends_a_loss_the_runtime_reported(rig: Rig) -> None:
    rig.engine.on_device_state("tank", False, "connection refused")
    rig.clock.advance(2.0)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.UNACK_ACTIVE
    rig.feed("tank.level", 50.0)  # it answered: that is proof, whoever said it was down
    assert rig.state("tank:COMM") == S.UNACK_RTN
    rig.engine.on_device_state("tank", True, "")  # the runtime's report arrives after: no second step
    rig.clock.advance(1.0)
    rig.engine.tick()
    assert _comm_steps(rig) == [("normal", "unack_active"), ("unack_active", "unack_rtn")]
    # and a new outage is a new loss, with its own on-delay
    rig.engine.on_device_state("tank", False, "connection refused")
    rig.clock.advance(1.0)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.UNACK_RTN


def test_a_sample_answering_within_the_on_delay_cancels_a_reported_loss(rig: Rig) -> None:
    rig.engine.on_device_state("tank", False, "timeout")
    rig.clock.advance(1.0)
    rig.feed("tank.level", 50.0)
    rig.clock.advance(5.0)
    rig.engine.tick()
    assert rig.state("tank:COMM") == S.NORMAL
    assert _comm_steps(rig) == []


def _wait_until(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for: {what}")


@pytest.mark.slow
def test_a_device_that_stops_answering_gives_one_comm_alarm_and_one_journal_event(tmp_path: Path) -> None:
    """The real runtime polls the demo tank over Modbus TCP on 127.0.0.1 and feeds the engine
    both ways (samples and device reports), as the station wires it; the server stops."""
    from vigil_modbus.driver import TcpDriver

    sim = SimulatorThread(seed=1)
    port = sim.start()
    profile_id, unit, name, _ms = DEMO_DEVICES["tank"]
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    plant = parse_plant(
        f'[[devices]]\nname = "{name}"\nprofile = "{profile_id}"\nhost = "127.0.0.1"\n'
        f"port = {port}\nunit = {unit}\n"
        "interval_ms = 100\nreconnect_max_ms = 200\n".encode(),
        "<comm plant>",
        lib,
    )
    journal = Journal.open(tmp_path / "journal")
    engine = AlarmEngine(journal, tmp_path / "alarms.sqlite", comm_on_delay_s=0.5, tick_interval_s=0.1)
    engine.configure(plant)
    reports: list[bool] = []

    def on_diagnostics(d: DeviceDiagnostics) -> None:  # as the station wires it
        online = d.state == "online"
        reports.append(online)
        engine.on_device_state(d.device, online, d.last_error or d.state)

    rt = Runtime(plant, lambda cfg: TcpDriver(cfg.link_config()), sinks=[engine],
                 on_diagnostics=on_diagnostics, backoff_base_s=0.05, backoff_cap_s=0.2)
    rt.start()
    try:
        _wait_until("the tank to be polled", lambda: rt.diagnostics()["tank"].state == "online")
        sim.stop()
        _wait_until("tank:COMM to rise", lambda: engine.alarm("tank:COMM").state == S.UNACK_ACTIVE)
        time.sleep(1.5)  # reconnect attempts, reports and ticks go on during the outage
        assert False in reports
    finally:
        rt.stop()
        engine.flush()
        engine.close()
        journal.close()
    comm = [(frm, to) for alarm, frm, to, _ in transitions(tmp_path / "journal") if alarm == "tank:COMM"]
    assert comm == [("normal", "unack_active")]
