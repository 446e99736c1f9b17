"""The alarm sound, heard: a PulseAudio server of the test's own with a null sink (the setup
script installs pulseaudio when run as root), a recorder on the sink's monitor, and a child
process running the real annunciator on a real alarm engine: the pattern plays while the alarm
is unacknowledged and stops on acknowledge. The child keeps QtMultimedia's one-per-process
sound-server connection away from the other tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
RATE = 22_050

CHILD = r"""
import sys, time
from pathlib import Path
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.core.alarms import AlarmEngine
from app.core.alarms.annunciation import Annunciation
from app.core.journal import Journal
from app.ui.annunciator import Annunciator, AudioOut

d = Path(sys.argv[1])
journal = Journal.open(d / "journal")
engine = AlarmEngine(journal, d / "alarms.sqlite")
audio = AudioOut()
print("AUDIO", audio.available, audio.reason, flush=True)
ann = Annunciator(engine.alarms, Annunciation(), audio=audio)
aid = engine.set_anomaly("loud", True, tag_or_device="pump", explanation="x", priority="urgent")
print("RAISED", time.time(), flush=True)

def ack():
    engine.acknowledge(aid, "olga")
    print("ACKED", time.time(), flush=True)

QTimer.singleShot(5000, ack)
QTimer.singleShot(9000, app.quit)
app.exec()
print("BURSTS", ann.bursts, flush=True)
ann.stop()
engine.close()
journal.close()
"""


@pytest.fixture
def pulse(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("pulseaudio")
    if exe is None or shutil.which("parec") is None:
        pytest.skip("pulseaudio/parec not installed (packaging/dev-setup.sh installs them as root)")
    home = tmp_path / "pulse"
    home.mkdir()
    sock = home / "native"
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    proc = subprocess.Popen(
        [exe, "-n", "--daemonize=no", "--exit-idle-time=-1", "--disable-shm=yes", "--use-pid-file=no",
         "-L", f"module-native-protocol-unix socket={sock} auth-anonymous=1",
         "-L", "module-null-sink sink_name=vigil_test", "--load=module-always-sink"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert sock.exists(), f"pulseaudio did not start: {proc.stderr.read().decode() if proc.stderr else ''}"
    try:
        yield f"unix:{sock}"
    finally:
        proc.terminate()
        proc.wait(5)


def _windows_rms(raw: bytes, t0: float, start: float, end: float, step: float = 0.1) -> list[float]:
    data = np.frombuffer(raw[: len(raw) // 2 * 2], dtype=np.int16).astype(np.float64)
    out = []
    t = start
    while t + step <= end:
        a, b = int((t - t0) * RATE), int((t + step - t0) * RATE)
        chunk = data[max(a, 0):max(b, 0)]
        out.append(float(np.sqrt(np.mean(chunk ** 2))) if len(chunk) else 0.0)
        t += step
    return out


def test_the_pattern_plays_until_acknowledged(pulse: str, tmp_path: Path) -> None:
    env = {**os.environ, "PULSE_SERVER": pulse, "QT_QPA_PLATFORM": "offscreen"}
    rec_path = tmp_path / "capture.raw"
    with rec_path.open("wb") as rec_out:
        rec = subprocess.Popen(
            ["parec", "-d", "vigil_test.monitor", "--raw", "--format=s16le", f"--rate={RATE}",
             "--channels=1", "--latency-msec=20"],
            env=env, stdout=rec_out, stderr=subprocess.PIPE,
        )
        t_rec = time.time()
        try:
            child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=60)
        finally:
            time.sleep(0.3)
            rec.terminate()
            rec.wait(5)
    assert child.returncode == 0, child.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in child.stdout.splitlines() if " " in line)
    assert lines["AUDIO"].startswith("True"), lines["AUDIO"]
    raised, acked = float(lines["RAISED"]), float(lines["ACKED"])
    assert int(lines["BURSTS"]) >= 2  # urgent repeats every 4 s: two bursts in the 5 s unacknowledged
    raw = rec_path.read_bytes()
    before = _windows_rms(raw, t_rec, raised, acked)
    after = _windows_rms(raw, t_rec, acked + 1.0, acked + 3.5)
    loud = [r for r in before if r > 1000]
    assert len(loud) >= 5, f"no alarm pattern captured: max rms {max(before, default=0):.0f}"
    assert after and max(after) < 50, f"still sounding after acknowledge: max rms {max(after):.0f}"
