"""Ctrl-C or SIGTERM on the workstation closes it the normal way: the journal ends with
app.stop under a signed checkpoint (nothing left unsealed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.journal import JournalError, read_events, verify

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_closes_the_window_and_seals_the_journal(tmp_path, sig):
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VIGIL_NO_PLUGINS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--data-dir", str(data)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None and not _started(data):
            time.sleep(0.2)
        time.sleep(6.0)  # let the window come up and poll
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-2000:]
    assert f"{sig.name} received" in err
    events = read_events(data / "journal")
    assert events[-1].kind == "app.stop"
    result = verify(data / "journal")
    assert result.exit_code == 0 and result.unsealed == 0


def _started(data: Path) -> bool:
    db = data / "journal" / "journal.sqlite"
    try:
        return db.exists() and any(e.kind == "config.load" for e in read_events(data / "journal"))
    except JournalError:  # the file exists a moment before its tables do
        return False
