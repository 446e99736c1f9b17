"""``vigil history export`` and ``vigil history tags``: read the historian without the app.

Both only read: they never create or change ``historian.sqlite``, so they are safe to run while
the workstation is recording (WAL lets them read a consistent snapshot).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli._common import parse_when as parse_time
from app.core.historian import HistorianError, HistorianReader, export_csv, iso_utc
from app.core.paths import DataDirError, resolve_data_dir

HISTORIAN_FILE = "historian.sqlite"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("history", help="export or list what the historian recorded")
    hsub = p.add_subparsers(dest="history_cmd", required=True)

    e = hsub.add_parser(
        "export",
        help="write samples as CSV rows time,tag,value,quality (UTC, ms)",
        description="Write samples as long-format CSV: time,tag,value,quality. Times are ISO-8601 "
        "UTC with milliseconds; quality is its name (GOOD, BAD_COMM, ...).",
    )
    _data_dir_arg(e)
    e.add_argument("--out", required=True, help="CSV file to write (replaced only when complete)")
    e.add_argument("--tags", nargs="+", metavar="TAG", help="only these tags (default: all)")
    e.add_argument(
        "--from",
        dest="t_from",
        type=parse_time,
        metavar="TIME",
        help="start, inclusive: ISO-8601 (no zone = UTC) or epoch seconds",
    )
    e.add_argument("--to", dest="t_to", type=parse_time, metavar="TIME", help="end, inclusive; as --from")
    e.set_defaults(func=_export)

    t = hsub.add_parser("tags", help="list recorded tags with their first and last sample time")
    _data_dir_arg(t)
    t.set_defaults(func=_tags)


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", help="Vigil data folder (default: VIGIL_DATA_DIR, else the user data folder)"
    )


def _historian_path(args: argparse.Namespace) -> Path:
    """Both commands only read: a missing data dir is reported, never created."""
    return resolve_data_dir(args.data_dir, create=False) / HISTORIAN_FILE


def _export(args: argparse.Namespace) -> int:
    try:
        db = _historian_path(args)
    except DataDirError as e:
        print(str(e), file=sys.stderr)
        return 1
    if args.t_from is not None and args.t_to is not None and args.t_from > args.t_to:
        print(f"--from ({iso_utc(args.t_from)}) is after --to ({iso_utc(args.t_to)})", file=sys.stderr)
        return 2
    try:
        reader = HistorianReader(db)
        reader.check()
        if args.tags:
            known = set(reader.tags())
            unknown = [t for t in args.tags if t not in known]
            for tag in unknown:
                print(f"warning: tag '{tag}' is not in {db}", file=sys.stderr)
            if len(unknown) == len(args.tags):
                print("none of the requested tags were recorded; nothing exported", file=sys.stderr)
                return 1
        rows = export_csv(db, args.out, args.tags, args.t_from, args.t_to)
    except HistorianError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{args.out}: cannot write ({e.strerror or e})", file=sys.stderr)
        return 1
    print(f"{args.out}: {rows} rows")
    return 0


def _tags(args: argparse.Namespace) -> int:
    try:
        db = _historian_path(args)
        infos = HistorianReader(db).tag_info()
    except (HistorianError, DataDirError) as e:
        print(str(e), file=sys.stderr)
        return 1
    if not infos:
        print(f"{db}: no tags recorded yet")
        return 0
    width = max(len(i.name) for i in infos)
    for i in infos:
        first = iso_utc(i.first) if i.first is not None else "-"
        last = iso_utc(i.last) if i.last is not None else "-"
        print(f"{i.name:<{width}}  {i.kind:<6}  {first}  {last}")
    return 0
