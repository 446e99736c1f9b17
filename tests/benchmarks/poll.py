"""Polling benchmark (run by hand): N devices x 50 points at 10 Hz against pymodbus servers.

    .venv/bin/python tests/benchmarks/poll.py [--devices 100] [--hz 10] [--duration 10] [--rounds 3]

The pymodbus servers run in a separate process so that only the client side is measured. Each
round runs, one after the other and for the same time:

  raw      a plain pymodbus loop: one AsyncModbusTcpClient per device issuing exactly the block
           reads Vigil's planner makes, on absolute ticks, and nothing else (the baseline);
  raw/fast-replies  the same loop with the Modbus driver's one-step register reply decoding
           registered on each client (``vigil_modbus.responses``): how much of Vigil's figure
           is its own pipeline rather than pymodbus used the same way;
  vigil    the Runtime with the Modbus driver plugin, decoding every point into Samples and
           handing them to a sink that only notes the age of each batch;
  +hist    the same plus the real Historian (SQLite WAL in a temp dir) as a second sink, to see
           the age of a value when it is committed. The runtime hands it each poll as columns
           (``Historian.on_poll``);
  +hist/samples  the same Historian with its ``on_poll`` hidden, so it packs every poll from
           the Sample tuples (``on_samples``): the same-run baseline for the column hook.
  +hist/encrypted  +hist with the historian encrypted at rest (SQLCipher), as in the station's
           data folder.

Printed per phase: medians over rounds of samples/s, requests/s, slowest device's achieved rate,
overruns, p50/p99 age at the sink (and when stored), and process CPU (time.process_time) as
seconds and % of one core, with the ratio vigil/raw, and CPU per completed poll (which does not
flatter a phase that skipped polls on a busy machine). ``--phases`` runs a subset (raw is
always run: it is the baseline). No assertion: read the figures.

Because the machine is shared, whole-process CPU moves by +-20 % between phases; so the
historian's own CPU is also measured directly (its ``on_samples`` on the core thread plus its
writer thread's CPU clock), and the time the garbage collector ran, in every phase.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins" / "modbus"))

POINTS = 50


def profile_toml() -> str:
    """50 points over 80 holding registers: 20 float32, 10 uint32 (scaled), 20 int16."""
    lines = ['[device]\nid = "bench"\n']
    addr = 0
    for i in range(20):
        lines.append(f'[[points]]\nname = "f{i}"\ntable = "holding"\naddress = {addr}\ntype = "float32"\n')
        addr += 2
    for i in range(10):
        lines.append(
            f'[[points]]\nname = "u{i}"\ntable = "holding"\naddress = {addr}\ntype = "uint32"\n'
            "scale = 0.01\nword_order = \"little\"\n"
        )
        addr += 2
    for i in range(20):
        lines.append(f'[[points]]\nname = "s{i}"\ntable = "holding"\naddress = {addr}\ntype = "int16"\n')
        addr += 1
    return "\n".join(lines)


# ----------------------------------------------------------------------------- server process
def serve(n_devices: int, conn) -> None:
    """Child process: one pymodbus server per 25 devices (unit ids 1..25), ports sent back."""
    import logging

    from pymodbus.server import ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    async def main() -> None:
        servers, ports = [], []
        per_server = 25
        for first in range(0, n_devices, per_server):
            units = min(per_server, n_devices - first)
            devices = [
                SimDevice(id=u + 1, simdata=[SimData(0, count=128, values=list(range(128)),
                                                     datatype=DataType.REGISTERS)])
                for u in range(units)
            ]
            server = ModbusTcpServer(devices, address=("127.0.0.1", 0))
            await server.serve_forever(background=True)
            servers.append(server)
            ports.append(server.transport.sockets[0].getsockname()[1])
        conn.send(ports)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # wait for "stop"
        for s in servers:
            await s.shutdown()

    asyncio.run(main())


def device_addresses(n_devices: int, ports: list[int]) -> list[tuple[int, int]]:
    """(port, unit) of device i: 25 units per server."""
    return [(ports[i // 25], i % 25 + 1) for i in range(n_devices)]


# ----------------------------------------------------------------------------- raw baseline
def run_raw(addresses, blocks, interval: float, duration: float, warmup: float,
            fast_replies: bool = False) -> dict:
    from pymodbus.client import AsyncModbusTcpClient
    from vigil_modbus.responses import FAST_RESPONSES

    counts = [0] * len(addresses)
    overruns = [0]
    gc_s = [0.0]
    stop = [False]

    async def device(i: int, port: int, unit: int) -> None:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0, reconnect_delay=0)
        for response_class in FAST_RESPONSES if fast_replies else ():
            client.register(response_class)
        await client.connect()
        due = time.monotonic() + i / len(addresses) * interval  # spread like the runtime does
        try:
            while not stop[0]:
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                for address, count in blocks:
                    rr = await client.read_holding_registers(address, count=count, device_id=unit)
                    if rr.isError():
                        raise RuntimeError(rr)
                counts[i] += 1
                due += interval
                now = time.monotonic()
                if due <= now:
                    missed = int((now - due) / interval) + 1
                    due += missed * interval
                    overruns[0] += missed
        finally:
            client.close()

    async def main() -> tuple[float, float, list[int], int]:
        tasks = [asyncio.create_task(device(i, p, u)) for i, (p, u) in enumerate(addresses)]
        await asyncio.sleep(warmup)
        gc_s[0] = GC.seconds
        c0, w0, n0, o0 = time.process_time(), time.monotonic(), list(counts), overruns[0]
        await asyncio.sleep(duration)
        c1, w1, n1, o1 = time.process_time(), time.monotonic(), list(counts), overruns[0]
        gc_s[0] = GC.seconds - gc_s[0]
        stop[0] = True
        await asyncio.gather(*tasks)
        return c1 - c0, w1 - w0, [b - a for a, b in zip(n0, n1, strict=True)], o1 - o0

    cpu, wall, polls, over = asyncio.run(main())
    return {
        "cpu_s": cpu, "wall_s": wall, "polls": sum(polls), "samples": sum(polls) * POINTS,
        "min_rate": min(polls) / wall, "overruns": over, "age_p50": None, "age_p99": None,
        "stored_p99": None, "hist_s": None, "gc_s": gc_s[0],
    }


# ----------------------------------------------------------------------------- vigil
class GcTimer:
    """Thread CPU spent inside garbage collections (any thread), via ``gc.callbacks``."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start: dict[int, float] = {}
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start[threading.get_ident()] = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._start.pop(threading.get_ident(), time.thread_time())


