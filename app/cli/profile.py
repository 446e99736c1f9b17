"""``vigil profile validate FILE...`` and ``vigil profile schema``."""

from __future__ import annotations

import argparse
import json
import sys

from app.core.errors import ConfigError
from app.core.profiles import json_schema, load_profile


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="check device profiles")
    psub = p.add_subparsers(dest="profile_cmd", required=True)
    v = psub.add_parser("validate", help="validate profile files; exit 1 if any is refused")
    v.add_argument("files", nargs="+")
    v.set_defaults(func=_validate)
    s = psub.add_parser("schema", help="print the JSON Schema for profile files")
    s.set_defaults(func=_schema)


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    for f in args.files:
        try:
            prof = load_profile(f)
        except ConfigError as e:
            bad += 1
            print(str(e), file=sys.stderr)
        else:
            print(f"{f}: ok ({prof.device.id}, {len(prof.points)} points)")
    return 1 if bad else 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0
