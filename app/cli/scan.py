"""``vigil scan``: which unit ids answer on a Modbus link, and which addresses read.

    vigil scan --host 192.168.1.20 [--port 502] [--units 1-247] [--table holding] [--range 0-99]
    vigil scan --serial /dev/ttyUSB0 [--baudrate 9600 --parity N --stopbits 1] [--units 1-32]

Polite by design (one request in flight, ``--rate`` requests per second at most, every request
bounded by ``--timeout``); the rules are in `app.core.busscan`. ``--draft FOLDER`` writes one
draft profile per answering unit (every readable register as a uint16, every bit as a bool,
named by address) for the engineer to name, type and scale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.profile_writer import ScalarValue, checked_profile, profile_toml, write_atomically
from app.core.busscan import BusScanner, ScanOptions, UnitReport, parse_id_list
from app.core.errors import ConfigError
from app.sdk.driver import CommError, LinkConfig, SerialSettings

#: points a draft profile holds at most (a whole 64 Ki table is not a useful draft)
MAX_DRAFT_POINTS = 1000
_PREFIX = {"holding": "hr", "input": "ir", "coil": "coil", "discrete": "di"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="find the unit ids that answer on a Modbus link and the addresses that read",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--host", help="Modbus TCP device or gateway")
    where.add_argument("--serial", metavar="PORT", help="RTU serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--port", type=int, default=502, help="TCP port (default 502)")
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--parity", choices=("N", "E", "O"), default="N")
    p.add_argument("--stopbits", type=int, choices=(1, 2), default=1)
    p.add_argument("--units", default="1-247", help="unit ids, e.g. 1-247 or 1,3,10-12 (default 1-247)")
    p.add_argument("--table", choices=("holding", "input", "coil", "discrete"), default="holding")
    p.add_argument(
        "--range", default="0-99", metavar="A-B", help="protocol addresses to probe (default 0-99)"
    )
    p.add_argument("--block", type=int, default=0, help="largest read (default 125 registers or 256 bits)")
    p.add_argument("--rate", type=float, default=10.0, help="requests per second at most (default 10)")
    p.add_argument("--timeout", type=float, default=0.5, help="seconds to wait for each answer (default 0.5)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.add_argument(
        "--draft", type=Path, metavar="FOLDER", help="write a draft profile per answering unit here"
    )
    p.set_defaults(func=_scan)


def _options(args: argparse.Namespace) -> ScanOptions:
    units = parse_id_list(args.units, 0, 255, "unit id")
    span = parse_id_list(args.range, 0, 65535, "range")
    if len(args.range.split(",")) != 1:
        raise ValueError("--range takes one range A-B")
    if not 0 < args.timeout <= 30:
        raise ValueError("--timeout must be above 0 and at most 30 s")
    return ScanOptions(
        units=units, table=args.table, start=span[0], end=span[-1], block=args.block, rate_hz=args.rate
    )


def _link(args: argparse.Namespace) -> LinkConfig:
    if args.serial:
        return LinkConfig(
            transport="rtu",
            serial=SerialSettings(args.serial, args.baudrate, args.parity, args.stopbits),
            timeout_s=args.timeout,
        )
    return LinkConfig(transport="tcp", host=args.host, port=args.port, timeout_s=args.timeout)


async def run_scan(link: LinkConfig, options: ScanOptions, progress: bool = False) -> list[UnitReport]:
    """Scan through the transport's driver plugin (built here, on the running loop)."""
    from app.plugin_host import PluginHost

    host = PluginHost(approvals={})  # Modbus links: the built-in driver; nothing unapproved is imported
    driver = host.driver_factory(link.transport)(link)

    def show(r: UnitReport) -> None:
        if progress:
            print(f"  unit {r.unit}: {r.first_answer}", file=sys.stderr, flush=True)

    try:
        return await BusScanner(driver, options, on_progress=show).scan()
    finally:
        await driver.close()


def _ranges_text(ranges: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges) or "none"


