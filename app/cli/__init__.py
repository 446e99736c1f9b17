"""The ``vigil`` command.

Each sub-command lives in its own module under ``app.cli`` and exposes
``register(subparsers) -> None``; the parser sets ``func`` (a callable taking the parsed
namespace and returning an exit code). ``vigil`` with no arguments opens the workstation on the
built-in demo plant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from app import __version__
from app.core.errors import VigilError

#: sub-command modules, in the order ``vigil --help`` lists them
COMMAND_MODULES = [
    "run",
    "node",
    "sim",
    "profile",
    "scan",
    "history",
    "journal",
    "alarms",
    "detect",
    "plugins",
    "users",
    "display",
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only`` (a sub-command's name) just that sub-command's, so a
    command does not pay for importing every other one (profiles, numpy, pydantic...)."""
    parser = argparse.ArgumentParser(
        prog="vigil",
        description="Vigil SCADA workstation. With no command, opens the workstation on the "
        "built-in demo plant.",
    )
    parser.add_argument("--version", action="version", version=f"vigil {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="start offscreen, check core, plugins, profiles, journal and a plot; exit 0 or 1",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES if only not in COMMAND_MODULES else [only]:
        try:
            module = importlib.import_module(f"app.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"app.cli.{name}":
                continue  # not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["--version"]:
        print(f"vigil {__version__}")  # answered before importing every sub-command
        return 0
    given = list(sys.argv[1:] if argv is None else argv)
    if given and given[0].startswith("--connect"):
        argv = given = ["run", *given]  # `vigil --connect URL ...` is `vigil run --connect URL ...`
    parser = build_parser(given[0] if given else None)
    args = parser.parse_args(argv)
    if args.self_test:
        from app.cli.selftest import self_test

        return self_test()
    if args.command is None:
        args = parser.parse_args(["run", *(argv or [])])
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away (| head) is seen here, not at exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _reader_went_away()
    except VigilError as e:  # e.g. an encrypted store whose key is missing: a message, not a traceback
        print(f"vigil: {e}", file=sys.stderr)
        return 1


#: what a shell reports for a command killed by SIGPIPE (128 + 13)
BROKEN_PIPE_EXIT = 141


def _reader_went_away() -> int:
    """Standard output was closed by its reader (``vigil journal show | head -1``): that is the
    reader's choice, not an error, so exit quietly with the code a shell expects. stdout is
    pointed at devnull so the interpreter's final flush cannot raise again (as the Python docs
    on SIGPIPE recommend)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout has no file descriptor (embedded, captured)
        pass
    return BROKEN_PIPE_EXIT


if __name__ == "__main__":
    sys.exit(main())
