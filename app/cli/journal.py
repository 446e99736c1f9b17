"""``vigil journal verify | export-head | show | note``: the journal from the command line.

Everything here is read-only except ``note``. Exit codes of ``verify`` are part of the
interface (scripts and auditors rely on them): 0 intact, 1 tampered, 2 usage error, 3 unreadable
or corrupt database, 4 inconsistent with an exported head.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

from app.cli._common import parse_when
from app.core.errors import VigilError
from app.core.journal import (
    Journal,
    JournalError,
    VerifyResult,
    export_head,
    read_events,
    verify,
)
from app.core.paths import DataDirError, resolve_data_dir

PASSPHRASE_ENV = "VIGIL_JOURNAL_PASSPHRASE"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("journal", help="verify, export, show and annotate the signed event journal")
    jsub = p.add_subparsers(dest="journal_cmd", required=True)

    v = jsub.add_parser(
        "verify",
        help="check the hash chain and signatures; exit 0 intact, 1 tampered, 2 usage error, "
        "3 unreadable/corrupt, 4 inconsistent with an exported head",
    )
    _data_dir_arg(v)
    v.add_argument("--pubkey", metavar="FILE",
                   help="pinned identity.json (or public-key PEM) kept away from this computer")
    v.add_argument("--anchors", metavar="FILE",
                   help="file of heads saved earlier with export-head (one JSON line each)")
    v.add_argument("--witnesses", metavar="DIR",
                   help="folder of other nodes' journal folders whose journal.witness events "
                   "recorded this journal's heads")
    v.add_argument("--json", action="store_true", help="print the result as one JSON object")
    v.set_defaults(func=_verify)

    w = jsub.add_parser("witness", help="record other journals' exported heads in this journal "
                        "(so a truncation or rollback there is provable from here)")
    _data_dir_arg(w)
    w.add_argument("heads", nargs="+", metavar="HEADFILE",
                   help="file(s) written by 'vigil journal export-head' on another node")
    w.set_defaults(func=_witness)

    r = jsub.add_parser("rotate-key", help="replace the signing key; the old key signs the new one "
                        "into the journal, so pinned identities stay valid")
    _data_dir_arg(r)
    r.add_argument("--protect", action="store_true",
                   help="wrap the new key with a passphrase (asked for, or "
                   "$VIGIL_JOURNAL_NEW_PASSPHRASE)")
    r.set_defaults(func=_rotate_key)

    e = jsub.add_parser("export-head", help="print the latest signed head as one JSON line")
    _data_dir_arg(e)
    e.add_argument("--append", metavar="FILE",
                   help="also append the line to FILE (an anchors file for verify --anchors)")
    e.set_defaults(func=_export_head)

    s = jsub.add_parser("show", help="list journal events (display only; use verify to check)")
    _data_dir_arg(s)
    s.add_argument("--kind", help="exact kind, or a prefix such as 'alarm.*'")
    s.add_argument("--since", metavar="T",
                   help="epoch seconds, ISO date/time (UTC unless it has an offset), or 30m/2h/7d ago")
    s.add_argument("--limit", type=int, metavar="N", help="only the latest N matching events")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.set_defaults(func=_show)

    n = jsub.add_parser("note", help="add an operator's shift-log entry to the journal")
    _data_dir_arg(n)
    n.add_argument("--actor", required=True, help="who is writing the note")
    n.add_argument("text", nargs="+", help="the note")
    n.set_defaults(func=_note)


def open_keyed_journal(journal_dir: Path) -> Journal:
    """The journal opened for writing with its signing key (its passphrase asked for when the key
    is protected): what every CLI command that records something opens."""
    return Journal.open(journal_dir, passphrase=journal_passphrase(journal_dir))


def journal_passphrase(journal_dir: Path) -> str | None:
    """The signing key's passphrase: $VIGIL_JOURNAL_PASSPHRASE, else asked for when the key is
    protected (from the terminal, or one line of standard input in scripts), else None."""
    from app.core.journal.keys import key_is_protected

    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if key_is_protected(journal_dir):
        from app.cli._common import read_secret

        return read_secret(f"passphrase of the journal signing key in {journal_dir}: ")
    return None


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", metavar="DIR",
                   help="Vigil data folder (default: $VIGIL_DATA_DIR or the user data folder)")


def _journal_dir(args: argparse.Namespace) -> Path:
    """The journal folder, without creating anything: reading must not leave traces.
    Raises DataDirError when the data dir is missing or not a folder."""
    return resolve_data_dir(args.data_dir, create=False) / "journal"


def _verify(args: argparse.Namespace) -> int:
    try:
        result = verify(_journal_dir(args), pubkey=args.pubkey, anchors=args.anchors,
                        witnesses=args.witnesses)
    except DataDirError as e:  # nothing to read: the "unreadable" status scripts expect
        result = VerifyResult("corrupt", str(e))
    if args.json:
        print(json.dumps(result.to_dict(), sort_keys=True))
        return result.exit_code
    label = {"intact": "INTACT", "tampered": "TAMPERED", "corrupt": "CORRUPT",
             "anchor_mismatch": "INCONSISTENT WITH EXPORTED HEAD", "usage": "ERROR"}[result.status]
    out = sys.stdout if result.ok else sys.stderr
    print(f"{label}: {result.message}", file=out)
    if result.fault:
        print(f"  fault: {result.fault}; first bad seq: {result.first_bad_seq}", file=out)
    if result.journal_id:
        print(f"  journal {result.journal_id}: {result.events} events, {result.checkpoints} valid "
              f"signed checkpoint(s), {result.unsealed} event(s) after the last checkpoint "
              "(unsealed)", file=out)
    for note in result.notes:
        print(f"  note: {note}", file=out)
    return result.exit_code


def _export_head(args: argparse.Namespace) -> int:
    try:
        head = export_head(_journal_dir(args))
    except (JournalError, DataDirError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    line = json.dumps(head, sort_keys=True)
    print(line)
    if args.append:
        try:
            with open(args.append, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        except OSError as e:
            print(f"error: {args.append}: cannot append the head ({e})", file=sys.stderr)
            return 1
    return 0


def parse_since(text: str, now: float | None = None) -> float:
    """``--since`` value -> epoch seconds, read like every other time option (`parse_when`);
    the ValueError names the option."""
    try:
        return parse_when(text, now)
    except ValueError as e:
        raise ValueError(f"--since {e}") from None


def _fmt_ts(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")[:-4] + "Z"


def _show(args: argparse.Namespace) -> int:
    try:
        since = parse_since(args.since) if args.since else None
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        events = read_events(_journal_dir(args), kind=args.kind, since=since, limit=args.limit,
                             newest_first=args.limit is not None)
    except (JournalError, DataDirError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    if args.limit is not None:
        events.reverse()
    for ev in events:
        if args.json:
            print(json.dumps(ev.to_dict(), sort_keys=True, ensure_ascii=False))
        else:
            mark = "!" if ev.critical else " "
            body = json.dumps(ev.body, sort_keys=True, ensure_ascii=False)
            print(f"{ev.seq:>8} {mark} {_fmt_ts(ev.ts)}  {ev.kind:<24} {ev.actor:<16} {body}")
    return 0


def _note(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        print("error: the note is empty", file=sys.stderr)
        return 2
    actor = args.actor.strip()
    if not actor:  # every journal event names who caused it; an empty name is no one
        print("error: --actor is empty: give the name of who is writing the note", file=sys.stderr)
        return 2
    try:
        jdir = resolve_data_dir(args.data_dir) / "journal"
        journal = open_keyed_journal(jdir)
    except VigilError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        from app.cli._common import cli_actor

        # once accounts exist, the actor must be an account with the operator role or above,
        # and proves it with their password (asked for; read from stdin when not a terminal)
        actor = cli_actor(jdir.parent, journal, actor, "journal.note", fallback=actor)
        journal.append("note", actor, {"text": text}, critical=True)
    except VigilError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        journal.close()
    print(f"note recorded in {jdir} as {actor}")
    return 0


def _witness(args: argparse.Namespace) -> int:
    from app.core.journal import chain
    from app.core.journal.witness import parse_heads, witness_body

    try:
        heads = [(path, head) for path in args.heads for head in parse_heads(path)]
        jdir = resolve_data_dir(args.data_dir) / "journal"
        journal = open_keyed_journal(jdir)
    except VigilError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        for path, head in heads:
            # critical: sealed at once, so the witnessed head is signed by this node's key
            journal.append(chain.WITNESS, "system", witness_body(head, Path(path).name), critical=True)
    finally:
        journal.close()
    for path, head in heads:
        print(f"witnessed journal {head['journal_id']} head #{head['number']} (size {head['size']}) "
              f"from {path}")
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    try:
        jdir = resolve_data_dir(args.data_dir, create=False) / "journal"
        new_passphrase = None
        if args.protect:
            from app.cli._common import read_secret

            new_passphrase = os.environ.get("VIGIL_JOURNAL_NEW_PASSPHRASE") or read_secret(
                "passphrase for the new signing key: ")
            if not new_passphrase:
                print("error: the new passphrase is empty", file=sys.stderr)
                return 2
        journal = open_keyed_journal(jdir)
    except (VigilError, DataDirError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        fingerprint = journal.rotate_key(new_passphrase)
    except VigilError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        journal.close()
    print(f"journal {journal.journal_id} now signs with key {fingerprint}; pinned copies of "
          "identity.json stay valid (verify follows the rotation)")
    return 0