def _report(reports: list[UnitReport], options: ScanOptions) -> None:
    answered = [r for r in reports if r.answered]
    silent = [r.unit for r in reports if not r.answered]
    print(
        f"{len(answered)} of {len(reports)} unit ids answered ({options.table}, "
        f"addresses {options.start}-{options.end}, {sum(r.requests for r in reports)} requests)"
    )
    for r in answered:
        note = "" if r.complete else " (request budget reached: range not fully covered)"
        print(f"unit {r.unit}: readable {_ranges_text(r.ranges)} ({r.readable} addresses){note}")
    if silent:
        print(f"no answer: {_ranges_text(_as_ranges(silent))}")


def _as_ranges(ids: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for i in ids:
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def draft_profile(report: UnitReport, options: ScanOptions, where: str) -> str:
    """A profile of what ``report`` found: one point per readable address, named by address."""
    bits = options.table in ("coil", "discrete")
    points: list[dict[str, ScalarValue]] = []
    for a, b in report.ranges:
        for address in range(a, b + 1):
            if len(points) >= MAX_DRAFT_POINTS:
                break
            seen = report.values.get(address)
            point: dict[str, ScalarValue] = {
                "name": f"{_PREFIX[options.table]}_{address}",
                "description": f"found by vigil scan; read {seen!r}"
                if seen is not None
                else "found by vigil scan",
                "table": options.table,
                "address": address,
                "type": "bool" if bits else "uint16",
            }
            points.append(point)
    device: dict[str, ScalarValue] = {
        "id": f"draft-unit{report.unit}",
        "vendor": "",
        "model": "",
        "description": f"Draft from a bus scan of {where}, unit {report.unit}",
        "source": "vigil scan (no document: name, type and scale the points from the device's manual)",
        "zero_based": True,
    }
    header = (
        f"DRAFT written by `vigil scan` ({where}, unit {report.unit}, {options.table} "
        f"{options.start}-{options.end}).\n"
        "Every readable address is a uint16 register or a bool bit named by its address. Rename\n"
        "the id and points, merge 32-bit pairs, add units, scales and limits from the manual."
    )
    if len(points) >= MAX_DRAFT_POINTS:
        header += f"\nOnly the first {MAX_DRAFT_POINTS} readable addresses are listed."
    return profile_toml(device, points, header)


def _scan(args: argparse.Namespace) -> int:
    try:
        options = _options(args)
    except ValueError as e:
        print(f"vigil scan: {e}", file=sys.stderr)
        return 2
    if args.draft is not None and not args.draft.is_dir():
        print(f"vigil scan: --draft {args.draft} is not a folder", file=sys.stderr)
        return 2
    link = _link(args)
    where = f"{args.host}:{args.port}" if args.host else f"{args.serial} {args.baudrate} {args.parity}"
    print(
        f"scanning {where}: units {args.units}, at most {options.rate_hz:g} requests/s, "
        f"{args.timeout:g} s timeout",
        file=sys.stderr,
    )
    try:
        reports = asyncio.run(run_scan(link, options, progress=not args.json))
    except CommError as e:
        print(f"vigil scan: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vigil scan: interrupted", file=sys.stderr)
        return 130
    if args.json:
        rows: list[dict[str, Any]] = [
            {
                "unit": r.unit,
                "answered": r.answered,
                "first_answer": r.first_answer,
                "ranges": [list(x) for x in r.ranges],
                "requests": r.requests,
                "complete": r.complete,
            }
            for r in reports
        ]
        print(json.dumps(rows, indent=2))
    else:
        _report(reports, options)
    if args.draft is not None:
        for r in reports:
            if not r.ranges:
                continue
            text = draft_profile(r, options, where)
            path = args.draft / f"draft-unit{r.unit}.toml"
            try:
                checked_profile(text, str(path))
                write_atomically(path, text)
            except (ConfigError, OSError) as e:
                print(f"vigil scan: cannot write {path}: {e}", file=sys.stderr)
                return 1
            print(f"draft profile: {path}", file=sys.stderr)
    return 0
