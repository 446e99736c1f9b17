"""Node / broker / stations benchmark (run by hand; not collected by pytest).

    .venv/bin/python tests/benchmarks/sparkplug.py [--duration 20] [--warmup 10] [--stations 2]
        [--rounds N]

Topology, all on 127.0.0.1: three plant areas of 100 simulated Modbus devices x 50 points polled
at 1 Hz, plus one area of 10 devices x 50 points at 10 Hz; one Mosquitto broker; two
subscribing "stations" (Sparkplug host applications that decode every message with
app.core.sparkplug, as the remote station does). Every register changes every 100 ms, so every
poll changes all 50 metrics (the worst case for report-by-exception). Register 0 holds the time
of the change (ms mod 65536), so a subscriber can tell how old a decoded value is.

Two phases, one after the other, against the same simulator process (``--rounds N``: the pair
N times, alternating, so a drift in the machine's load hits both; the median ratio is printed):

  embedded  each area's plant run by `vigil run --headless` (no broker): the baseline;
  node      each area's plant run by `vigil node` publishing to the broker, with the stations.

Printed: metrics/s delivered per station, each area's process CPU in both phases and the ratio
node/embedded (aim <= 1.2x), broker CPU, station CPU, and the age of register 0 when decoded at
a station, p50/p99 per area (aim p99 < 300 ms for the 10 Hz area), with the load average.
CPU is read from /proc/<pid>/stat over the measured window (after the warm-up), in % of one core.
On a busy machine a starved process polls less than asked: the share of the expected polls
each phase stored is printed, and CPU per stored sample (and its ratio) beside the raw CPU.
No assertion: read the figures. The machine is shared: quote ratios and medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

POINTS = 50
GROUP = "bench"
#: (node id, devices, poll interval ms)
AREAS = [("area-1", 100, 1000), ("area-2", 100, 1000), ("area-3", 100, 1000), ("fast", 10, 100)]


def scale_areas(devices: int) -> None:
    """--devices N: N devices in each 1 Hz area instead of 100 (a lighter run on a busy machine)."""
    AREAS[:] = [(node, devices if ms == 1000 else n, ms) for node, n, ms in AREAS]
UPDATE_S = 0.1
TICK = os.sysconf("SC_CLK_TCK")
VIGIL = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]


# ---------------------------------------------------------------------------- helpers
def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def profile_toml() -> str:
    lines = ['[device]\nid = "bench50"\nvendor = "Vigil"\nmodel = "bench"\n']
    for i in range(POINTS):
        name = "stamp" if i == 0 else f"r{i}"
        lines.append(f'[[points]]\nname = "{name}"\ntable = "holding"\naddress = {i}\ntype = "uint16"\n')
    return "\n".join(lines)


def plant_toml(node: str, devices: int, interval_ms: int, port: int) -> str:
    out = [f'[plant]\nname = "bench {node}"\n']
    for unit in range(1, devices + 1):
        out.append(
            f'[[devices]]\nname = "d{unit:03d}"\nprofile = "bench50.toml"\ntransport = "tcp"\n'
            f'host = "127.0.0.1"\nport = {port}\nunit = {unit}\ninterval_ms = {interval_ms}\n'
        )
    return "\n".join(out)


# ---------------------------------------------------------------------------- roles
def run_sim() -> None:
    """Four pymodbus servers (one per area); every register changes every 100 ms."""
    from poll.servers import Registers, make_device, start_server

    async def main() -> None:
        ports, regs = [], []
        for _node, devices, _ms in AREAS:
            server, port = await start_server([make_device(u) for u in range(1, devices + 1)])
            ports.append(port)
            regs += [Registers(server, u).holding for u in range(1, devices + 1)]
        print(json.dumps(ports), flush=True)
        tick = 0
        while True:
            tick += 1
            stamp = int(time.time() * 1000) & 0xFFFF
            block = [stamp] + [(tick * 7 + i) & 0xFFFF for i in range(1, POINTS)]
            for holding in regs:
                holding[0:POINTS] = block
            await asyncio.sleep(UPDATE_S - (time.time() % UPDATE_S))

    asyncio.run(main())


def run_station(url: str, name: str, duration: float) -> None:
    """A Sparkplug host that decodes everything and notes the age of each 'stamp' value."""
    from app.core.sparkplug import AliasTable, MessageType, decode_payload, parse_topic
    from app.station.mqtt_link import BrokerConfig, make_client

    cfg = BrokerConfig.from_url(url)
    tables: dict[tuple[str, str], AliasTable] = {}
    stamp_alias: dict[tuple[str, str], int] = {}
    metrics: dict[str, int] = {}
    ages: dict[str, list[int]] = {}
    lock = threading.Lock()
    measuring = threading.Event()

    def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
        topic = parse_topic(msg.topic)
        key = (topic.node, topic.device or "")
        table = tables.setdefault(key, AliasTable())
        payload = decode_payload(msg.payload, table.datatypes)
        now_ms = int(time.time() * 1000) & 0xFFFF
        if topic.type is MessageType.DBIRTH:
            table.learn(payload)
            for m in payload.metrics:
                if m.name == "stamp" and m.alias is not None:
                    stamp_alias[key] = m.alias
        if not measuring.is_set():
            return
        with lock:
            metrics[topic.node] = metrics.get(topic.node, 0) + len(payload.metrics)
            if topic.type is MessageType.DDATA:
                alias = stamp_alias.get(key)
                for m in payload.metrics:
                    if m.alias == alias and isinstance(m.value, int):
                        ages.setdefault(topic.node, []).append((now_ms - m.value) & 0xFFFF)

    client = make_client(cfg, name)
    client.on_message = on_message
    client.on_connect = lambda c, *a: c.subscribe(f"spBv1.0/{GROUP}/#", qos=0)
    client.connect(cfg.host, cfg.port, keepalive=30)
    client.loop_start()
    print("ready", flush=True)
    sys.stdin.readline()  # "go": the measured window starts
    t0, cpu0 = time.monotonic(), time.process_time()
    measuring.set()
    sys.stdin.readline()  # "stop"
    measuring.clear()
    elapsed, cpu = time.monotonic() - t0, time.process_time() - cpu0
    client.disconnect()
    client.loop_stop()
    with lock:
        print(json.dumps({"elapsed": elapsed, "cpu": cpu, "metrics": metrics, "ages": ages}), flush=True)


# ---------------------------------------------------------------------------- conductor
def start_vigil(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*VIGIL, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_started(procs: dict[str, subprocess.Popen[bytes]], timeout: float = 180.0) -> None:
    """Until every process has printed its start line ("... polling N devices"), then drain
    their output in the background so a full pipe never blocks them."""
    deadline = time.monotonic() + timeout
    for name, p in procs.items():
        assert p.stdout is not None
        while True:
            line = p.stdout.readline()
            if not line or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start (exit {p.poll()}): {line!r}")
            if b"polling" in line:
                break
        threading.Thread(target=p.stdout.read, daemon=True).start()


def measure(procs: dict[str, subprocess.Popen[bytes]], warmup: float, duration: float,
            extra: dict[str, int] | None = None, on_window: tuple | None = None,
            window: list[float] | None = None) -> dict[str, float]:
    """% of one core of each process over [warm-up end, + duration]; the window's wall-clock
    start and end are appended to ``window``."""
    wait_started(procs)
    time.sleep(warmup)
    pids = {name: p.pid for name, p in procs.items()} | (extra or {})
    for name, p in procs.items():
        if p.poll() is not None:
            raise SystemExit(f"{name} exited early ({p.returncode}): {p.stdout.read() if p.stdout else ''}")
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    t0 = time.monotonic()
    if window is not None:
        window.append(time.time())
    if on_window:
        on_window[0]()
    time.sleep(duration)
    if on_window:
        on_window[1]()
    dt = time.monotonic() - t0
    if window is not None:
        window.append(time.time())
    return {name: 100.0 * (cpu_seconds(pid) - start[name]) / dt for name, pid in pids.items()}


def stop_all(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for p in procs.values():
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs.values():
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()


def samples_stored(data_dir: Path, devices: int, window: list[float]) -> int:
    """Samples the area's historian stored in the measured window (every poll stores all 50
    points, so: polls of 'stamp' x 50). CPU per stored sample compares two runs fairly even when
    a loaded machine let one of them poll less."""
    from app.core.historian import HistorianReader

    tags = [f"d{u:03d}.stamp" for u in range(1, devices + 1)]
    series = HistorianReader(data_dir / "historian.sqlite").query(tags, window[0], window[1])
    return POINTS * sum(len(s) for s in series.values())


def pct(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role", choices=["conductor", "sim", "station"], default="conductor")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=8.0, help="seconds after every process has started")
    ap.add_argument("--stations", type=int, default=2)
    ap.add_argument("--devices", type=int, default=100, help="devices in each 1 Hz area")
    ap.add_argument("--url", default="")
    ap.add_argument("--name", default="station")
    ap.add_argument("--rounds", type=int, default=1,
                    help="embedded and node phases alternated this many times; the median ratio")
    args = ap.parse_args()
    scale_areas(args.devices)
    if args.role == "sim":
        run_sim()
        return
    if args.role == "station":
        run_station(args.url, args.name, args.duration)
        return

    work = Path(tempfile.mkdtemp(prefix="vigil-spb-bench-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins" / "modbus")])}
    sim = subprocess.Popen([sys.executable, __file__, "--role", "sim", "--devices", str(args.devices)],
                           stdout=subprocess.PIPE, env=env)
    assert sim.stdout is not None
    ports = json.loads(sim.stdout.readline())
    (work / "bench50.toml").write_text(profile_toml())
    plants = {}
    for (node, devices, ms), port in zip(AREAS, ports, strict=True):
        plants[node] = work / f"{node}.toml"
        plants[node].write_text(plant_toml(node, devices, ms, port))
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
          f"{len(AREAS)} areas, {sum(d for _, d, _ in AREAS)} devices x {POINTS} points, "
          f"{args.rounds} round(s)", flush=True)
    ratios: dict[str, list[float]] = {node: [] for node, _, _ in AREAS}
    try:
        for r in range(1, args.rounds + 1):
            emb = run_embedded(work, plants, env, args, r)
            load_mid = os.getloadavg()
            nodes = run_nodes(work, plants, env, args, r)
            load_after = os.getloadavg()
            print(f"\n--- round {r} of {args.rounds}: load average before {load_before[0]:.2f}, "
                  f"between phases {load_mid[0]:.2f}, after {load_after[0]:.2f} (1 min)")
            report(work, args, r, emb, nodes, ratios)
            load_before = load_after
    finally:
        sim.kill()
        sim.wait()
    if args.rounds > 1:
        print("\nnode/embedded CPU, median of the rounds (each round's phases side by side):")
        for node, values in ratios.items():
            print(f"   {node:8} {statistics.median(values):5.2f}x   rounds: "
                  + ", ".join(f"{v:.2f}x" for v in values))
    print(f"work folder (plants, data, broker log): {work}")


Phase = tuple[dict[str, float], list[float]]


def run_embedded(work: Path, plants: dict[str, Path], env: dict[str, str], args: argparse.Namespace,
                 r: int) -> Phase:
    """Each area's plant run by ``vigil run --headless`` (no broker): the baseline."""
    window: list[float] = []
    embedded = {node: start_vigil(
        ["run", "--headless", "--plant", str(plants[node]), "--data-dir", str(work / f"emb-{node}-{r}")], env)
        for node, _, _ in AREAS}
    try:
        return measure(embedded, args.warmup, args.duration, window=window), window
    finally:
        stop_all(embedded)


