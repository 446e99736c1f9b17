"""Small helpers shared by CLI sub-commands."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Any

from app.core.errors import VigilError


def open_journal(data_dir: Path) -> Any:
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


def cli_actor(data_dir: Path, journal: Any, as_user: str | None, permission: str, fallback: str) -> str:
    """Who a changing CLI command acts as, checked like the workstation checks it.

    Before any account exists (commissioning) the command runs as ``fallback`` (the OS user).
    Once accounts exist, the person names themself (``--as``), gives their password, and their
    role must hold ``permission``; refusals and logins are journaled like the workstation's.
    """
    from app.core.users import Authorizer, UserStore

    store = UserStore(data_dir / "users.json", journal=journal)
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
