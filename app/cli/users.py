"""``vigil users add|passwd|disable|enable|list``: account administration from the shell.

Passwords are never taken as command-line arguments (they would land in shell history and the
process list). They are asked for on the terminal, or read one per line from standard input
when it is not a terminal (for scripts): the acting administrator's password first (unless this
is the very first account), then the new password.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from app.cli._common import read_secret
from app.core.errors import VigilError
from app.core.paths import resolve_data_dir
from app.core.users import EMERGENCY_SESSION_S, EMERGENCY_USER, Role, Session, UserStore, account_events


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="manage operator accounts (administrators)")
    p.add_argument("--data-dir", help="data folder (default: VIGIL_DATA_DIR or the user data dir)")
    us = p.add_subparsers(dest="users_cmd", required=True)
    a = us.add_parser("add", help="add an account (the first one must be an administrator)")
    a.add_argument("name")
    a.add_argument("--role", default="operator", help="viewer | operator | engineer | administrator")
    a.add_argument("--as", dest="admin", help="acting administrator (not needed for the first account)")
    a.add_argument("--data-dir", default=argparse.SUPPRESS, help="data folder")
    a.set_defaults(func=_add)
    pw = us.add_parser("passwd", help="set a password")
    pw.add_argument("name")
    pw.add_argument("--as", dest="admin", help="acting administrator (default: the user themself)")
    pw.add_argument("--data-dir", default=argparse.SUPPRESS, help="data folder")
    pw.set_defaults(func=_passwd)
    d = us.add_parser("disable", help="disable an account")
    d.add_argument("name")
    d.add_argument("--as", dest="admin", required=True)
    d.add_argument("--data-dir", default=argparse.SUPPRESS, help="data folder")
    d.set_defaults(func=_disable, disabled=True)
    e = us.add_parser("enable", help="enable an account")
    e.add_argument("name")
    e.add_argument("--as", dest="admin", required=True)
    e.add_argument("--data-dir", default=argparse.SUPPRESS, help="data folder")
    e.set_defaults(func=_disable, disabled=False)
    em = us.add_parser("emergency-code", help="make a one-time break-glass code (administrator); "
                       "print it once, seal it in an envelope")
    em.add_argument("--as", dest="admin", required=True)
    em.add_argument("--role", default="operator", help="the session it opens: operator | engineer")
    em.add_argument("--data-dir", default=argparse.SUPPRESS, help="data folder")
    em.set_defaults(func=_emergency_code)
    ls = us.add_parser("list", help="list accounts (no secrets)")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--data-dir", default=argparse.SUPPRESS, help="data folder")
    ls.set_defaults(func=_list)


def _open(args: argparse.Namespace, read_only: bool = False):
    from app.cli._common import open_journal

    if read_only:  # listing changes nothing, so it neither creates the data dir nor journals
        data_dir = resolve_data_dir(args.data_dir, create=False)
        return UserStore(data_dir / "users.json"), None
    data_dir = resolve_data_dir(args.data_dir)
    journal = open_journal(data_dir)
    store = UserStore(data_dir / "users.json", journal=journal)
    try:
        store.reconcile(account_events(data_dir / "journal"))
    except VigilError:
        journal.close()
        raise
    return store, journal


def _login(store: UserStore, name: str) -> Session:
    return store.authenticate(name, read_secret(f"password for {name}: "))


def _run(args: argparse.Namespace, action, read_only: bool = False) -> int:
    journal = None
    try:
        store, journal = _open(args, read_only)
        action(store)
        return 0
    except VigilError as e:
        print(f"vigil users: {e}", file=sys.stderr)
        return 1
    finally:
        if journal is not None:
            journal.close()


def _add(args: argparse.Namespace) -> int:
    def act(store: UserStore) -> None:
        role = Role.parse(args.role)
        session = None
        if not store.is_empty():
            if not args.admin:
                raise VigilError("accounts exist: say who you are with --as ADMIN")
            session = _login(store, args.admin)
        pw = read_secret(f"new password for {args.name}: ")
        if sys.stdin.isatty() and getpass.getpass("again: ") != pw:
            raise VigilError("passwords differ")
        store.add(session, args.name, pw, role)
        print(f"added {args.name} ({role.label})")

    return _run(args, act)


def _passwd(args: argparse.Namespace) -> int:
    def act(store: UserStore) -> None:
        session = _login(store, args.admin or args.name)
        store.set_password(session, args.name, read_secret(f"new password for {args.name}: "))
        print(f"password changed for {args.name}")

    return _run(args, act)


def _disable(args: argparse.Namespace) -> int:
    def act(store: UserStore) -> None:
        session = _login(store, args.admin)
        store.set_disabled(session, args.name, args.disabled)
        print(f"{'disabled' if args.disabled else 'enabled'} {args.name}")

    return _run(args, act)


def _emergency_code(args: argparse.Namespace) -> int:
    def act(store: UserStore) -> None:
        session = _login(store, args.admin)
        code_id, code = store.create_emergency_code(session, Role.parse(args.role))
        print(f"emergency code {code_id} ({args.role}, one use, {EMERGENCY_SESSION_S / 60:.0f} min): {code}")
        print(f"log in as user '{EMERGENCY_USER}' with it; its use is journaled and raises an urgent alarm. "
              "It is shown only now: seal it in an envelope. It works from the next start.")

    return _run(args, act)


def _list(args: argparse.Namespace) -> int:
    def act(store: UserStore) -> None:
        users = store.list()
        if args.json:
            print(json.dumps(users))
            return
        if not users:
            print(
                "no accounts yet: create the administrator with 'vigil users add NAME --role administrator'"
            )
        for u in users:
            flags = " ".join(f for f, on in (("disabled", u["disabled"]), ("locked", u["locked"])) if on)
            print(f"{u['name']:<20} {u['role']:<14} {flags}")

    return _run(args, act, read_only=True)
