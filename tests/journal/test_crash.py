"""kill -9 of a process appending in a loop, repeated: the journal always verifies afterwards."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from app.core.journal import Journal, read_events, verify

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import sys, time
from app.core.journal import Journal
j = Journal.open(sys.argv[1], checkpoint_every=700, checkpoint_interval_s=5.0)
print("ready", flush=True)
deadline = time.monotonic() + 20.0   # bounded even if nobody kills us
i = 0
while time.monotonic() < deadline:
    j.append("alarm.transition", "system", {"i": i, "tag": "tank1.level"}, critical=i % 1999 == 0)
    i += 1
    if i % 200 == 0:
        time.sleep(0.002)  # a busy but not saturated plant
"""


def test_kill_9_while_appending_always_leaves_a_verifiable_journal(tmp_path: Path) -> None:
    d = tmp_path / "journal"
    rng = random.Random(20261125)
    runs = 5
    sizes = []
    for _ in range(runs):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(d)], cwd=ROOT,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
            time.sleep(rng.uniform(0.05, 0.6))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        res = verify(d)
        assert res.ok, res.message  # possibly with an unsealed tail, never tampered or corrupt
        sizes.append(res.events)
        print(f"killed: {res.events} events, {res.unsealed} unsealed")
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0]

    with Journal.open(d):
        pass
    unclean = read_events(d, kind="journal.unclean_shutdown")
    assert len(unclean) == runs  # every restart after a kill said so, including this last one
    assert all(e.critical for e in unclean)
    final = verify(d)
    assert final.ok and final.unsealed == 0, final.message
