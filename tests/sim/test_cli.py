"""``vigil sim`` as a user runs it: a real process, a real port, Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from app.core.paths import device_profiles_dir
from app.core.plant import load_plant
from app.core.profiles import ProfileLibrary
from tests.sim.conftest import with_client


def _vigil(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background jobs ignore SIGINT; make sure this child takes Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _read_port(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.match(r"port (\d+)$", line.strip())
        if m:
            return int(m.group(1))
    proc.kill()
    raise AssertionError(f"no port printed; stderr: {proc.stderr.read() if proc.stderr else ''}")


def test_vigil_sim_serves_until_ctrl_c_and_stops_cleanly(tmp_path) -> None:
    plant_file = tmp_path / "plant.toml"
    proc = _vigil("--port", "0", "--seed", "3", "--plant-out", str(plant_file))
    try:
        port = _read_port(proc)

        async def read(client):
            return await client.read_input_registers(0, count=2, device_id=2)

        assert not with_client(port, read).isError()
        # the plant file it wrote points at this simulator and loads with the built-in profiles
        lib = ProfileLibrary()
        lib.add_folder(device_profiles_dir())
        for _ in range(50):
            if plant_file.exists():
                break
            time.sleep(0.1)
        plant = load_plant(plant_file, lib)
        assert {d.port for d in plant.devices} == {port}
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped" in out
    assert "Traceback" not in err


def test_vigil_sim_duration_and_unit_ids_printed() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "sim", "--port", "0", "--duration", "0.5",
         "--faults", "cavitation@60,dead:vitals@45+30"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for unit, key in ((1, "pump"), (2, "meter"), (3, "tank"), (4, "vitals")):
        assert re.search(rf"unit {unit}: {key}\b", proc.stdout)
    assert "fault: dead:vitals@45+30" in proc.stdout


def test_bad_fault_list_is_a_clear_message_not_a_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "app", "sim", "--faults", "cavitation@60,meltdown@3"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "meltdown@3" in proc.stderr and "unknown fault" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_taken_port_is_a_clear_message(start_sim) -> None:
    sim = start_sim(update_hz=0.001)
    proc = subprocess.run(
        [sys.executable, "-m", "app", "sim", "--port", str(sim.port), "--duration", "1"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert str(sim.port) in proc.stderr and "could not listen" in proc.stderr
    assert "Traceback" not in proc.stderr
