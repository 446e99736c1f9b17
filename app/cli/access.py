"""Reads from the shell are journaled like the window's (HIPAA audit controls).

`vigil history export` and `vigil alarms history` record who read which scope (tags, time
range) as ``access.<kind>`` events, the same kind the window writes through
``Station.record_access``: the OS user always, and the account named with ``--as`` (its password
asked for) where given. Never the values read.

The journal has one writer at a time: while a workstation holds it, a command cannot record
the read (the same reason `vigil plugins approve` refuses then). A read that touches patient
data (a device whose profile says ``alarm_signals = "medical"``, as the last ``config.load``
event lists them) then fails closed and says why; a read of plant data only goes on, with a
note that it was not recorded.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.errors import VigilError

if TYPE_CHECKING:
    from app.core.journal import Journal

#: the ``config.load`` body field naming the devices whose values are patient data
VITAL_DEVICES_FIELD = "vital_sign_devices"


class ReadRefused(VigilError):
    """A read of patient data that could not be journaled (fail closed)."""


def vital_devices(journal_dir: Path) -> frozenset[str] | None:
    """The vital-signs devices of the newest start, from its ``config.load`` event; None when
    the journal does not say (unreadable, or written before it recorded them)."""
    from app.core.journal import read_events

    try:
        events = read_events(journal_dir, kind="config.load", limit=1, newest_first=True)
    except Exception:
        return None
    if not events or VITAL_DEVICES_FIELD not in events[0].body:
        return None
    return frozenset(str(d) for d in events[0].body[VITAL_DEVICES_FIELD])


def touches_patient_data(names: Iterable[str], devices: frozenset[str] | None) -> bool:
    """Does any tag or alarm id belong to a vital-signs device? Unknown devices count as yes."""
    if devices is None:
        return True
    for name in names:
        head = name.removeprefix("anomaly:")
        device = head.split(":", 1)[0].split(".", 1)[0]
        if device in devices:
            return True
    return False


def journal_read(
    data_dir: Path, kind: str, scope: dict[str, Any], names: Iterable[str], as_user: str | None, verb: str
) -> str:
    """Journal ``access.<kind>`` for a read about to happen; returns who it was recorded as.

    Raises `ReadRefused` when the read touches patient data (``names``: the tags or alarm ids
    it returns) and cannot be recorded, and `VigilError` when ``--as`` does not authenticate.
    A plant-only read that cannot be recorded goes on with a note on standard error."""
    from app.cli._common import os_user

    journal_dir = data_dir / "journal"
    who_os = os_user()
    names = list(names)
    if not (journal_dir / "journal.sqlite").exists():
        print(f"note: no journal in {data_dir}: this read is not recorded", file=sys.stderr)
        return who_os
    try:
        journal = _open(journal_dir)
    except VigilError as e:
        why = f"the journal in {journal_dir} cannot record who reads it ({e})"
        if touches_patient_data(names, vital_devices(journal_dir)):
            raise ReadRefused(
                f"not read: this includes patient data (a vital-signs device) and {why}. Read it "
                "from the workstation, which records the access, or stop it and try again") from None
        print(f"note: this read is not recorded: {why}", file=sys.stderr)
        return who_os
    try:
        actor, role = _account(data_dir, journal, as_user) if as_user else (who_os, "os user")
        text = json.dumps(scope, sort_keys=True, default=str)[:1000]
        journal.append(f"access.{kind}", actor,
                       {"scope": text, "os_user": who_os, "via": verb, "role": role}, critical=True)
        if not journal.flush(timeout=10.0):
            raise ReadRefused(f"not read: the journal in {journal_dir} did not confirm the record in time")
    finally:
        with contextlib.suppress(Exception):
            journal.close()
    return actor


def _open(journal_dir: Path) -> Journal:
    from app.cli.journal import open_keyed_journal

    try:
        return open_keyed_journal(journal_dir)
    except VigilError:
        raise
    except Exception as e:  # a locked or damaged file: the same answer, it cannot record
        raise VigilError(str(e)) from None


def _account(data_dir: Path, journal: Journal, as_user: str) -> tuple[str, str]:
    """``--as NAME``: the account, proved with its password (asked for), checked like a log-in
    at the workstation (refusals journaled there)."""
    from app.cli._common import account_store, read_secret

    store = account_store(data_dir, journal)
    session = store.authenticate(as_user, read_secret(f"password for {as_user}: "))
    store.logout(session, reason="command finished")
    return session.user, session.role.label
