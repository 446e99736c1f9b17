"""How long a station shows a dead node's values as good (run by hand; not collected by pytest).

    .venv/bin/python tests/benchmarks/node_death.py [--rounds 5]

A real `vigil node` (the demo plant, simulator in-process) publishes to a Mosquitto started
here on 127.0.0.1; a `RemoteStation` in this process watches `tank.level`. Each round the
node is ended one of two ways, alternating:

- SIGKILL: no goodbye; the broker publishes the node's Will (NDEATH) when it sees the TCP
  connection drop, and the station marks every tag of the node STALE;
- SIGTERM (the baseline, same run): the node publishes its own NDEATH on the way out.

Printed: the time from the signal to the station showing the tag STALE, per round, with
median and max of each, beside the load average. The issue's aim is within 2 s for SIGKILL.
No assertion: read the figures (2 noisy cores).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.model import Quality  # noqa: E402
from app.station.remote.station import RemoteStation  # noqa: E402
from tests.mqtt_support import MosquittoBroker  # noqa: E402

GROUP = "bench"
TAG = "tank.level"
WAIT_S = 30.0  # every wait below is bounded


def wait_for(pred, timeout: float = WAIT_S, step: float = 0.005) -> float | None:  # type: ignore[no-untyped-def]
    """Monotonic time at which ``pred`` first held, or None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(step)
    return None


def one_round(work: Path, broker: MosquittoBroker, n: int, sig: signal.Signals) -> float | None:
    node_id = f"n{n}"
    data = work / node_id
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "node", "--broker", broker.url(), "--group", GROUP,
         "--node-id", node_id, "--data-dir", str(data), "--duration", "120"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    station = RemoteStation(broker.config(), GROUP, work / f"ws{n}", station_id=f"ws{n}")
    try:
        station.connect(wait_s=WAIT_S)

        def good() -> bool:
            s = station.latest().get(TAG)
            return s is not None and s.quality is Quality.GOOD and station.nodes().get(node_id) is True

        if wait_for(good) is None:
            print(f"  round {n}: the node's {TAG} never arrived good; skipped", flush=True)
            return None
        time.sleep(1.0)  # a few polls in steady state
        t0 = time.monotonic()
        proc.send_signal(sig)
        t1 = wait_for(lambda: station.latest()[TAG].quality is Quality.STALE)
        return None if t1 is None else t1 - t0
    finally:
        station.close()
        proc.kill()
        proc.wait(30)


def load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds of each kind, 1..20")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 20:
        ap.error("--rounds must be 1..20")
    results: dict[str, list[float]] = {"SIGKILL": [], "SIGTERM (baseline)": []}
    loads = [load()]
    with tempfile.TemporaryDirectory(prefix="vigil-node-death-") as tmp:
        work = Path(tmp)
        with MosquittoBroker(work / "broker") as broker:
            for n in range(args.rounds * 2):
                kind, sig = (("SIGKILL", signal.SIGKILL) if n % 2 == 0
                             else ("SIGTERM (baseline)", signal.SIGTERM))
                took = one_round(work, broker, n, sig)
                loads.append(load())
                shown = "not STALE within 30 s" if took is None else f"{took * 1000:.0f} ms"
                print(f"  round {n + 1}: {kind:<18} signal -> STALE at the station: {shown}", flush=True)
                if took is not None:
                    results[kind].append(took)
    print(f"\nsignal -> station shows {TAG} STALE (load average {min(loads):.2f}-{max(loads):.2f}):")
    for kind, times in results.items():
        if times:
            ms = sorted(t * 1000 for t in times)
            print(f"  {kind:<18} median {statistics.median(ms):6.0f} ms   max {ms[-1]:6.0f} ms   "
                  f"(n={len(ms)})")
        else:
            print(f"  {kind:<18} no round ended")
    print("aim (issue #13): SIGKILL within 2 s")


if __name__ == "__main__":
    main()
