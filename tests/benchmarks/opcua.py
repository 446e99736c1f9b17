"""OPC UA driver benchmark: 1,000 monitored items, Vigil's driver beside a bare asyncua loop.

    python tests/benchmarks/opcua.py [--items 1000] [--duration 10] [--rounds 3] [--period 0.25]

An asyncua server runs in a separate process on 127.0.0.1 and changes every one of its
``--items`` Double variables every ``--period`` seconds. In this (client) process, each round
runs three phases against it, one after the other:

- **bare**: an asyncua client, one subscription, ``--items`` monitored items, and a loop that
  takes every data change from the subscription's iterator and stores the value in a dict;
- **driver**: Vigil's OPC UA driver alone (resolve, read, subscribe, status mapping into its
  cache), nothing polling it;
- **vigil**: Vigil's OPC UA driver plugin for the same items (resolve, read, subscribe, status
  mapping into its cache), polled by the real runtime every second into a counting sink, i.e.
  the whole path to samples.

For each phase it prints the time to set up the items (items/s), the data changes received
per second, and this process's CPU per 1,000 changes (``time.process_time``, so the server
process is not counted). Medians over rounds; "x bare" is the median of each round's ratio.
Bounded: every phase runs ``--duration`` seconds; the server process is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "plugins" / "opcua"), str(ROOT / "plugins" / "opcua" / "tests")]


def serve(items: int, period: float, port_q: Any, stop: Any) -> None:
    import logging

    from asyncua import Server, ua

    logging.getLogger("asyncua").setLevel(logging.CRITICAL)

    async def main() -> None:
        server = Server()
        await server.init()
        server.set_endpoint("opc.tcp://127.0.0.1:0/bench/")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace("urn:vigil:bench")
        obj = await server.nodes.objects.add_object(idx, "Bench")
        nodes = [
            await obj.add_variable(f"ns={idx};s=V{i}", f"{idx}:V{i}", ua.Variant(0.0, ua.VariantType.Double))
            for i in range(items)
        ]
        await server.start()
        port_q.put((server.bserver._server.sockets[0].getsockname()[1], idx))  # type: ignore[union-attr]
        k = 0
        while not stop.is_set():
            k += 1
            t0 = time.monotonic()
            for i, n in enumerate(nodes):
                await server.write_attribute_value(
                    n.nodeid, ua.DataValue(ua.Variant(float(k * 1000 + i), ua.VariantType.Double))
                )
            await asyncio.sleep(max(0.0, period - (time.monotonic() - t0)))
        await server.stop()

    asyncio.run(main())


async def bare_phase(endpoint: str, idx: int, items: int, duration: float) -> dict[str, float]:
    from asyncua import Client, ua
    from asyncua.common.subscription import DataChangeEvent

    client = Client(endpoint, timeout=10)
    await client.connect()
    try:
        nodes = [client.get_node(f"ns={idx};s=V{i}") for i in range(items)]
        t0 = time.perf_counter()
        sub = await client.create_subscription(100, handler=None, queue_maxsize=4 * items)
        await sub.subscribe_data_change(nodes, sampling_interval=ua.Double(50.0))
        setup = time.perf_counter() - t0
        values: dict[int, object] = {}
        count = [0]

        async def consume() -> None:  # the cheapest consumer: no per-event timeout
            while True:
                ev = await sub.next_event()
                if isinstance(ev, DataChangeEvent):
                    values[ev.data.monitored_item.ClientHandle] = ev.value
                    count[0] += 1

        c0, w0 = time.process_time(), time.perf_counter()
        task = asyncio.create_task(consume())
        await asyncio.sleep(duration)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        await sub.delete()
    finally:
        await client.disconnect()
    return _figures(items, setup, count[0], cpu, wall)


def _figures(items: int, setup: float, changes: int, cpu: float, wall: float) -> dict[str, float]:
    return {
        "setup_items_s": items / setup,
        "updates_s": changes / wall,
        "cpu_ms_per_1k": 1e6 * cpu / max(changes, 1),
        "cpu_pct": 100.0 * cpu / wall,
    }


async def driver_phase(endpoint: str, idx: int, items: int, duration: float) -> dict[str, float]:
    """Vigil's driver alone: the subscription feeding its cache, nothing polling it."""
    from vigil_opcua.driver import OpcUaDriver

    from app.sdk import LinkConfig

    points = [{"name": f"v{i}", "node": f"ns={idx};s=V{i}"} for i in range(items)]
    opts = {"endpoint": endpoint, "publishing_ms": 100, "sampling_ms": 50, "points": points}
    driver = OpcUaDriver(LinkConfig(transport="opcua", timeout_s=10.0, options=opts))
    t0 = time.perf_counter()
    await driver.connect()
    setup = time.perf_counter() - t0
    try:
        u0, c0, w0 = driver.updates, time.process_time(), time.perf_counter()
        await asyncio.sleep(duration)
        changes, cpu, wall = driver.updates - u0, time.process_time() - c0, time.perf_counter() - w0
    finally:
        await driver.close()
    return _figures(items, setup, changes, cpu, wall)


