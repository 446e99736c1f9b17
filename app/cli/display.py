"""``vigil display validate FILE...``: check display files the way the window reads them.

Names every unknown tag (against ``--plant``, default the demo plant), unknown symbol, unknown
attribute and SVG feature Qt cannot draw, each with the element's id and its line. Exit code 0
when every file is clean, 1 when any has a problem, 2 when the plant itself cannot be read.
``vigil display vocabulary`` prints the published attribute vocabulary (JSON).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.core.errors import ConfigError
from app.core.plant import Plant


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("display", help="check process display files (SVG)")
    dsub = p.add_subparsers(dest="display_command", metavar="ACTION", required=True)
    v = dsub.add_parser("validate", help="check display files against a plant")
    v.add_argument("files", nargs="+", help="display SVG files")
    v.add_argument("--plant", help="plant file (TOML); default: the built-in demo plant")
    v.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter value for %%NAME%% (repeatable); without it parameterised tags are "
        "checked by their point",
    )
    v.set_defaults(func=_validate)
    voc = dsub.add_parser("vocabulary", help="print the display attribute vocabulary (JSON)")
    voc.set_defaults(func=_vocabulary)


def _load_plant(path: str | None) -> Plant:
    from app.core.paths import device_profiles_dir
    from app.core.plant import load_plant, parse_plant
    from app.core.profiles import ProfileLibrary
    from app.sim.demo import demo_plant_toml

    library = ProfileLibrary()
    library.add_folder(device_profiles_dir())
    if path is None:
        return parse_plant(demo_plant_toml(5020).encode(), "<demo plant>", library)
    plant_path = Path(path)
    if (plant_path.parent / "profiles").is_dir():
        library.add_folder(plant_path.parent / "profiles")
    return load_plant(plant_path, library)


def _validate(args: argparse.Namespace) -> int:
    from app.core.displays import DisplayCatalogue, read_display, tag_kinds, validate

    try:
        plant = _load_plant(args.plant)
    except ConfigError as e:
        print(f"vigil: {e}", file=sys.stderr)
        return 2
    params: dict[str, str] = {}
    for item in args.param:
        if "=" not in item:
            print(f"vigil: --param {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        k, v = item.split("=", 1)
        params[k.strip()] = v.strip()
    catalogue = DisplayCatalogue(plant)
    names = set(catalogue.names()) | {Path(f).stem for f in args.files}
    kinds = tag_kinds(plant)
    devices = [d.name for d in plant.devices]
    bad = 0
    for f in args.files:
        path = Path(f)
        display = read_display(path, path.stem, params)
        problems = validate(display, kinds, names, devices)
        if problems:
            bad += 1
            for p in problems:
                print(str(p))
        else:
            print(f"{path}: ok ({len(display.bindings)} bound elements, {len(display.tags())} tags)")
    return 1 if bad else 0


def _vocabulary(args: argparse.Namespace) -> int:
    from app.core.displays.vocabulary import vocabulary_json

    sys.stdout.write(vocabulary_json())
    return 0
