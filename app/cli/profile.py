"""``vigil profile validate FILE...``, ``vigil profile schema``, ``vigil profile list`` and
``vigil profile import MAP.csv``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.core.errors import ConfigError
from app.core.paths import device_profiles_dir
from app.core.profiles import Profile, ProfileLibrary, json_schema, load_profile, overlap_warnings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="check device profiles")
    psub = p.add_subparsers(dest="profile_cmd", required=True)
    v = psub.add_parser("validate", help="validate profile files; exit 1 if any is refused")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=_validate)
    s = psub.add_parser("schema", help="print the JSON Schema for profile files")
    s.set_defaults(func=_schema)
    ls = psub.add_parser("list", help="list the profile library: id, vendor, model, kind, source")
    ls.add_argument("--json", action="store_true", help="one JSON array, with cross-checks")
    ls.add_argument(
        "--dir", action="append", default=[], metavar="FOLDER",
        help="also list the profiles in FOLDER (may be repeated)",
    )
    ls.set_defaults(func=_list)
    from app.cli.profile_import import register_import

    register_import(psub)


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            prof = load_profile(f)
        except ConfigError as e:
            bad += 1
            print(str(e), file=sys.stderr)
        else:
            warnings = overlap_warnings(prof)
            note = f", {len(warnings)} warning{'s' if len(warnings) != 1 else ''}" if warnings else ""
            print(f"{f}: ok ({prof.device.id}, {len(prof.points)} points{note})")
            for w in warnings:
                print(f"{f}: warning: {w}")
    return 1 if bad else 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0


def _library(extra: list[str]) -> tuple[ProfileLibrary, list[ConfigError]]:
    library = ProfileLibrary()
    errors = library.add_folder(device_profiles_dir())
    for folder in extra:
        errors += library.add_folder(Path(folder))
    return library, errors


def _summary(p: Profile) -> dict[str, object]:
    d = p.device
    return {
        "id": d.id,
        "vendor": d.vendor,
        "model": d.model,
        "kind": d.kind or "",
        "source": d.source,
        "cross_check": d.cross_check,
        "points": len(p.points),
        "path": p.path,
    }


def _list(args: argparse.Namespace) -> int:
    """Every profile Vigil would load by id; refused files are named on stderr (exit 1)."""
    for folder in args.dir:
        if not Path(folder).is_dir():
            print(f"vigil profile list: {folder} is not a folder", file=sys.stderr)
            return 2
    library, errors = _library(args.dir)
    rows = [_summary(library.get(i)) for i in library.ids()]  # type: ignore[arg-type]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        cols = ("id", "vendor", "model", "kind", "source")
        widths = {c: max([len(c)] + [len(str(r[c])) for r in rows]) for c in cols[:-1]}
        print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in cols).rstrip())
        for r in rows:
            print("  ".join(str(r[c]).ljust(widths.get(c, 0)) for c in cols).rstrip())
    for e in errors:
        print(str(e), file=sys.stderr)
    return 1 if errors else 0