def vigil_phase(endpoint: str, idx: int, items: int, duration: float) -> dict[str, float]:
    from vigil_opcua.device import OpcUaDeviceType
    from vigil_opcua.driver import OpcUaDriver

    from app.core.plant import parse_plant
    from app.core.profiles import ProfileLibrary
    from app.core.runtime import Runtime
    from app.plugin_host import PluginHost
    from app.sdk import LinkConfig

    points = "\n".join(
        f'[[devices.options.points]]\nname = "v{i}"\nnode = "ns={idx};s=V{i}"' for i in range(items)
    )
    plant_text = (
        '[[devices]]\nname = "bench"\ntransport = "opcua"\ndevice_type = "opcua"\ninterval_ms = 1000\n'
        f'timeout_ms = 10000\n[devices.options]\nendpoint = "{endpoint}"\npublishing_ms = 100\n'
        f"sampling_ms = 50\n{points}\n"
    )
    plant = parse_plant(plant_text.encode(), "bench.toml", ProfileLibrary())
    cfg = plant.devices[0]

    async def discover():  # what the core does at start
        d = OpcUaDriver(cfg.link_config())
        await d.connect()
        try:
            return await OpcUaDeviceType().discover(d, 0)
        finally:
            await d.close()

    plant = plant.with_discovered({"bench": asyncio.run(discover())})
    host = PluginHost(builtins_only=True, entry_points=False)
    drivers: list[OpcUaDriver] = []

    def factory(device_cfg):  # the host's guarded driver, keeping the inner one for its counter
        guarded = host.driver_factory("opcua")(device_cfg.link_config())
        drivers.append(guarded.inner)
        return guarded

    samples = [0]
    lock = threading.Lock()

    def sink(batch) -> None:
        with lock:
            samples[0] += len(batch)

    rt = Runtime(plant, factory, [sink])
    t0 = time.perf_counter()
    rt.start()
    while not (drivers and drivers[0].connected) and time.perf_counter() - t0 < 60:
        time.sleep(0.01)
    setup = time.perf_counter() - t0
    u0, c0, w0 = drivers[0].updates, time.process_time(), time.perf_counter()
    time.sleep(duration)
    u1, cpu, wall = drivers[0].updates, time.process_time() - c0, time.perf_counter() - w0
    rt.stop()
    _ = LinkConfig
    count = u1 - u0
    return {
        "cpu_pct": 100.0 * cpu / wall,
        "setup_items_s": items / setup,
        "updates_s": count / wall,
        "cpu_ms_per_1k": 1000 * cpu / max(count, 1) * 1000,
        "samples_s": samples[0] / (time.perf_counter() - t0),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--period", type=float, default=0.25, help="server changes every item this often (s)")
    args = ap.parse_args()
    import logging

    logging.getLogger("asyncua").setLevel(logging.CRITICAL)
    ctx = mp.get_context("spawn")
    port_q: Any = ctx.Queue()
    stop = ctx.Event()
    server = ctx.Process(target=serve, args=(args.items, args.period, port_q, stop), daemon=True)
    server.start()
    try:
        port, idx = port_q.get(timeout=120)
        endpoint = f"opc.tcp://127.0.0.1:{port}/bench/"
        offered = args.items / args.period
        print(
            f"{args.items} items, server changes each every {args.period:g} s "
            f"({offered:,.0f} changes/s offered), "
            f"{args.duration:g} s per phase, {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}"
        )
        rows: dict[str, list[dict[str, float]]] = {"bare": [], "driver": [], "vigil": []}
        for r in range(args.rounds):
            rows["bare"].append(asyncio.run(bare_phase(endpoint, idx, args.items, args.duration)))
            rows["driver"].append(asyncio.run(driver_phase(endpoint, idx, args.items, args.duration)))
            rows["vigil"].append(vigil_phase(endpoint, idx, args.items, args.duration))
            b, d, v = rows["bare"][-1], rows["driver"][-1], rows["vigil"][-1]
            print(
                f"round {r + 1}: bare {b['updates_s']:,.0f} changes/s, {b['cpu_ms_per_1k']:.1f} ms CPU/1k | "
                f"driver {d['updates_s']:,.0f}, {d['cpu_ms_per_1k']:.1f} ms | "
                f"vigil {v['updates_s']:,.0f}, {v['cpu_ms_per_1k']:.1f} ms | "
                f"load {os.getloadavg()[0]:.2f}"
            )
        med = {k: {m: statistics.median(x[m] for x in rows[k]) for m in rows[k][0]} for k in rows}
        ratios = {
            k: statistics.median(
                v["cpu_ms_per_1k"] / b["cpu_ms_per_1k"] for b, v in zip(rows["bare"], rows[k], strict=True)
            )
            for k in rows
        }
        print()
        print(
            "| path | items set up per s | changes received per s | client CPU per 1,000 changes | x bare "
            "| client CPU, % of one core |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for k, label in (
            ("bare", "bare asyncua subscription loop"),
            ("driver", "Vigil OPC UA driver (subscription into its cache)"),
            ("vigil", f"Vigil driver + runtime polling {args.items} points at 1 Hz"),
        ):
            m = med[k]
            x = f"{ratios[k]:.2f}"
            print(
                f"| {label} | {m['setup_items_s']:,.0f} | {m['updates_s']:,.0f} "
                f"| {m['cpu_ms_per_1k']:.1f} ms | {x} | {m['cpu_pct']:.1f} % |"
            )
        print(
            f"\nvigil samples delivered to the sink: {med['vigil']['samples_s']:,.0f}/s ({args.items} points "
            "polled at 1 Hz, counted from the runtime's start); "
            f"load average at the end {os.getloadavg()[0]:.2f}"
        )
    finally:
        stop.set()
        server.join(20)
        if server.is_alive():
            server.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
