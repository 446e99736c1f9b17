"""``vigil detect list | replay | train``: anomaly detectors from the command line.

``replay`` backtests a detector on any recorded CSV (train on the first N rows, stream the rest
exactly as live). ``train`` learns normal from a CSV or from the historian, saves the model under
``<data-dir>/models`` and journals its SHA-256 so the workstation will accept it. ``list`` shows
the detectors the plugins provide and the trained models with their journal status.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.core.errors import VigilError
from app.core.textsafe import csv_writer
from app.sdk.detector import DetectorError, check_detector_params

MODELS_DIR = "models"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="anomaly detectors: list, backtest on a CSV, train")
    dsub = p.add_subparsers(dest="detect_cmd", required=True)

    ls = dsub.add_parser("list", help="list detectors (and trained models with --models)")
    ls.add_argument("--models", action="store_true", help="also list trained models in the data dir")
    _data_dir_arg(ls)
    ls.set_defaults(func=_list)

    r = dsub.add_parser(
        "replay",
        help="backtest a detector on a recorded CSV",
        description="Train on the first N rows of IN.csv, stream the rest in order as the live "
        "engine would (drift guard and alarm latch included), and write one row per streamed "
        "row: time,severity,alarm,top_tags (severity 0-100, the alarm threshold is 50; top_tags, "
        "'|'-separated, only on alarm rows: the episode's tags at its peak).",
    )
    r.add_argument("csv", metavar="IN.csv")
    _model_args(r)
    r.add_argument("--out", required=True, metavar="OUT.csv")
    _data_dir_arg(r)
    r.set_defaults(func=_replay)

    t = dsub.add_parser(
        "train",
        help="learn normal from a CSV or the historian; save and journal the model",
        description="Learn normal from IN.csv (first --train-rows rows, default all) or, with "
        "--device, from the historian between --from and --to. The model goes to "
        "<data-dir>/models and its SHA-256 into the journal (stop the workstation first: the "
        "journal has one writer).",
    )
    t.add_argument("csv", metavar="IN.csv", nargs="?")
    _model_args(t, train_rows_required=False)
    t.add_argument("--device", help="learn from the historian: the device (group) name")
    t.add_argument("--tags", nargs="+", metavar="TAG", help="with --device: tags (default: its numeric tags)")
    t.add_argument("--from", dest="t_from", metavar="TIME", help="with --device: start (ISO-8601 or epoch)")
    t.add_argument("--to", dest="t_to", metavar="TIME", help="with --device: end")
    t.add_argument("--group", help="model/group name (default: --device, or the CSV file name)")
    t.add_argument("--as", dest="as_user", metavar="NAME",
                   help="once accounts exist: who you are (engineer or above; password asked)")
    _data_dir_arg(t)
    t.set_defaults(func=_train)


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir",
                   help="Vigil data folder (default: VIGIL_DATA_DIR, else the user data folder)")


def _model_args(p: argparse.ArgumentParser, train_rows_required: bool = True) -> None:
    p.add_argument("--detector", required=True, metavar="NAME", help="see 'vigil detect list'")
    p.add_argument("--train-rows", type=int, required=train_rows_required, metavar="N",
                   help="rows of normal data at the start of the file to learn from")
    p.add_argument("--sep", default=",", help="CSV field separator (default ',')")
    p.add_argument("--time-col", default=None, metavar="NAME", help="time column (default: the first)")
    p.add_argument("--ignore", default="", metavar="A,B", help="columns that are not tags (e.g. labels)")
    p.add_argument("--set", action="append", default=[], metavar="PARAM=VALUE",
                   help="override a detector parameter (VALUE is JSON: 3, 0.5, true)")


def _fail(message: str) -> int:
    print(f"vigil detect: {message}", file=sys.stderr)
    return 2


def _host(args: argparse.Namespace) -> Any:
    """The plugin host as the workstation would see it: with the data dir's disabled-plugins
    list and its journal's plugin approvals (a disabled or unapproved plugin is never
    imported). A missing data dir is not created: nothing is disabled or approved then. A data
    dir that is a file is refused (DataDirError)."""
    from app.core.paths import DataDirError, resolve_data_dir
    from app.plugin_host import PluginHost

    try:
        data_dir: Path | None = resolve_data_dir(args.data_dir, create=False)
    except DataDirError as e:
        if not e.missing:
            raise
        data_dir = None
    from app.plugin_host.trust import journal_approvals

    # as the workstation: a plugin that is not built in is imported only once approved
    approvals = journal_approvals(data_dir / "journal") if data_dir is not None else {}
    return PluginHost(data_dir=data_dir, approvals=approvals)


def _detector_factory(args: argparse.Namespace) -> Any:
    """The host's guarded factory for ``--detector``: construction runs with a time budget and
    the result is checked to be a detector; a plugin that fails is disabled with a reason, and
    the CLI gets a `PluginUnavailable` (a VigilError) instead of a traceback."""
    host = _host(args)
    if host.disabled.problem:
        print(f"warning: {host.disabled.problem}", file=sys.stderr)
    # unknown, disabled or failed: PluginUnavailable says which, and why
    make = host.detector_factory(args.detector)
    # the ranges the detector declares (SDK ParamSpec), checked before plugin code runs
    make.param_specs = getattr(host.detector_class(args.detector), "param_specs", None)
    return make


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise DetectorError(f"--set {item!r}: expected PARAM=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _ignore(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


# ------------------------------------------------------------------------------------- list

def _list(args: argparse.Namespace) -> int:
    from app.core.paths import DataDirError

    try:
        host = _host(args)
    except DataDirError as e:
        return _fail(str(e))
    print("detectors:")
    for name in host.detector_names():
        try:
            cls = host.detector_class(name)
            doc = getattr(cls, "description", "") or (cls.__doc__ or "").strip().split("\n")[0]
        except Exception as e:  # a broken plugin is listed with its reason, not a traceback
            doc = f"UNAVAILABLE: {e}"
        print(f"  {name:18s} {doc}")
    for problem in host.problems():
        print(f"  problem: {problem}")
    if args.models:
        _list_models(args)
    return 0


def _list_models(args: argparse.Namespace) -> None:
    from app.core.detection.provenance import journaled_model_hashes
    from app.core.detection.store import ModelError, decode_model, read_model_bytes, sha256_bytes
    from app.core.paths import DataDirError, resolve_data_dir

    try:
        data_dir = resolve_data_dir(args.data_dir, create=False)  # listing must not create it
    except DataDirError as e:
        print(f"models: {e}")
        return
    db = data_dir / "journal" / "journal.sqlite"
    vouched = journaled_model_hashes(db) if db.exists() else set()
    files = sorted((data_dir / MODELS_DIR).glob("*.npz"))
    print(f"models in {data_dir / MODELS_DIR}:" if files else f"no models in {data_dir / MODELS_DIR}")
    for f in files:
        try:
            data = read_model_bytes(f)
        except ModelError as e:
            print(f"  {f.name}  {e}")
            continue
        sha = sha256_bytes(data)
        status = "journaled" if sha in vouched else "NOT IN JOURNAL (will be refused)"
        try:
            state, meta = decode_model(data, str(f))
            what = f"{state.detector}, {len(state.tags)} tags, group {meta.get('group', '?')}"
        except ModelError as e:
            what = str(e)
        print(f"  {f.name}  sha256 {sha[:16]}  {what}  [{status}]")


# ----------------------------------------------------------------------------------- replay

def _replay(args: argparse.Namespace) -> int:
    from app.core.detection.monitor import severity_text
    from app.core.detection.replay import read_table, replay

    out_path = Path(args.out)
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        params = _params(args.set)
        table = read_table(Path(args.csv), sep=args.sep, time_col=args.time_col, ignore=_ignore(args.ignore))
        make = _detector_factory(args)
        check_detector_params(make, params, args.detector)
        det = make(**params)  # the host's GuardedDetector: plugin faults become DetectorError
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv_writer(fh)  # tag names come from the input file: no formulas out
            w.writerow(["time", "severity", "alarm", "top_tags"])

            def write_row(t: str, sev: float | None, alarm: bool, tags: list[str]) -> None:
                w.writerow([t, "" if sev is None else f"{sev:.1f}", int(alarm), "|".join(tags)])

            summary = replay(det, table, args.train_rows, write_row)
        tmp.replace(out_path)
    except (VigilError, DetectorError, OSError) as e:
        tmp.unlink(missing_ok=True)
        return _fail(str(e))
    print(f"{args.csv}: trained {args.detector} on {summary.trained_rows} rows "
          f"({len(table.tags)} tags), streamed {summary.streamed_rows} rows"
          f" ({summary.skipped_rows} skipped for missing values): {summary.alarm_rows} alarm rows "
          f"in {summary.episodes} episode(s), {severity_text(summary.peak_severity)} at the worst "
          f"row (alarm at 50) -> {out_path}")
    return 0


# ------------------------------------------------------------------------------------ train

def _train(args: argparse.Namespace) -> int:
    from app.core.detection.engine import DetectionEngine
    from app.core.detection.provenance import JournalProvenance
    from app.core.paths import resolve_data_dir

    if bool(args.csv) == bool(args.device):
        return _fail("give either IN.csv or --device (with --from/--to), not both or neither")
    try:
        data_dir = resolve_data_dir(args.data_dir)
        make = _detector_factory(args)
        params = _params(args.set)
        check_detector_params(make, params, args.detector)
        make(**params)  # refuse bad parameters (or a broken plugin) before opening the journal
        rows, tags, window, group = _training_data(args, data_dir)
        from app.cli.journal import open_keyed_journal

        journal = open_keyed_journal(data_dir / "journal")
    except (VigilError, DetectorError, OSError) as e:
        return _fail(str(e))
    try:
        from app.cli._common import cli_actor

        actor = cli_actor(data_dir, journal, args.as_user, "detector.train", fallback=_actor())
    except VigilError as e:
        journal.close()
        return _fail(str(e))

    engine = DetectionEngine(on_anomaly=_no_alarms, provenance=JournalProvenance(journal),
                             models_dir=data_dir / MODELS_DIR, detector_class=lambda _name: make)
    try:
        info = engine.learn_rows(group, tags, rows, detector=args.detector, params=params,
                                 window=window, actor=actor)
    except (VigilError, DetectorError) as e:
        source = args.csv or f"device {args.device!r}"
        return _fail(f"{source}: cannot train on {len(rows)} rows: {e}")
    finally:
        engine.close()
        journal.close()
    print(f"trained {info.detector} for {info.group!r} on {len(rows)} rows of {len(tags)} tags; "
          f"threshold {info.threshold:.4g}\n  model  {info.path}\n  sha256 {info.sha256} (journaled)")
    return 0


def _no_alarms(*_args: Any, **_kw: Any) -> None:
    """Training from the CLI scores nothing, so it never raises alarms."""


def _actor() -> str:
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def _training_data(args: argparse.Namespace, data_dir: Path) -> tuple[Any, list[str], Any, str]:
    if args.csv:
        from app.core.detection.replay import read_table

        table = read_table(Path(args.csv), sep=args.sep, time_col=args.time_col, ignore=_ignore(args.ignore))
        n = args.train_rows or len(table.values)
        if not 0 < n <= len(table.values):
            raise DetectorError(f"{args.csv}: --train-rows must be between 1 and {len(table.values)}")
        return table.values[:n], table.tags, None, args.group or Path(args.csv).stem
    from app.cli._common import parse_when
    from app.core.detection.engine import numeric_tags
    from app.core.detection.rows import rows_from_series
    from app.core.historian import HistorianReader

    if not (args.t_from and args.t_to):
        raise DetectorError("--device needs --from and --to (the window of normal running)")
    try:  # ISO 8601, epoch seconds, or an age such as 20m (as in 'vigil alarms history')
        t0, t1 = parse_when(args.t_from), parse_when(args.t_to)
    except argparse.ArgumentTypeError as e:
        raise DetectorError(f"--from/--to: {e}") from None
    if t1 <= t0:
        raise DetectorError(f"--from ({args.t_from}) must be before --to ({args.t_to})")
    reader = HistorianReader(data_dir / "historian.sqlite")
    tags = args.tags or numeric_tags(reader, args.device, t0, t1)
    if not tags:
        raise DetectorError(f"device {args.device!r}: no numeric GOOD data between {args.t_from} "
                            f"and {args.t_to}")
    _, rows = rows_from_series(tags, reader.query(tags, t0, t1))
    if len(rows) == 0:
        raise DetectorError(f"device {args.device!r}: no time in the window has GOOD values for all tags")
    return rows, list(tags), (t0, t1), args.group or args.device
