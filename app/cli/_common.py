"""Small helpers shared by CLI sub-commands."""

from __future__ import annotations

import argparse
import getpass
import math
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from app.core.errors import VigilError

if TYPE_CHECKING:
    from app.core.journal import Journal
    from app.core.users import UserStore

_AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
TIME_FORMS = (
    "ISO 8601 such as 2026-11-25T08:00 (UTC unless a zone is given), epoch seconds, "
    "or an age such as 30m, 2h, 7d"
)


class TimeError(argparse.ArgumentTypeError, ValueError):
    """A time a CLI option could not read; argparse reports it as a usage error, and callers
    that parse by hand can catch it as a ValueError."""


def parse_when(text: str, now: float | None = None) -> float:
    """The one reading of a point in time for every ``vigil`` verb (``--since``, ``--from``,
    ``--to``...): epoch seconds, ISO 8601 (no zone means UTC; ``Z`` accepted), or how long
    ago (``30m``, ``2h``, ``7d``, relative to ``now``)."""
    t = text.strip()
    m = _AGE.match(t)
    if m:
        return (time.time() if now is None else now) - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        value = float(t)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise TimeError(f"'{text}' is not a time: use {TIME_FORMS}")
        return value
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise TimeError(f"'{text}' is not a time: use {TIME_FORMS}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def open_journal(data_dir: Path) -> Journal:
    """Open the data dir's journal for writing (user administration and notes are journaled)."""
    from app.core.journal import Journal

    return Journal.open(data_dir / "journal")


def read_secret(prompt: str) -> str:
    """A password from the terminal, or one line of standard input when it is not a terminal
    (scripts). Never from the command line, where it would land in shell history."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    line = sys.stdin.readline()
    if not line:
        raise VigilError(f"expected a password on standard input ({prompt.strip()})")
    return line.rstrip("\n")


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "system"


def account_store(data_dir: Path, journal: Journal) -> UserStore:
    """The data folder's accounts, reconciled with the journal's account events (so an edited or
    deleted ``users.json`` is never taken for commissioning)."""
    from app.core.users import UserStore, account_events

    store = UserStore(data_dir / "users.json", journal=journal)
    store.reconcile(account_events(data_dir / "journal"))
    return store


def cli_actor(data_dir: Path, journal: Journal, as_user: str | None, permission: str, fallback: str) -> str:
    """Who a changing CLI command acts as, checked like the workstation checks it.

    Before any account exists (commissioning) the command runs as ``fallback`` (the OS user).
    Once accounts exist, the person names themself (``--as``), gives their password, and their
    role must hold ``permission``; refusals and logins are journaled like the workstation's.
    """
    from app.core.users import Authorizer

    store = account_store(data_dir, journal)
    if store.is_empty():
        return fallback
    if not as_user:
        raise VigilError("accounts exist: say who you are with --as NAME (your password is asked for)")
    session = store.authenticate(as_user, read_secret(f"password for {as_user}: "))
    try:
        Authorizer(journal).require(session, permission)
    finally:
        store.logout(session, reason="command finished")
    return session.user


def stop_on_signals() -> threading.Event:
    """An event that SIGINT and SIGTERM (systemd's stop) set, so a long-running command ends
    through its own clean shutdown; installed only from the main thread (tests call commands
    from others)."""
    stop = threading.Event()

    def _stop(*_: object) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
    return stop


def wait_until_stopped(
    stop: threading.Event, duration: float | None, every_s: float, on_status: Callable[[], None]
) -> None:
    """Block until ``stop`` is set or ``duration`` seconds (None: no end) have passed, calling
    ``on_status`` every ``every_s`` seconds. Asleep in between: a signal handler that sets
    ``stop`` ends the wait at once (lock waits are interrupted by signals on POSIX)."""
    t_end = time.monotonic() + duration if duration else None
    next_status = time.monotonic() + every_s
    while not stop.is_set():
        now = time.monotonic()
        if t_end is not None and now >= t_end:
            return
        if now >= next_status:
            on_status()
            next_status = now + every_s
        stop.wait(max(0.0, min(next_status, t_end if t_end is not None else next_status) - now))
