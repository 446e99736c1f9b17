"""``vigil alarms list`` (current alarms) and ``vigil alarms history`` (searchable events).

Both read ``alarms.sqlite`` in the data dir read-only, so they work while the workstation runs
and can never change what they show. The history is the same query the UI uses
(``app.core.alarms.query_events``).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from app.cli._common import parse_when
from app.core.alarms import (
    AlarmError,
    AlarmQuery,
    AlarmState,
    Priority,
    StoreError,
    compare_with_table,
    query_events,
    read_states,
    replay_transitions,
)
from app.core.alarms.kpis import FLOOD_WINDOW_S, kpis_from_records
from app.core.alarms.store import read_kpi_inputs
from app.core.errors import VigilError
from app.core.paths import DataDirError, resolve_data_dir
from app.core.textsafe import csv_cell

STATE_FILE = "alarms.sqlite"
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _priority(text: str) -> str:
    try:
        return Priority.parse(text).label
    except AlarmError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _state(text: str) -> str:
    t = text.strip().lower().replace("-", "_").replace(" ", "_")
    if t not in AlarmState._value2member_map_:
        known = ", ".join(s.value for s in AlarmState)
        raise argparse.ArgumentTypeError(f"unknown state '{text}' (known: {known})")
    return t


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alarms", help="current alarms and alarm history")
    psub = p.add_subparsers(dest="alarms_cmd", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--data-dir", help="data folder (default: VIGIL_DATA_DIR or the user data dir)")
        fmt = sp.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true", help="one JSON document")
        fmt.add_argument("--csv", action="store_true", help="CSV with a header row")

    ls = psub.add_parser("list", help="alarms that are not normal (with --all: every alarm)")
    common(ls)
    ls.add_argument("--all", action="store_true", help="include alarms in the normal state")
    ls.set_defaults(func=_list)

    h = psub.add_parser("history", help="alarm transitions and operator actions, oldest first")
    common(h)
    h.add_argument("--since", type=parse_when, help="from (ISO 8601, epoch seconds, or an age: 2h, 7d)")
    h.add_argument("--until", type=parse_when, help="until (same forms as --since)")
    h.add_argument("--tag", help="a tag (tank.level), a device (tank) or an alarm id (tank.level:HI)")
    h.add_argument("--priority", type=_priority, help="low | medium | high | urgent")
    h.add_argument("--state", type=_state, help="the state an event led to, e.g. unack_active")
    h.add_argument("--actor", help="who: a user name, system, detector:<name>")
    h.add_argument("--text", help="part of an alarm id, tag, device, actor or reason (any case)")
    h.add_argument("--limit", type=int, default=10_000, help="at most this many (the newest); default 10000")
    h.add_argument("--as", dest="as_user", metavar="NAME",
                   help="your account, recorded with the OS user in the journal's access record "
                        "(password asked)")
    h.set_defaults(func=_history)

    c = psub.add_parser(
        "check", help="replay the journal's alarm transitions and compare with the state table (read-only)"
    )
    c.add_argument("--data-dir", help="data folder (default: VIGIL_DATA_DIR or the user data dir)")
    c.set_defaults(func=_check)

    k = psub.add_parser("kpis", help="alarm-system health: rates, floods, chattering, stale, bad actors")
    k.add_argument("--data-dir", help="data folder (default: VIGIL_DATA_DIR or the user data dir)")
    k.add_argument("--window", default="24h", help="how far back (an age: 24h, 7d; default 24h)")
    k.add_argument("--json", action="store_true", help="one JSON document")
    k.set_defaults(func=_kpis)


def _fmt_t(t: Any) -> str:
    if not isinstance(t, (int, float)):
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


_LIST_COLUMNS = ["id", "priority", "state", "condition", "value", "limit", "since", "acked_by",
                 "shelved_by", "shelved_until", "note", "description"]
_HISTORY_COLUMNS = ["time", "seq", "alarm_id", "priority", "event", "from_state", "to_state",
                    "value", "limit", "actor", "detail"]


def _state_path(args: argparse.Namespace) -> Path:
    """``alarms.sqlite`` in an existing data dir; these commands only read, so a missing data
    dir is reported (DataDirError), never created."""
    return resolve_data_dir(args.data_dir, create=False) / STATE_FILE


def _list(args: argparse.Namespace) -> int:
    try:
        path = _state_path(args)
        rows = read_states(path)
    except (StoreError, DataDirError) as e:
        print(f"vigil alarms list: {e}", file=sys.stderr)
        return 1
    if not args.all:
        rows = [r for r in rows if r.get("state") != AlarmState.NORMAL]
    rank = {p.label: p.value for p in Priority}
    # what needs the operator first: annunciating before suppressed, then priority, newest first
    rows.sort(key=lambda r: (r.get("state") in ("shelved", "suppressed", "out_of_service"),
                             -rank.get(str(r.get("priority")), 0), -(r.get("active_since") or 0), r["id"]))
    if args.json:
        json.dump({"file": str(path), "alarms": rows}, sys.stdout, indent=2, default=str)
        print()
        return 0
    table = []
    for r in rows:
        shelved = r.get("shelved") or [None, None, None]
        oos = r.get("oos")
        sup = r.get("suppressed")
        note = (f"out of service: {oos[1]}" if oos else f"suppressed: {sup[1]}" if sup
                else f"shelved: {shelved[1]}" if shelved[1] else "")
        table.append({
            "id": r["id"], "priority": r.get("priority"), "state": r.get("state"),
            "condition": "active" if r.get("condition") else "clear", "value": r.get("value"),
            "limit": r.get("limit"), "since": _fmt_t(r.get("active_since")),
            "acked_by": r.get("acked_by") or "", "shelved_by": shelved[0] or "",
            "shelved_until": _fmt_t(shelved[2]), "note": note, "description": r.get("description", ""),
        })
    if args.csv:
        _write_csv(sys.stdout, _LIST_COLUMNS, table)
    else:
        if not table:
            print(f"no alarms{'' if args.all else ' outside the normal state'} ({path})")
            return 0
        _write_text(sys.stdout, ["id", "priority", "state", "condition", "value", "since", "acked_by",
                                 "note"], table)
    return 0


def _record_history(data_dir: Path, q: AlarmQuery, events: list[dict[str, Any]], as_user: str | None) -> None:
    """Journal who reads which alarm history before it is shown, with the same scope the
    window records; fails closed for patient data the journal cannot record (`app.cli.access`)."""
    from app.cli.access import journal_read

    scope = {k: v for k, v in dataclasses.asdict(q).items() if v not in (None, (), "")}
    journal_read(data_dir, "alarm_history", scope, {str(e["alarm_id"]) for e in events}, as_user,
                 "vigil alarms history")


def _history(args: argparse.Namespace) -> int:
    q = AlarmQuery(since=args.since, until=args.until, tag=args.tag, priority=args.priority,
                   state=args.state, actor=args.actor, limit=max(1, args.limit), text=args.text)
    try:
        path = _state_path(args)
        events = query_events(path, q)
        _record_history(path.parent, q, events, args.as_user)
    except (StoreError, DataDirError, VigilError) as e:
        print(f"vigil alarms history: {e}", file=sys.stderr)
        return 1
    if args.json:
        json.dump({"file": str(path), "events": events}, sys.stdout, indent=2, default=str)
        print()
        return 0
    rows = [{**e, "time": _fmt_t(e["ts"]),
             "detail": json.dumps(e["detail"], separators=(",", ":")) if e["detail"] else ""}
            for e in events]
    if args.csv:
        _write_csv(sys.stdout, _HISTORY_COLUMNS, rows)
    elif not rows:
        print(f"no alarm events match ({path})")
    else:
        _write_text(sys.stdout, ["time", "alarm_id", "priority", "event", "from_state", "to_state",
                                 "value", "actor", "detail"], rows)
    return 0


def _check(args: argparse.Namespace) -> int:
    """Exit 0: the journal's transitions form a legal path and end where the state table says;
    1: they do not (each difference listed); 2: something cannot be read."""
    from app.core.journal import JournalError, read_events

    try:
        path = _state_path(args)
        data_dir = path.parent
        events = read_events(data_dir / "journal", kind="alarm.transition")
        table = {r["id"]: str(r.get("state")) for r in read_states(path)}
    except (JournalError, StoreError, DataDirError) as e:
        print(f"vigil alarms check: {e}", file=sys.stderr)
        return 2
    replay = replay_transitions((e.seq, e.kind, e.body) for e in events)
    problems = replay.problems + compare_with_table(replay, table)
    if problems:
        print(f"alarm state NOT vouched for by the journal ({len(problems)} problem(s)):")
        for p in problems[:200]:
            print(f"  {p}")
        if len(problems) > 200:
            print(f"  ... and {len(problems) - 200} more")
        print("the journal is the authority: the next start of the workstation restores from it "
              "(and journals the difference); run `vigil journal verify` to check the journal itself")
        return 1
    print(f"ok: {replay.transitions} journaled transitions replay to the state of all "
          f"{len(table)} alarms in {path}")
    return 0


def _kpis(args: argparse.Namespace) -> int:
    now = time.time()
    try:
        window_s = now - parse_when(args.window, now=now)
    except argparse.ArgumentTypeError as e:
        print(f"vigil alarms kpis: --window: {e}", file=sys.stderr)
        return 2
    if window_s <= 0 or not _RELATIVE.match(args.window.strip()):
        print(f"vigil alarms kpis: --window: '{args.window}' must be an age such as 24h or 7d",
              file=sys.stderr)
        return 2
    try:
        path = _state_path(args)
        # from one flood window earlier: a flood already under way when the window opens counts
        activations, states, first_t = read_kpi_inputs(path, now - window_s - FLOOD_WINDOW_S)
    except (StoreError, DataDirError) as e:
        print(f"vigil alarms kpis: {e}", file=sys.stderr)
        return 1
    active = {r["id"]: float(r["active_since"]) for r in states
              if r.get("condition") and r.get("active_since") is not None
              and r.get("state") in ("unack_active", "ack_active")}
    k = kpis_from_records(activations, active, now, window_s, first_t)
    if args.json:
        json.dump({"file": str(path), **k}, sys.stdout, indent=2)
        print()
        return 0
    print(f"alarm KPIs over the last {args.window} ({path})")
    observed = float(k["observed_s"])  # type: ignore[arg-type]
    if observed < window_s - 1.0:
        print(f"  note: alarms recorded only since {_fmt_t(k['observed_from'])} UTC "
              f"({_age(observed)} of the {args.window}); every figure is over the whole "
              f"{args.window}")
    print(f"  new alarms: {k['activations']}   last 10 min: {k['alarms_last_10min']}   "
          f"average per 10 min: {k['alarms_per_10min_avg']}")
    print(f"  floods (>10 new alarms in 10 min): {k['floods']}   time in flood: "
          f"{k['time_in_flood_s']:.0f} s ({k['time_in_flood_pct']}%)")
    for title, key, fmt in (
        ("chattering (>= 3 activations in 60 s)", "chattering",
         "{id}  {max_per_min}/min, {activations} total"),
        ("stale (active > 24 h)", "stale", "{id}  active {active_for_s:.0f} s"),
        ("top bad actors", "top_bad_actors", "{id}  {activations}"),
    ):
        items = k[key]
        print(f"  {title}:" + ("" if items else " none"))
        for item in items:  # type: ignore[attr-defined]
            print("    " + fmt.format(**item))
    return 0


def _age(seconds: float) -> str:
    """A duration the way --window is written: 45 s, 6 min, 3.5 h, 2 d."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _write_csv(out: TextIO, columns: list[str], rows: list[dict[str, Any]]) -> None:
    w = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if r.get(c) is None else csv_cell(r.get(c)) for c in columns})


def _write_text(out: TextIO, columns: list[str], rows: list[dict[str, Any]]) -> None:
    cells = [[("" if r.get(c) is None else str(r.get(c)))[:48] for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        out.write("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() + "\n")
