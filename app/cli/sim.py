"""``vigil sim``: serve the demo plant over Modbus TCP until Ctrl-C (or ``--duration``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from app.core.errors import VigilError
from app.sim.faults import describe_faults, parse_faults

DEFAULT_PORT = 5020


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="serve the demo plant (pump, SDM630 meter, tank, vital signs) over Modbus TCP",
        description="Serve the built-in demo plant on one Modbus TCP port: unit 1 pump skid, "
        "unit 2 Eastron SDM630 meter, unit 3 tank, unit 4 bedside monitor. Ctrl-C stops.",
        epilog=f"Faults: {describe_faults()}.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0 = any free)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same signals")
    p.add_argument(
        "--faults",
        default="",
        metavar="LIST",
        help="comma-separated name[:device][@start_s][+duration_s], "
        "e.g. cavitation@60,stuck_valve@30+120,dead:vitals@45+30,exception:meter@20+10",
    )
    p.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S seconds")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument(
        "--plant-out",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write a plant file for this simulator (for `vigil run --plant FILE`)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        faults = parse_faults(args.faults)
    except VigilError as e:
        print(f"vigil sim: {e}", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"vigil sim: --port {args.port}: must be 0-65535", file=sys.stderr)
        return 2
    if args.duration is not None and args.duration <= 0:
        print("vigil sim: --duration must be > 0 seconds", file=sys.stderr)
        return 2
    if not 0 < args.speed <= 1000:
        print("vigil sim: --speed must be in (0, 1000]", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(args, faults))
    except KeyboardInterrupt:
        print("demo simulator stopped", flush=True)
        return 0


async def _serve(args: argparse.Namespace, faults: list) -> int:
    from app.sim.demo import DEMO_DEVICES, demo_plant_toml
    from app.sim.server import DemoSimulator

    try:
        sim = DemoSimulator(seed=args.seed, faults=faults, speed=args.speed)
        port = await sim.start(args.host, args.port)
    except (VigilError, OSError) as e:
        print(f"vigil sim: {e}", file=sys.stderr)
        return 1
    try:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"warning: serving on {args.host}: other machines can read and WRITE this plant",
                  file=sys.stderr)
        print(f"Vigil demo simulator on {args.host}:{port} (seed {args.seed})", flush=True)
        print(f"port {port}")
        for key, (profile_id, unit, _name, _ms) in DEMO_DEVICES.items():
            print(f"  unit {unit}: {key:<7} profile {profile_id}")
        for f in faults:
            print(f"  fault: {f}")
        if args.plant_out is not None:
            try:
                args.plant_out.write_text(demo_plant_toml(port, _client_host(args.host)), encoding="utf-8")
            except OSError as e:
                print(f"vigil sim: cannot write plant file {args.plant_out}: {e.strerror or e}",
                      file=sys.stderr)
                return 1
            print(f"  plant file: {args.plant_out}")
        print("Ctrl-C to stop" if args.duration is None else f"stopping after {args.duration:g} s",
              flush=True)
        if args.duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(args.duration)
    finally:
        await sim.stop()
    print("demo simulator stopped", flush=True)
    return 0


def _client_host(listen_host: str) -> str:
    """A plant file needs an address clients can reach; a wildcard listen address is not one."""
    return "127.0.0.1" if listen_host in ("0.0.0.0", "", "::") else listen_host