GC = GcTimer()


class AgeSink:
    """Notes the age of each batch when delivered (all samples of one poll share ``t``)."""

    def __init__(self) -> None:
        self.ages: list[float] = []
        self.samples = 0

    def on_samples(self, batch) -> None:
        self.ages.append(time.time() - batch[0].t)
        self.samples += len(batch)


def run_vigil(plant, duration: float, warmup: float, with_historian: bool, columns: bool = True,
              encrypted: bool = False) -> dict:
    from vigil_modbus.driver import TcpDriver

    from app.core.runtime import Runtime

    sink = AgeSink()
    sinks: list = [sink]
    hist = None
    stored_ages: list[float] = []
    tmp = tempfile.TemporaryDirectory(prefix="vigil-bench-")
    if with_historian:
        from app.core.historian import Historian
        from app.core.historian.frames import Frame

        class TimedHistorian(Historian):
            sink_cpu = 0.0  # core-thread CPU inside on_samples

            def on_samples(self, batch):  # benchmark hook: the sink's cost on the core thread
                c = time.thread_time()
                super().on_samples(batch)
                self.sink_cpu += time.thread_time() - c

            def on_poll(self, device, t, tags, values, qualities):  # the same, column-wise
                c = time.thread_time()
                super().on_poll(device, t, tags, values, qualities)
                self.sink_cpu += time.thread_time() - c

            def _write(self, conn, batches, *args):  # benchmark hook: age at commit
                super()._write(conn, batches, *args)
                now = time.time()  # a queued poll is a packed Frame, or a tuple of Samples
                stored_ages.extend(now - (b.t if type(b) is Frame else b[0].t) for b in batches if b)

        class SamplesOnlyHistorian(TimedHistorian):
            on_poll = None  # the runtime then hands it Samples, as to any other sink

        if encrypted:  # the station's data folder: SQLCipher, key in a file outside it
            from app.core import atrest

            os.environ.setdefault("VIGIL_KEY_DIR", tempfile.mkdtemp(prefix="vigil-bench-keys-"))
            atrest.enable(Path(tmp.name), use_keyring=False)
        hist = (TimedHistorian if columns else SamplesOnlyHistorian)(Path(tmp.name) / "historian.sqlite")
        hist.start()
        sinks.append(hist)
    rt = Runtime(plant, lambda cfg: TcpDriver(cfg.link_config()), sinks)
    rt.start()
    time.sleep(warmup)
    d0 = rt.diagnostics()
    sink.ages, n_samples0 = [], sink.samples
    stored_ages.clear()
    def hist_cpu() -> tuple[float, float]:
        """(sink CPU on the core thread, writer thread CPU) so far."""
        if hist is None or hist._thread is None or hist._thread.ident is None:
            return 0.0, 0.0
        return hist.sink_cpu, time.clock_gettime(time.pthread_getcpuclockid(hist._thread.ident))

    h0, g0 = hist_cpu(), GC.seconds
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(duration)
    c1, w1 = time.process_time(), time.monotonic()
    h1, g1 = hist_cpu(), GC.seconds
    d1 = rt.diagnostics()
    samples = sink.samples - n_samples0
    rt.stop()
    if hist is not None:
        hist.flush(30)
        hist.close()
    tmp.cleanup()
    cpu, wall = c1 - c0, w1 - w0
    diag = {name: (d1[name].requests - d0[name].requests, d1[name].overruns - d0[name].overruns,
                   d1[name].error_count - d0[name].error_count) for name in d1}
    ages = sorted(sink.ages)
    polls = [r for r, _, _ in diag.values()]
    errors = sum(e for _, _, e in diag.values())
    stored = sorted(stored_ages)
    return {
        "cpu_s": cpu, "wall_s": wall, "polls": sum(polls), "samples": samples,
        "min_rate": min(polls) / wall, "overruns": sum(o for _, o, _ in diag.values()),
        "age_p50": ages[len(ages) // 2] if ages else None,
        "age_p99": ages[int(len(ages) * 0.99)] if ages else None,
        "stored_p99": stored[int(len(stored) * 0.99)] if stored else None,
        "errors": errors, "gc_s": g1 - g0,
        "hist_s": h1[0] + h1[1] - h0[0] - h0[1] if hist is not None else None,
        "sink_s": h1[0] - h0[0] if hist is not None else None,
    }


# ----------------------------------------------------------------------------- main
def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_ms(v):
    return "-" if v is None else f"{v * 1000:.2f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--hz", type=float, default=10.0)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per phase per round (max 60)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds run before measuring (connects)")
    ap.add_argument("--no-historian", action="store_true")
    ap.add_argument("--phases", default="", help="comma-separated subset of the phases (raw always runs)")
    args = ap.parse_args()
    duration = min(max(args.duration, 1.0), 60.0)
    rounds = min(max(args.rounds, 1), 10)
    n = min(max(args.devices, 1), 500)
    interval = 1.0 / args.hz

    from app.core.planner import build_plan
    from app.core.plant import parse_plant
    from app.core.profiles import ProfileLibrary, parse_profile

    lib = ProfileLibrary()
    prof = parse_profile(profile_toml().encode(), "bench-profile")
    lib.add(prof)
    plan = build_plan(prof, interval)
    blocks = [(b.address, b.count) for g in plan for b in g.blocks]

    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(n, child), daemon=True)
    proc.start()
    ports = parent.recv()
    addresses = device_addresses(n, ports)
    plant_toml = "\n".join(
        f'[[devices]]\nname = "d{i}"\nprofile = "bench"\nhost = "127.0.0.1"\nport = {p}\nunit = {u}\n'
        f"interval_ms = {round(interval * 1000)}\ntimeout_ms = 2000\n"
        for i, (p, u) in enumerate(addresses)
    )
    plant = parse_plant(plant_toml.encode(), "bench-plant", lib)

    print(f"poll benchmark: {n} devices x {POINTS} points at {args.hz:g} Hz, {len(blocks)} block read(s) "
          f"per poll, {duration:g} s per phase, {rounds} round(s), {os.cpu_count()} CPUs; "
          f"servers in pid {proc.pid}, client in pid {os.getpid()}")
    phases = ["raw", "raw/fast-replies", "vigil"] + ([] if args.no_historian else [
        "vigil+hist/samples", "vigil+historian", "vigil+hist/encrypted"])
    if args.phases:
        wanted = {p.strip() for p in args.phases.split(",")}
        unknown = wanted - set(phases)
        if unknown:
            ap.error(f"unknown phase(s) {', '.join(sorted(unknown))}; choose from {', '.join(phases)}")
        phases = ["raw"] + [p for p in phases[1:] if p in wanted]
    results: dict[str, list[dict]] = {p: [] for p in phases}
    try:
        for r in range(rounds):
            for phase in phases:
                if phase.startswith("raw"):
                    res = run_raw(addresses, blocks, interval, duration, args.warmup,
                                  fast_replies=phase == "raw/fast-replies")
                else:
                    res = run_vigil(plant, duration, args.warmup, phase != "vigil",
                                    columns=phase != "vigil+hist/samples",
                                    encrypted=phase == "vigil+hist/encrypted")
                results[phase].append(res)
                print(f"  round {r + 1} {phase:18s} cpu {res['cpu_s']:.2f} s  samples/s "
                      f"{res['samples'] / res['wall_s']:,.0f}  min device rate {res['min_rate']:.2f} Hz  "
                      f"overruns {res['overruns']}  errors {res.get('errors', 0)}  GC {res['gc_s']:.3f} s"
                      + ("" if res["hist_s"] is None else f"  historian {res['hist_s']:.3f} s"), flush=True)
                time.sleep(0.5)
    finally:
        parent.send("stop")
        proc.join(10)
        if proc.is_alive():
            proc.terminate()

    print()
    print(f"{'phase':20s}{'samples/s':>12s}{'polls/s':>10s}{'min dev Hz':>12s}{'overruns':>10s}"
          f"{'age p50':>11s}{'age p99':>11s}{'stored p99':>12s}{'CPU s':>8s}{'CPU %':>8s}{'x raw':>8s}"
          f"{'us/poll':>9s}")
    raw_cpu = median([r["cpu_s"] / r["wall_s"] for r in results["raw"]])
    for phase in phases:
        rs = results[phase]
        cpu_frac = median([r["cpu_s"] / r["wall_s"] for r in rs])
        print(f"{phase:20s}{median([r['samples'] / r['wall_s'] for r in rs]):>12,.0f}"
              f"{median([r['polls'] / r['wall_s'] for r in rs]):>10,.0f}"
              f"{median([r['min_rate'] for r in rs]):>12.2f}{median([r['overruns'] for r in rs]):>10.0f}"
              f"{fmt_ms(median([r['age_p50'] for r in rs])):>11s}"
              f"{fmt_ms(median([r['age_p99'] for r in rs])):>11s}"
              f"{fmt_ms(median([r['stored_p99'] for r in rs])):>12s}"
              f"{median([r['cpu_s'] for r in rs]):>8.2f}{cpu_frac * 100:>7.1f}%{cpu_frac / raw_cpu:>8.2f}"
              f"{median([r['cpu_s'] / max(r['polls'], 1) * 1e6 for r in rs]):>9.0f}")
    for phase in phases[1:]:
        ratios = [
            (v["cpu_s"] / v["wall_s"]) / (r["cpu_s"] / r["wall_s"])
            for v, r in zip(results[phase], results["raw"], strict=True)
        ]
        per_poll = [
            (v["cpu_s"] / max(v["polls"], 1)) / (r["cpu_s"] / max(r["polls"], 1))
            for v, r in zip(results[phase], results["raw"], strict=True)
        ]
        print(f"{phase}: CPU / raw CPU in the same round: {', '.join(f'{x:.2f}' for x in ratios)} "
              f"(median {median(ratios):.2f}); per poll: median {median(per_poll):.2f}")
    raw_s = median([r["cpu_s"] for r in results["raw"]])
    for phase in phases:
        gc_med = median([r["gc_s"] for r in results[phase]])
        line = f"{phase}: garbage collection {gc_med:.3f} s"
        hist_med = median([r["hist_s"] for r in results[phase]])
        if hist_med is not None:
            sink_med = median([r["sink_s"] for r in results[phase]])
            line += (f"; historian's own CPU {hist_med:.3f} s per {duration:g} s "
                     f"(sink call {sink_med:.3f} s + writer thread) = {hist_med / raw_s * 100:.1f} % "
                     "of the raw loop's CPU")
        print(line)
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(other work on the machine inflates CPU figures; compare within a round)")
    print("\nMeasured over the steady state (after --warmup s: connects and start-up excluded). CPU is the "
          "client process's CPU time only (servers run in another process); 'x raw' = CPU per second "
          "relative to the raw pymodbus loop issuing the same reads.")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
