"""``vigil run``: start the workstation (or the core alone with ``--headless``).

Without ``--plant`` the built-in demo simulator is started in-process on 127.0.0.1 and the demo
plant is polled, so a fresh install shows something real straight away.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from app.cli._common import stop_on_signals, wait_until_stopped
from app.core.errors import VigilError
from app.core.paths import resolve_data_dir

if TYPE_CHECKING:
    from app.station import Core


#: exit code when the run ended but its stop record could not be journaled
STOP_NOT_RECORDED = 3


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
    remote = p.add_argument_group("a workstation attached to Vigil nodes (vigil node) through a broker")
    remote.add_argument("--connect", metavar="URL", help="mqtt://HOST:PORT or mqtts://HOST:PORT: show the "
                        "nodes of --group instead of running the plant in this process")
    remote.add_argument("--group", default="vigil", help="Sparkplug group of the nodes (default: vigil)")
    remote.add_argument("--username", help="broker account")
    remote.add_argument("--password-file", type=Path, help="file whose first line is the broker password")
    remote.add_argument("--tls-ca", type=Path, help="CA certificate that signed the broker's")
    remote.add_argument("--tls-cert", type=Path, help="client certificate (with --tls-key)")
    remote.add_argument("--tls-key", type=Path, help="client key (with --tls-cert)")
    remote.add_argument("--station-id",
                        help="this workstation's Sparkplug host id (default: the broker user name, "
                             "else vigil-<hostname>); the shipped ACL ties it to the user name")
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
    if getattr(args, "connect", None):
        return _connected(args)
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
            rc = _headless(core, args.duration)
        else:
            from app.station import LocalStation
            from app.ui.app import run_gui

            rc = run_gui(
                LocalStation(core),
                screenshot=args.screenshot,
                after_s=args.after if args.screenshot else 0.0,
                duration_s=args.duration,
                dark=args.dark,
                display=args.display,
            )
    finally:
        core.stop()
    if core.stop_recorded is False:
        # an honest exit: the journal does not say this run stopped cleanly
        print(f"vigil: the stop record could not be written to the journal in {core.data_dir} "
              "(disk full or failing?); the next start reports an unclean shutdown", file=sys.stderr)
        return rc or STOP_NOT_RECORDED
    return rc


def _connected(args: argparse.Namespace) -> int:
    """The window on the nodes of a group, through a broker: nothing of the plant runs here,
    and closing the window stops nothing on a node."""
    from app.station.mqtt_link import BrokerConfig
    from app.station.remote.station import RemoteStation

    if args.headless or args.plant:
        print("vigil: --connect shows nodes that run elsewhere; --headless and --plant belong to "
              "`vigil node` (or to `vigil run` without --connect)", file=sys.stderr)
        return 2
    try:
        broker = BrokerConfig.from_url(args.connect, username=args.username, password_file=args.password_file,
                                       tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key)
        data_dir = resolve_data_dir(args.data_dir) / f"station-{args.group}"
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        station = RemoteStation(broker, args.group, data_dir, station_id=args.station_id or args.username)
        station.connect()
    except (VigilError, OSError) as e:
        print(f"vigil: {e}", file=sys.stderr)
        return 2
    try:
        from app.ui.app import run_gui

        return run_gui(
            station,
            screenshot=args.screenshot,
            after_s=args.after if args.screenshot else 0.0,
            duration_s=args.duration,
            dark=args.dark,
            display=args.display,
        )
    finally:
        station.close()


def _headless(core: Core, duration: float | None) -> int:
    """Poll until the duration ends or SIGINT/SIGTERM; print a status line every 5 s."""
    stop = stop_on_signals()
    plant = core.plant
    print(
        f"vigil: polling {len(plant.enabled_devices())} devices, {len(plant.tags())} tags "
        f"(data in {core.data_dir}); Ctrl-C stops",
        flush=True,
    )
    # the window lists these; headless, the terminal (or the service's log) is the only screen
    said: set[str] = set()
    _say_problems(core, said)

    def status() -> None:
        _say_problems(core, said)  # found while running: a clock step, a full disk
        print(_status_line(core), flush=True)

    wait_until_stopped(stop, duration, 5.0, status)
    _say_problems(core, said)
    print(_status_line(core), flush=True)
    return 0


def _say_problems(core: Core, said: set[str]) -> None:
    """Print each configuration problem once (the window lists them; headless, the terminal or
    the service's log is the only screen)."""
    for problem in list(core.config_problems):
        if problem not in said:
            said.add(problem)
            print(f"vigil: configuration problem: {problem}", flush=True)


def _status_line(core: Core) -> str:
    diags = core.diagnostics()
    online = sum(1 for d in diags.values() if d.state == "online")
    active = sum(1 for a in core.alarms.alarms() if a.annunciating)
    line = f"vigil: {online}/{len(diags)} devices online, {active} alarms active"
    journal = core.journal.stats()
    if journal.held_since is not None:  # the disk refuses writes: say what waits in memory
        line += f"; disk refusing writes: {journal.queued} journal events held in memory"
    return line
