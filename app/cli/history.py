"""``vigil history export / tags / info / check / rebuild``: the historian without the app.

All but ``rebuild`` only read: they never create or change ``historian.sqlite``, so they are safe
to run while the workstation is recording (WAL lets them read a consistent snapshot).
``rebuild`` rewrites the rollups from the raw samples; run it with the workstation stopped.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path

from app.cli._common import parse_when as parse_time
from app.core import atrest
from app.core.errors import VigilError
from app.core.historian import HistorianError, HistorianReader, export_csv, iso_utc
from app.core.historian.export import RESOLUTIONS, export_summaries
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
    e.add_argument(
        "--resolution",
        choices=["raw", *RESOLUTIONS],
        default="raw",
        help="raw samples (default), or one row per tag and bucket: time,tag,count,good,uncertain,bad,"
        "mean,min,max,first,last (from the rollups; 1s from raw samples)",
    )
    e.add_argument("--as", dest="as_user", metavar="NAME",
                   help="your account, recorded with the OS user in the journal's access record "
                        "(password asked)")
    e.set_defaults(func=_export)

    i = hsub.add_parser(
        "info", help="size of each resolution (raw, 10s, 1m, 10m, 1h) now and at its retention"
    )
    _data_dir_arg(i)
    i.add_argument("--plant", help="plant file whose [historian] retention to use (default: the defaults)")
    i.set_defaults(func=_info)

    c = hsub.add_parser(
        "check", help="recompute the rollups of a range and compare them with the stored ones"
    )
    _data_dir_arg(c)
    c.add_argument(
        "--from", dest="t_from", type=parse_time, metavar="TIME", help="default: a day before the end"
    )
    c.add_argument("--to", dest="t_to", type=parse_time, metavar="TIME", help="default: the newest sample")
    c.set_defaults(func=_check)

    r = hsub.add_parser("rebuild", help="make the rollups again from the raw samples (workstation stopped)")
    _data_dir_arg(r)
    r.set_defaults(func=_rebuild)

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
        _record_export(db.parent, args, args.tags or reader.tags())
        if args.resolution == "raw":
            rows = export_csv(db, args.out, args.tags, args.t_from, args.t_to)
        else:
            rows = export_summaries(
                db, args.out, RESOLUTIONS[args.resolution], args.tags, args.t_from, args.t_to
            )
    except (HistorianError, VigilError) as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{args.out}: cannot write ({e.strerror or e})", file=sys.stderr)
        return 1
    print(f"{args.out}: {rows} rows")
    return 0


def _record_export(data_dir: Path, args: argparse.Namespace, tags: list[str]) -> None:
    """Journal who exports which scope before a row is written (fails closed for patient
    data the journal cannot record: `app.cli.access`)."""
    from app.cli.access import journal_read

    scope = {"tags": sorted(args.tags) if args.tags else "all",
             "from": args.t_from, "to": args.t_to, "resolution": args.resolution, "out": str(args.out)}
    journal_read(data_dir, "history_export", scope, tags, args.as_user, "vigil history export")


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


def _retention(plant: str | None) -> dict[int, float]:
    """Level (0 = raw) -> days kept, from a plant file's ``[historian]`` or the defaults."""
    from pydantic import ValidationError

    from app.core.errors import ConfigError
    from app.core.historian.store import effective_retention
    from app.core.plant import HistorianSettings
    from app.core.tomlfile import parse_toml

    settings = HistorianSettings()
    if plant:
        try:
            raw = parse_toml(Path(plant).read_bytes(), plant)
            settings = HistorianSettings.model_validate(raw.get("historian", {}))
        except OSError as e:
            raise ConfigError(plant, [f"cannot read: {e.strerror or e}"]) from None
        except ValidationError as e:
            raise ConfigError(
                plant, [f"[historian] {err['loc'][0]}: {err['msg']}" for err in e.errors()]
            ) from None
    kw = settings.historian_kwargs()
    return {0: kw["retention_days"], **effective_retention(kw["retention_days"], kw["rollup_retention_days"])}


_INFO_ROW = "{:<6} {:>9} {:>13} {:>10} {:>10} {:>14}"


def _info(args: argparse.Namespace) -> int:
    from app.core.errors import ConfigError
    from app.core.historian.maintenance import human, sizes

    try:
        db = _historian_path(args)
        levels, file_bytes = sizes(db, _retention(args.plant))
    except (HistorianError, DataDirError, ConfigError) as e:
        print(str(e), file=sys.stderr)
        return 1
    print(f"{db}: {human(file_bytes)} on disk")
    head = ("level", "kept", "rows", "size", "per day", "at retention")
    print(_INFO_ROW.format(*head) + "  stored span")
    for lv in levels:
        kept = "forever" if lv.retention_days <= 0 else f"{lv.retention_days:g} d"
        full = human(lv.at_retention) + ("/year" if lv.retention_days <= 0 and lv.at_retention else "")
        span = (
            f"{iso_utc(lv.first)} .. {iso_utc(lv.last)}"
            if lv.first is not None and lv.last is not None
            else "-"
        )
        cells = (lv.name, kept, f"{lv.rows:,}", human(lv.bytes), human(lv.per_day), full)
        print(_INFO_ROW.format(*cells) + f"  {span}")
    print("sizes are estimates (rows x the average of the newest rows); 'per day' is for the current rate")
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.core.historian.maintenance import check

    try:
        db = _historian_path(args)
        result = check(db, args.t_from, args.t_to)
    except (HistorianError, DataDirError) as e:
        print(str(e), file=sys.stderr)
        return 1
    for problem in result.problems:
        print(problem)
    compared = ", ".join(f"{name} {n:,}" for name, n in result.compared.items()) or "nothing"
    if result.problems:
        print(f"{db}: rollups do NOT match the data ({compared} rows compared)")
        print("`vigil history rebuild` (workstation stopped) makes them again from the raw samples")
        return 1
    print(f"{db}: rollups match the data ({compared} rows compared)")
    return 0


def _rebuild(args: argparse.Namespace) -> int:
    from app.core.historian.maintenance import rebuild

    try:
        db = resolve_data_dir(args.data_dir, create=False) / HISTORIAN_FILE
        if not db.exists():
            raise HistorianError(f"{db}: no historian database here")
        HistorianReader(db).check()
        result = rebuild(db)
    except (HistorianError, DataDirError) as e:
        print(str(e), file=sys.stderr)
        return 1
    except (sqlite3.Error, atrest.dbapi.Error) as e:
        print(f"{db}: cannot rebuild ({e}); is the workstation still running?", file=sys.stderr)
        return 1
    print(f"{db}: {result.rows:,} rollup rows rebuilt in {result.seconds:.1f} s")
    return 0
