"""``vigil run``: start the workstation (or the core alone with ``--headless``).

Without ``--plant`` the built-in demo simulator is started in-process on 127.0.0.1 and the demo
plant is polled, so a fresh install shows something real straight away.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import VigilError
from app.core.paths import resolve_data_dir

if TYPE_CHECKING:
    from app.station import Core


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="start the workstation (default command)")
    p.add_argument("--plant", help="plant file (TOML); default: the built-in demo plant")
    p.add_argument("--data-dir", help="data folder (default: VIGIL_DATA_DIR or the user data dir)")
    p.add_argument("--headless", action="store_true", help="run the core without a window")
    p.add_argument("--duration", type=_positive, help="stop after this many seconds")
    p.add_argument("--faults", default="", help="demo simulator faults, e.g. cavitation@60,stuck_valve@30")
    p.add_argument("--seed", type=int, default=0, help="demo simulator seed")
    p.add_argument("--screenshot", help="save a PNG of the window after --after seconds, then exit")
    p.add_argument("--after", type=float, default=5.0, help="seconds before --screenshot")
    p.add_argument("--dark", action="store_true", help="start with the dark palette")
    p.add_argument(
        "--display", help="process display to show first (a display or device name; default: the overview)"
    )
    p.set_defaults(func=run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def make_core(args: argparse.Namespace) -> Core:
    from app.station import Core

    faults = [f.strip() for f in (args.faults or "").split(",") if f.strip()]
    from app.cli.journal import journal_passphrase

    data_dir = resolve_data_dir(args.data_dir)
    return Core(
        data_dir,
        Path(args.plant) if args.plant else None,
        demo_faults=faults,
        seed=args.seed,
        journal_passphrase=journal_passphrase(data_dir / "journal"),
        window=not getattr(args, "headless", False),
    )


def run(args: argparse.Namespace) -> int:
    try:
        core = make_core(args)
    except VigilError as e:
        print(f"vigil: {e}", file=sys.stderr)
        return 2
    try:
        core.start()
    except VigilError as e:
        print(f"vigil: {e}", file=sys.stderr)
        core.stop()
        return 2
    try:
        if args.headless:
            return _headless(core, args.duration)
        from app.station import LocalStation
        from app.ui.app import run_gui

        return run_gui(
            LocalStation(core),
            screenshot=args.screenshot,
            after_s=args.after if args.screenshot else 0.0,
            duration_s=args.duration,
            dark=args.dark,
            display=args.display,
        )
    finally:
        core.stop()


def _headless(core: Core, duration: float | None) -> int:
    """Poll until the duration ends or SIGINT/SIGTERM; print a status line every 5 s."""
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    t_end = time.monotonic() + duration if duration else None
    plant = core.plant
    print(
        f"vigil: polling {len(plant.enabled_devices())} devices, {len(plant.tags())} tags "
        f"(data in {core.data_dir}); Ctrl-C stops",
        flush=True,
    )
    # the window lists these; headless, the terminal (or the service's log) is the only screen
    for problem in core.config_problems:
        print(f"vigil: configuration problem: {problem}", flush=True)
    next_status = time.monotonic() + 5.0
    while not stop.is_set():
        now = time.monotonic()
        if t_end is not None and now >= t_end:
            break
        if now >= next_status:
            print(_status_line(core), flush=True)
            next_status = now + 5.0
        stop.wait(min(0.2, (t_end - now) if t_end else 0.2))
    print(_status_line(core), flush=True)
    return 0


def _status_line(core: Core) -> str:
    diags = core.diagnostics()
    online = sum(1 for d in diags.values() if d.state == "online")
    active = sum(1 for a in core.alarms.alarms() if a.annunciating)
    return f"vigil: {online}/{len(diags)} devices online, {active} alarms active"