def run_nodes(work: Path, plants: dict[str, Path], env: dict[str, str], args: argparse.Namespace,
              r: int) -> tuple[dict[str, float], list[float], dict[str, dict]]:  # type: ignore[type-arg]
    """Each area as a ``vigil node``, one broker, the stations decoding everything."""
    from mqtt_support import MosquittoBroker

    window: list[float] = []
    with MosquittoBroker(work / f"broker-{r}") as broker:
        broker_pid = broker._proc.pid  # type: ignore[union-attr]
        stations = {name: subprocess.Popen(
            [sys.executable, __file__, "--role", "station", "--url", broker.url(), "--name", name],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            for name in (f"station-{i + 1}" for i in range(args.stations))}
        for s in stations.values():
            assert s.stdout is not None and s.stdout.readline().strip() == b"ready"
        nodes = {node: start_vigil(
            ["node", "--plant", str(plants[node]), "--data-dir", str(work / f"node-{node}-{r}"),
             "--broker", broker.url(), "--group", GROUP, "--node-id", node], env)
            for node, _, _ in AREAS}

        def tell(word: bytes) -> None:
            for s in stations.values():
                assert s.stdin is not None
                s.stdin.write(word + b"\n")
                s.stdin.flush()

        try:
            cpu = measure(nodes, args.warmup, args.duration, extra={"broker": broker_pid},
                          on_window=(lambda: tell(b"go"), lambda: tell(b"stop")), window=window)
            reports = {}
            for name, s in stations.items():
                assert s.stdout is not None
                reports[name] = json.loads(s.stdout.readline())
        finally:
            stop_all(nodes)
            stop_all(stations)
    return cpu, window, reports


def report(work: Path, args: argparse.Namespace, r: int, emb: Phase,
           nodes: tuple[dict[str, float], list[float], dict[str, dict]],  # type: ignore[type-arg]
           ratios: dict[str, list[float]]) -> None:
    emb_cpu, emb_window = emb
    node_cpu, node_window, reports = nodes
    print(f"\n{'area':8} {'devices':>7} {'Hz':>4} {'embedded CPU':>13} {'node CPU':>9} "
          f"{'ratio':>6}   {'polled (emb/node)':>18}   {'CPU/sample emb, node':>21} {'ratio':>6}")
    for node, devices, ms in AREAS:
        e, n = emb_cpu[node], node_cpu[node]
        expected = devices * POINTS * 1000 / ms * args.duration
        se = samples_stored(work / f"emb-{node}-{r}", devices, emb_window)
        sn = samples_stored(work / f"node-{node}-{r}", devices, node_window)
        ue = e / 100 * args.duration / se * 1e6 if se else float("nan")
        un = n / 100 * args.duration / sn * 1e6 if sn else float("nan")
        ratio = n / e if e else float("nan")
        ratios[node].append(ratio)
        print(f"{node:8} {devices:7d} {1000 / ms:4.0f} {e:12.1f}% {n:8.1f}% {ratio:5.2f}x"
              f"   {100 * se / expected:7.0f}% {100 * sn / expected:6.0f}%   "
              f"{ue:9.1f} {un:7.1f} us {un / ue:5.2f}x")
    print(f"\nbroker (mosquitto) CPU: {node_cpu['broker']:.1f}%")
    for name, rep in reports.items():
        total = sum(rep["metrics"].values())
        cpu = 100 * rep["cpu"] / rep["elapsed"]
        print(f"{name}: {total / rep['elapsed']:,.0f} metrics/s decoded, CPU {cpu:.1f}%")
        for node, _devices, _ms in AREAS:
            ages = rep["ages"].get(node, [])
            rate = rep["metrics"].get(node, 0) / rep["elapsed"]
            print(f"   {node:8} {rate:9,.0f} metrics/s   register change -> decoded: "
                  f"p50 {pct(ages, 0.5):5.0f} ms  p99 {pct(ages, 0.99):5.0f} ms  (n={len(ages)})")
    expected = sum(devices * POINTS * 1000 / ms for _, devices, ms in AREAS)
    print(f"expected per station: {expected:,.0f} metrics/s (every point changes every poll)")


if __name__ == "__main__":
    main()
