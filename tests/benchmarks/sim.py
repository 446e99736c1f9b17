"""Demo simulator benchmark (run by hand: ``.venv/bin/python tests/benchmarks/sim.py``).

Prints medians over several rounds, each next to a baseline measured in the same run:

1. Model: 10 minutes of simulated time at 10 Hz (6,000 ticks, all four devices) through
   ``PlantModel.run`` - what detector tests pay to get training data. Baseline: drawing the same
   number of Gaussian samples from ``random.Random`` and storing them in dicts, the least any
   model producing these values could cost.
2. Server: a real pymodbus client reading the SDM630 block (80 registers, unit 2) from
   ``DemoSimulator`` (profile-encoded image copied in on every request, 10 Hz model updates)
   versus the same client against a plain pymodbus ``SimDevice`` with static registers (no
   action hook). Requests/s and process CPU per request (client + server share the process,
   so compare the two rows, not the absolute figure).

Every loop is bounded in count; servers listen on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pymodbus.client import AsyncModbusTcpClient  # noqa: E402
from pymodbus.server import ModbusTcpServer  # noqa: E402
from pymodbus.simulator import DataType, SimData, SimDevice  # noqa: E402

from app.sim.faults import parse_faults  # noqa: E402
from app.sim.model import PlantModel  # noqa: E402
from app.sim.server import DemoSimulator  # noqa: E402


def bench_model(rounds: int) -> None:
    times, base = [], []
    n_values = sum(
        sum(1 for v in vals.values() if not isinstance(v, str)) for vals in PlantModel().values().values()
    )
    for r in range(rounds):
        t0 = time.perf_counter()
        trace = PlantModel(seed=r, faults=parse_faults("cavitation@300")).run(600.0)
        times.append(time.perf_counter() - t0)
        assert len(trace.t) == 6000
        rng = random.Random(r)
        t0 = time.perf_counter()
        for _ in range(6000):
            d = {}
            for k in range(n_values):
                d[k] = rng.gauss(0.0, 1.0)
        base.append(time.perf_counter() - t0)
    m, b = statistics.median(times), statistics.median(base)
    print(f"model: 600 s at 10 Hz ({n_values} values/tick)   median {m * 1000:7.1f} ms"
          f"   = {6000 / m:,.0f} ticks/s")
    print(f"  baseline: {6000 * n_values:,} gauss draws into dicts  median {b * 1000:7.1f} ms"
          f"   ratio {m / b:.1f}x")


async def _client_loop(port: int, unit: int, n: int) -> tuple[float, float]:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert await client.connect()
    for _ in range(50):  # warm-up
        await client.read_input_registers(0, count=80, device_id=unit)
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        r = await client.read_input_registers(0, count=80, device_id=unit)
        assert not r.isError()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    client.close()
    return n / wall, cpu / n * 1e6


async def bench_server(rounds: int, n: int) -> None:
    demo_rates, demo_cpu, plain_rates, plain_cpu = [], [], [], []
    for _ in range(rounds):
        sim = DemoSimulator(seed=1)
        port = await sim.start("127.0.0.1", 0)
        rate, cpu = await _client_loop(port, 2, n)
        await sim.stop()
        demo_rates.append(rate)
        demo_cpu.append(cpu)

        plain = ModbusTcpServer(
            [SimDevice(id=2, simdata=([SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                                      [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
                                      [SimData(0, datatype=DataType.INVALID)],
                                      [SimData(0, values=[1234] * 346, datatype=DataType.REGISTERS)]))],
            address=("127.0.0.1", 0),
        )
        await plain.serve_forever(background=True)
        pport = plain.transport.sockets[0].getsockname()[1]
        rate, cpu = await _client_loop(pport, 2, n)
        await plain.shutdown()
        plain_rates.append(rate)
        plain_cpu.append(cpu)
    dr, dc = statistics.median(demo_rates), statistics.median(demo_cpu)
    pr, pc = statistics.median(plain_rates), statistics.median(plain_cpu)
    print(f"server: {n} reads of 80 registers, 1 connection")
    print(f"  DemoSimulator (SDM630 unit) median {dr:8,.0f} req/s  {dc:6.0f} us CPU/req")
    print(f"  plain pymodbus SimDevice    median {pr:8,.0f} req/s  {pc:6.0f} us CPU/req")
    print(f"  ratio (demo/plain): throughput {dr / pr:.2f}x, CPU {dc / pc:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=2000)
    args = ap.parse_args()
    bench_model(args.rounds)
    asyncio.run(bench_server(args.rounds, args.requests))


if __name__ == "__main__":
    main()
