"""Remote-station benchmark (run by hand; not collected by pytest).

    .venv/bin/python tests/benchmarks/remote_station.py [--seconds 20] [--payloads 3000]

Two figures, each beside a baseline measured in the same run:

1. Decoding at the station: DDATA payloads of 50 aliased metrics fed to `SparkplugHost` (alias
   lookup, datatype from the birth, quality, `Sample`s), in metrics/s, beside protobuf's bare
   ``ParseFromString`` of the same payloads and the node's codec (`decode_payload`).
2. Age of a value when the window's 25 Hz drain picks it up, p50/p99, source time to drain:
   the demo plant polled at 10 Hz by `vigil node` (edge node + station-protocol server) to a
   `RemoteStation` through Mosquitto on 127.0.0.1, beside the same plant run embedded
   (`LocalStation`) for the same time. Both drains run in this process, as the window's would.

No assertion: read the figures (2 noisy cores; the load average is printed with them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from app.core.sparkplug import decode_payload  # noqa: E402
from app.core.sparkplug import sparkplug_b_pb2 as pb  # noqa: E402
from app.station.remote.sparkplug_host import SparkplugHost  # noqa: E402

POINTS = 50
DOUBLE = 10


def payloads(n: int) -> tuple[bytes, bytes, bytes, list[bytes]]:
    t = int(time.time() * 1000)
    nbirth = pb.Payload(timestamp=t, seq=0)
    m = nbirth.metrics.add(name="bdSeq", datatype=8)
    m.long_value = 0
    dbirth = pb.Payload(timestamp=t, seq=1)
    for i in range(POINTS):
        m = dbirth.metrics.add(name=f"p{i}", alias=i + 1, datatype=DOUBLE, timestamp=t)
        m.double_value = float(i)
    out = []
    for k in range(n):
        msg = pb.Payload(timestamp=t + k, seq=(k + 2) % 256)
        for i in range(POINTS):
            m = msg.metrics.add(alias=i + 1, timestamp=t + k)
            m.double_value = float(k + i)
        out.append(msg.SerializeToString())
    return nbirth.SerializeToString(), dbirth.SerializeToString(), b"", out


def decode_figures(n: int) -> None:
    nbirth, dbirth, _, data = payloads(n)
    got = [0]
    host = SparkplugHost("g", lambda s: got.__setitem__(0, got[0] + len(s)), lambda t, p: None)
    host.on_message("spBv1.0/g/NBIRTH/n", nbirth)
    host.on_message("spBv1.0/g/DBIRTH/n/d", dbirth)

    def timed(fn: object) -> float:
        t0 = time.perf_counter()
        for d in data:
            fn(d)  # type: ignore[operator]
        return n * POINTS / (time.perf_counter() - t0)

    rows = []
    for _ in range(3):
        bare = timed(lambda d: pb.Payload().ParseFromString(d))
        codec = timed(decode_payload)
        got[0] = 0
        station = timed(lambda d: host.on_message("spBv1.0/g/DDATA/n/d", d))
        assert got[0] == n * POINTS
        rows.append((bare, codec, station))
    bare, codec, station = (statistics.median(r[i] for r in rows) for i in range(3))
    print(f"decode, median of 3 ({n} DDATA x {POINTS} metrics):")
    print(f"  protobuf ParseFromString only   {bare:12,.0f} metrics/s")
    print(f"  node codec decode_payload       {codec:12,.0f} metrics/s")
    print(f"  SparkplugHost (to Samples)      {station:12,.0f} metrics/s  "
          f"({station / bare:.2f}x bare parse, {station / codec:.2f}x codec)")


def drain_ages(station: object, seconds: float) -> list[float]:
    ages: list[float] = []
    stop = time.monotonic() + seconds
    station.drain_samples()  # type: ignore[attr-defined]
    while time.monotonic() < stop:
        time.sleep(0.04)  # the window's bridge drains at 25 Hz
        now = time.time()
        ages += [now - s.t for s in station.drain_samples() if s.quality.is_good]  # type: ignore[attr-defined]
    return ages


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000.0


def latency_figures(seconds: float) -> None:
    from mqtt_support import MosquittoBroker

    from app.station import Core, LocalStation
    from app.station.node.service import NodeService
    from app.station.remote.server import StationProtocolServer
    from app.station.remote.station import RemoteStation

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        core = Core(work / "embedded", demo_interval_ms=100)
        core.start()
        try:
            time.sleep(3)
            embedded = drain_ages(LocalStation(core), seconds)
        finally:
            core.stop()
        with MosquittoBroker(work / "broker") as broker:
            svc = NodeService(work / "node", broker.config(), group="bench", node_id="area",
                              factories=[StationProtocolServer], demo_interval_ms=100)
            svc.start()
            try:
                ws = RemoteStation(broker.config(), "bench", work / "ws", station_id="bench-ws").connect(15)
                try:
                    time.sleep(3)
                    remote = drain_ages(ws, seconds)
                finally:
                    ws.close()
            finally:
                svc.stop()
    print(f"source time -> window drain, demo plant polled at 10 Hz, {seconds:.0f} s each:")
    for name, ages in (("embedded (LocalStation)", embedded), ("node -> Mosquitto -> RemoteStation", remote)):
        print(f"  {name:36s} p50 {pct(ages, 0.5):6.1f} ms  p99 {pct(ages, 0.99):6.1f} ms  "
              f"({len(ages):,} samples)")
    print("  (remote: by exception, only changed values travel, so it counts fewer samples)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--payloads", type=int, default=3000)
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    decode_figures(args.payloads)
    latency_figures(args.seconds)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
