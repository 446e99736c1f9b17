"""``vigil plugins list|check|enable|disable|approve``: see and manage plugins from the shell.

``list`` shows what the workstation would find at start-up (nothing is imported: it reads
manifests only). ``check`` validates a plugin folder before you install it, importing its code
in a separate process. ``enable``/``disable`` change the persisted disabled list in the data
folder; a disabled plugin is never imported at the next start. ``approve`` records an
administrator's approval of a plugin that is not built in (id and SHA-256 of its files) in the
journal; until then it is listed as awaiting approval and never imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli._common import os_user
from app.core.errors import VigilError
from app.core.paths import DataDirError, resolve_data_dir

if TYPE_CHECKING:
    from app.core.journal import Journal
    from app.core.users import Session, UserStore

_DATA_DIR_HELP = "data folder (default: VIGIL_DATA_DIR or the user data dir)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plugins", help="list, check, enable and disable plugins")
    # accepted before the sub-command (the old place) and after it (where every other command
    # takes it); SUPPRESS keeps the sub-parser from overwriting a value given before it
    p.add_argument("--data-dir", help=_DATA_DIR_HELP)
    ps = p.add_subparsers(dest="plugins_cmd", required=True)
    ls = ps.add_parser("list", help="every plugin found: id, version, source, state, reason")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    _data_dir_arg(ls)
    ls.set_defaults(func=_list)
    ck = ps.add_parser("check", help="validate a plugin folder without installing or loading it")
    ck.add_argument("path", help="the plugin folder (holding plugin.toml)")
    ck.add_argument("--timeout", type=float, default=30.0, help="seconds allowed for importing its code")
    ck.set_defaults(func=_check)
    en = ps.add_parser("enable", help="re-enable a plugin (from the next start)")
    en.add_argument("id")
    en.add_argument("--as", dest="as_user", metavar="NAME",
                    help="once accounts exist: who you are (engineer or above; password asked)")
    _data_dir_arg(en)
    en.set_defaults(func=_set_enabled, enabled=True)
    di = ps.add_parser("disable", help="disable a plugin: it is not imported from the next start")
    di.add_argument("id")
    di.add_argument("--as", dest="as_user", metavar="NAME",
                    help="once accounts exist: who you are (engineer or above; password asked)")
    _data_dir_arg(di)
    di.set_defaults(func=_set_enabled, enabled=False)
    ap = ps.add_parser("approve", help="approve a plugin that is not built in, as its files are now "
                                       "(administrator; recorded in the journal)")
    ap.add_argument("id")
    ap.add_argument("--as", dest="as_user", metavar="NAME",
                    help="once accounts exist: who you are (administrator; password asked)")
    _data_dir_arg(ap)
    ap.set_defaults(func=_approve)


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", default=argparse.SUPPRESS, help=_DATA_DIR_HELP)


def _fail(message: str, code: int = 2) -> int:
    print(f"vigil plugins: {message}", file=sys.stderr)
    return code


def _host(args: argparse.Namespace, journal: Any = None, data_dir: Path | None = None) -> Any:
    from app.plugin_host import PluginHost
    from app.plugin_host.trust import journal_approvals

    # as the station sees them: a plugin that is not built in is held until approved
    approvals = journal_approvals(data_dir / "journal") if data_dir is not None else {}
    return PluginHost(data_dir=data_dir, journal=journal, approvals=approvals)


def _list(args: argparse.Namespace) -> int:
    try:
        data_dir: Path | None = resolve_data_dir(args.data_dir, create=False)
    except DataDirError as e:
        if not e.missing:
            return _fail(str(e))
        # listing only reads: without a data dir nothing is disabled, and nothing is created
        print(f"note: {e}; no plugin is disabled", file=sys.stderr)
        data_dir = None
    host = _host(args, data_dir=data_dir)
    records = host.records()
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=2))
        return 0
    if host.disabled.problem:
        print(f"warning: {host.disabled.problem}", file=sys.stderr)
    if host.builtins_only:
        print("VIGIL_NO_PLUGINS is set: only built-in plugins are considered")
    print(f"user plugins folder: {host.user_dir}")
    if host.frozen_dir is not None:
        print(f"plugins next to the executable: {host.frozen_dir}")
    if not records:
        print("no plugins found")
        return 0
    rows = [(r.id, r.version or "-", str(r.source), str(r.state)) for r in records]
    widths = [
        max(len(h), *(len(row[i]) for row in rows))
        for i, h in enumerate(("ID", "VERSION", "SOURCE", "STATE"))
    ]
    header = ("ID", "VERSION", "SOURCE", "STATE")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + "  REASON")
    for r, row in zip(records, rows, strict=True):
        first, *rest = (r.reason or "").splitlines() or [""]
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "  " + first)
        pad = " " * (sum(widths) + 2 * len(widths))
        for line in rest + [f"note: {w}" for w in r.warnings]:
            print(pad + line)
    return 0


def _check(args: argparse.Namespace) -> int:
    from app.plugin_host import check_plugin_folder

    path = Path(args.path)
    if not path.exists():
        print(f"{path}: no such folder", file=sys.stderr)
        return 2
    result = check_plugin_folder(path, timeout_s=args.timeout)
    for note in result.notes:
        print(f"{path}: {note}")
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if result.ok:
        print(f"{path}: ok ({result.plugin_id})")
        return 0
    print(f"{path}: refused ({len(result.problems)} problem(s))", file=sys.stderr)
    return 1


def _set_enabled(args: argparse.Namespace) -> int:
    """Fail closed: the change is made only when the journal can record it and, once accounts
    exist, only by a logged-in engineer or administrator (``--as``)."""
    from app.cli.journal import open_keyed_journal
    from app.core.users import Authorizer
    from app.station.plugin_admin import set_plugin_enabled

    try:
        data_dir = resolve_data_dir(args.data_dir)
    except VigilError as e:
        return _fail(str(e))
    journal_dir = data_dir / "journal"
    try:
        journal = open_keyed_journal(journal_dir)
    except Exception as e:
        return _fail(f"not changed: the journal in {journal_dir} cannot record it ({e}). Stop the "
                     "workstation using this data folder (or give the signing key's passphrase) "
                     "and try again", 1)
    try:
        store, session = _identify(data_dir, journal, args.as_user, "engineer or above")
        host = _host(args, journal, data_dir)
        known = {r.id for r in host.records()}
        if args.id not in known and args.enabled is False:
            print(f"note: no installed plugin has id '{args.id}'; it is disabled anyway", file=sys.stderr)
        try:
            set_plugin_enabled(host, store, Authorizer(journal), session, args.id, args.enabled,
                               commissioning_actor=os_user())
        finally:
            if session is not None:
                store.logout(session, reason="command finished")
    except (RuntimeError, OSError, VigilError) as e:
        print(f"cannot change the disabled list: {e}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            journal.close()
    state = "enabled" if args.enabled else "disabled"
    print(f"{args.id}: {state} (takes effect at the next start)")
    return 0


def _approve(args: argparse.Namespace) -> int:
    """Fail closed, like enable/disable: only when the journal can record and seal it and,
    once accounts exist, only by a logged-in administrator (``--as``)."""
    from app.cli.journal import open_keyed_journal
    from app.core.users import Authorizer
    from app.station.plugin_admin import approve_plugin

    try:
        data_dir = resolve_data_dir(args.data_dir)
    except VigilError as e:
        return _fail(str(e))
    journal_dir = data_dir / "journal"
    try:
        journal = open_keyed_journal(journal_dir)
    except Exception as e:
        return _fail(f"not approved: the journal in {journal_dir} cannot record it ({e}). Stop the "
                     "workstation using this data folder (or give the signing key's passphrase) "
                     "and try again", 1)
    try:
        store, session = _identify(data_dir, journal, args.as_user, "administrator")
        try:
            actor, digest = approve_plugin(_host(args, journal, data_dir), store, Authorizer(journal),
                                           session, args.id, journal, commissioning_actor=os_user())
        finally:
            if session is not None:
                store.logout(session, reason="command finished")
    except (RuntimeError, OSError, VigilError) as e:
        print(f"not approved: {e}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            journal.close()
    print(f"{args.id}: approved by {actor} (SHA-256 {digest}); it loads from the next start")
    return 0


def _identify(
    data_dir: Path, journal: Journal, as_user: str | None, who: str
) -> tuple[UserStore, Session | None]:
    """The account store, checked against the journal, and the session of ``--as`` (asked for
    its password); no session before the first account exists (commissioning)."""
    from app.cli._common import account_store, read_secret

    store = account_store(data_dir, journal)
    if store.is_empty():
        return store, None
    if not as_user:
        raise VigilError(f"accounts exist: say who you are with --as NAME ({who}; "
                         "your password is asked for)")
    return store, store.authenticate(as_user, read_secret(f"password for {as_user}: "))


