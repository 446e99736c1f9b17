"""The journal writer: one thread, a bounded queue, group commits, signed checkpoints.

Callers (alarm engine, UI actions, plugin host...) call :meth:`Journal.append` from any thread;
it serialises the body, stamps the time and enqueues, and never touches the disk, so a slow
disk never stalls polling or the screen. The writer thread drains the queue in groups, chains
and inserts each group in one transaction, and signs a checkpoint in that same transaction when
one is due (every N events, every T seconds, after a critical event, at shutdown). Because the
checkpoint commits atomically with the events it seals, a crash can never leave a critical
event committed but unsealed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ecdsa import SigningKey, VerifyingKey

import app
from app.core.journal import chain
from app.core.journal.canonical import canonical_json
from app.core.journal.keys import (
    IDENTITY_FILE,
    KEY_FILE,
    KeyFileError,
    create_signing_key,
    load_identity,
    load_signing_key,
    public_key_fingerprint,
    write_identity,
)
from app.core.journal.store import (
    DB_FILE,
    FORMAT,
    LOCK_FILE,
    SCHEMA,
    JournalError,
    ProcessLock,
    open_writer,
    read_meta,
)

#: a copy of identity.json kept outside the data folder, checked at every start when set
PINNED_IDENTITY_ENV = "VIGIL_JOURNAL_IDENTITY"
#: most events written in one transaction (one fsync); count checkpoints fall inside groups
MAX_GROUP = 5000
#: how long append() may wait for room when the queue is full before it counts a drop
APPEND_BLOCK_S = 2.0
#: how long the writer keeps retrying a refused commit once close() asked it to stop
STOP_RETRY_S = 1.0
#: refused commits (about three minutes of retries) after which appenders no longer wait for
#: room in a full queue; the refused events themselves are kept and retried until they commit
STALLED_AFTER_ATTEMPTS = 60


class _Pending(NamedTuple):
    """One event waiting in the queue: already serialised and time-stamped by the caller."""

    ts: float
    kind: str
    actor: str
    body: bytes
    critical: bool


class _TailPlan(NamedTuple):
    """What opening does to the rows after the last checkpoint (see ``Journal._plan_tail``)."""

    keep: list[tuple[Any, ...]]  # chained on after a crash: sealed as ``recovered``
    bad: list[tuple[Any, ...]]  # moved to the quarantine table, never sealed
    why: str
    now: float
    recovered: dict[str, Any] | None
    quarantined: dict[str, Any] | None


@dataclass
class _ChainState:
    """Where the chain and the checkpoint sequence stand after the last commit."""

    size: int
    head: bytes
    checkpoints: int
    checkpoint_size: int
    checkpoint_link: str
    checkpoint_time: int  # microseconds
    last_ts: int  # time of the newest event (microseconds); later events are never dated before it


@dataclass
class JournalStats:
    """Counters for the UI's health panel; a copy, safe to read from any thread."""

    committed: int
    queued: int
    size: int
    checkpoints: int
    unsealed: int
    backlog_waits: int
    dropped: int
    last_error: str | None = None
    #: since when (wall clock) the disk refuses commits; the queued events are held meanwhile
    held_since: float | None = None
    #: ``flush`` calls that waited their whole timeout (a slow writer); one on a disk that
    #: refuses commits returns at once instead, as waiting would save nothing
    flush_timeouts: int = 0


def _has_meta(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() \
        is not None


#: files beside the journal folder that only exist once Vigil has run in this data folder
_OTHER_DATA = ("alarms.sqlite", "historian.sqlite", "users.json", "models")


def _missing_database(journal_dir: Path) -> list[str]:
    """What shows that a journal existed here, when its database is missing or empty."""
    db = journal_dir / DB_FILE
    try:
        if db.exists() and db.stat().st_size > 0:
            return []
    except OSError:
        return []
    found = [f"{db.name} is {'empty (0 bytes)' if db.exists() else 'missing'}"]
    evidence = [str(journal_dir / n) for n in (IDENTITY_FILE, KEY_FILE, DB_FILE + "-wal")
                if (journal_dir / n).exists()]
    evidence += [str(journal_dir.parent / n) for n in _OTHER_DATA if (journal_dir.parent / n).exists()]
    return found + evidence if evidence else []


def _archive_v1(journal_dir: Path, meta: dict[str, str]) -> dict[str, Any]:
    """Keep a version-1 journal whole, beside the new one, and say what it held.

    Vigil 0.1 wrote ``vigil-journal/1``. Its file is never rewritten: the database and its
    identity move to ``v1-<journal id>/`` inside the journal folder (``vigil journal verify``
    still checks it there), the signing key stays, and the new version-2 journal opens with a
    critical ``journal.continued`` event naming the old journal, its verdict and its last signed
    head, so the chain of custody runs from the old journal into the new one.
    """
    from app.core.journal.reader import export_head
    from app.core.journal.verify import verify

    jid = meta.get("journal_id", "unknown")
    archive = journal_dir / f"v1-{jid}"
    archive.mkdir(mode=0o700, exist_ok=True)
    for name in (DB_FILE, DB_FILE + "-wal", DB_FILE + "-shm", IDENTITY_FILE):
        if (journal_dir / name).exists():
            os.replace(journal_dir / name, archive / name)
    result = verify(archive)
    try:
        head: dict[str, Any] | None = export_head(archive)
    except JournalError:
        head = None
    return {
        "previous_format": chain.FORMAT_V1,
        "previous_journal_id": jid,
        "archive": str(archive),
        "verify": result.status,
        "message": result.message,
        "events": result.events,
        "sealed": result.sealed,
        # the head as JSON text: version-1 times are floats, which this journal's bodies avoid
        "last_signed_head": json.dumps(head, sort_keys=True) if head is not None else None,
    }


def _previous_journal_id(journal_dir: Path) -> str | None:
    """The journal id in an existing identity file: set when a database was lost or removed."""
    try:
        return str(json.loads((journal_dir / IDENTITY_FILE).read_text("utf-8"))["journal_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


#: SQLite result codes (primary, the low byte) that mean the storage failed, not the file
_STORAGE_CODES = {
    13: "the disk is full",  # SQLITE_FULL
    10: "the disk reported an I/O error",  # SQLITE_IOERR (and its extended codes)
    14: "the file cannot be opened",  # SQLITE_CANTOPEN
    8: "the file or its folder is read-only",  # SQLITE_READONLY
}


def _storage_problem(e: BaseException) -> str | None:
    """What is wrong with the storage, if ``e`` is a storage failure rather than corruption.

    The error that caused ``e`` counts too: a commit refused by a full disk is rolled back by
    SQLite itself, and the rollback that follows then fails with "no transaction is active",
    which would otherwise hide the full disk."""
    seen: BaseException | None = e
    for _ in range(5):
        if seen is None:
            break
        code = getattr(seen, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _STORAGE_CODES:
            return _STORAGE_CODES[code & 0xFF]
        seen = seen.__cause__ or seen.__context__
    return None


def _storage_error(path: Path, e: BaseException, storage: str) -> JournalError:
    # the file is fine, the disk is not: moving the journal aside would break the audit chain
    # over a temporary condition
    return JournalError(
        f"{path}: cannot write the journal database: {storage} ({e}). The journal is not "
        "damaged: free space (SQLite needs about 1 MB to open its files; once open, Vigil runs "
        "on a full disk) or fix the disk, and start again; do not move the journal aside"
    )


class Journal:
    """An open, writable journal. Create with :meth:`Journal.open`; always :meth:`close`."""

    dir: Path
    journal_id: str
    _lock_file: ProcessLock
    _monotonic: Callable[[], float]
    _sealed_at: float

    def __init__(self) -> None:  # use Journal.open()
        raise TypeError("use Journal.open(journal_dir, ...)")

    @classmethod
    def open(
        cls,
        journal_dir: str | os.PathLike[str],
        *,
        checkpoint_every: int = 1000,
        checkpoint_interval_s: float = 60.0,
        passphrase: str | None = None,
        clock: Callable[[], float] = time.time,
        queue_max: int = 20_000,
        pinned_identity: str | os.PathLike[str] | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> Journal:
        """Open (creating on first run) the journal in ``journal_dir`` and start its writer.

        Records ``app.start``; if the previous run did not close cleanly, also a critical
        ``journal.unclean_shutdown``. ``pinned_identity`` (default ``$VIGIL_JOURNAL_IDENTITY``) is
        a copy of ``identity.json`` kept outside the data folder: a journal whose id or key
        fingerprint differs from it is reported in :attr:`problems` and journalled as critical.
        Raises :class:`JournalError` (or ``KeyFileError``) with a message naming the file when
        the journal cannot be used.

        ``clock`` stamps events; ``monotonic`` times the checkpoint interval, so a wall-clock
        step neither pauses nor hurries checkpoints (default: ``time.monotonic`` with the real
        wall clock, the injected ``clock`` otherwise).
        """
        if checkpoint_every < 1 or checkpoint_interval_s <= 0:
            raise ValueError("checkpoint_every must be >= 1 and checkpoint_interval_s > 0")
        self = object.__new__(cls)
        self.dir = Path(journal_dir)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # it holds the private key
        self._lock_file = ProcessLock(self.dir / LOCK_FILE)
        self._lock_file.acquire()
        self._monotonic = monotonic or (time.monotonic if clock is time.time else clock)
        #: when the last checkpoint was sealed, on the monotonic clock
        self._sealed_at = self._monotonic()
        try:
            self._setup(checkpoint_every, checkpoint_interval_s, passphrase, clock, queue_max)
        except BaseException:
            self._lock_file.release()
            raise
        pinned = pinned_identity or os.environ.get(PINNED_IDENTITY_ENV) or None
        if pinned is not None:
            self._check_pinned(Path(pinned))
        return self

    def _check_pinned(self, path: Path) -> None:
        """The journal must be the one whose identity was pinned outside the data folder."""
        try:
            pinned = load_identity(path)
        except KeyFileError as e:
            self._report(f"the pinned identity cannot be checked: {e}", {"pinned": str(path)})
            return
        mine = public_key_fingerprint(self.public_key)
        if pinned.journal_id != self.journal_id or pinned.fingerprint != mine:
            self._report(
                f"this journal ({self.journal_id}, key {mine[:16]}...) is not the pinned one "
                f"({pinned.journal_id}, key {pinned.fingerprint[:16]}... in {path}): the journal "
                "or its key was replaced", {"pinned": str(path), "pinned_fingerprint": pinned.fingerprint,
                                            "fingerprint": mine})

    # ---- opening -------------------------------------------------------------------------

    def _setup(
        self,
        checkpoint_every: int,
        checkpoint_interval_s: float,
        passphrase: str | None,
        clock: Callable[[], float],
        queue_max: int,
    ) -> None:
        self._every = checkpoint_every
        self._interval = checkpoint_interval_s
        self._clock = clock
        # a deque under one lock, not queue.Queue: the writer takes a whole group per lock
        # acquisition instead of paying a lock round trip per event (measured ~1.5 us/event)
        self._buf: deque[_Pending] = deque()
        self._queue_max = queue_max
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._writer_waiting = False
        self._room_waiters = 0
        self._stop_requested = False
        self._tickets = 0  # events accepted by append(), in queue order
        self._done = 0  # events committed (or, at worst, counted as lost by a failed writer)
        self._done_cv = threading.Condition()
        self._backlog_waits = 0
        self._flush_timeouts = 0
        self._backlog_reported = 0
        self._dropped = 0
        self._dropped_reported = 0
        self._last_error: str | None = None
        self._closed = False
        self._writer_dead = False
        self._wake = threading.Event()  # cuts a retry wait short when close() asks to stop
        self._stop_deadline: float | None = None  # monotonic; set at the first refusal once stopping
        #: whether the last close() committed ``app.stop`` and its shutdown checkpoint
        self.stop_recorded = False
        #: integrity problems found at open, for the workstation's problem list (and journalled)
        self.problems: list[str] = []
        #: held by every commit; a key rotation takes it to slot its own transaction in between
        self._commit_lock = threading.Lock()
        #: the opening the disk refused at start, carried out by the writer before its first commit
        self._opening: _TailPlan | None = None
        #: while commits are refused: since when (wall clock), and the counters then, for the
        #: critical ``storage.journal_held`` event once a commit succeeds again
        self._held_since: float | None = None
        self._held_from: tuple[int, int] = (0, 0)  # (events committed, events dropped)
        self._held_error: str | None = None

        path = self.dir / DB_FILE
        startup_events: list[_Pending] = []
        missing = _missing_database(self.dir)
        try:
            self._con = open_writer(path, create_schema=False)
            meta = read_meta(self._con) if _has_meta(self._con) else {}
        except sqlite3.DatabaseError as e:
            storage = _storage_problem(e)
            if storage is not None:
                raise _storage_error(path, e, storage) from None
            raise JournalError(f"{path}: cannot open the journal database ({e})") from None
        continued: dict[str, Any] | None = None
        if meta.get("format", FORMAT) != FORMAT:
            self._con.close()
            if meta.get("format") != chain.FORMAT_V1:
                raise JournalError(
                    f"{path}: this journal is format {meta.get('format')!r}, which this Vigil cannot "
                    f"write or read; this Vigil writes {FORMAT}"
                )
            continued = _archive_v1(self.dir, meta)
            try:
                self._con = open_writer(path, create_schema=False)
            except sqlite3.DatabaseError as e:
                raise JournalError(f"{path}: cannot create the journal database ({e})") from None
            meta, missing = {}, []
        now = clock()
        if "journal_id" not in meta:
            try:
                startup_events += self._create(meta, passphrase, now, missing)
            except sqlite3.DatabaseError as e:
                self._con.close()
                storage = _storage_problem(e)
                # a journal that does not exist yet cannot hold anything for later: refused
                raise JournalError(f"{path}: cannot create the journal database: "
                                   f"{storage or 'SQLite refused'} ({e})") from None
            if continued is not None:
                if continued["verify"] != "intact":
                    self.problems.append(
                        f"the version-1 journal kept in {continued['archive']} does not verify "
                        f"({continued['verify']}): {continued['message']}")
                startup_events.append(_Pending(now, "journal.continued", "system",
                                               canonical_json(continued), True))
        else:
            self._open_existing(meta, passphrase)
        self._jid_bytes = bytes.fromhex(self.journal_id)
        try:
            self._state = self._load_state()
            problem = self._tail_problem(meta.get("state"))
            tail = self._plan_tail(meta.get("state"), now)
            try:
                self._open_for_writing(tail)
            except sqlite3.DatabaseError as e:
                storage = _storage_problem(e)
                if storage is None:
                    raise
                # the journal is fine and the disk is not: start degraded rather than refuse
                # (a station must keep watching its plant); the writer settles the tail and
                # marks the journal open before its first commit, and holds events until then
                self._opening = tail
                self._held_since = now
                self._writer_dead = True  # appenders must not wait for room meanwhile
                self._last_error = self._held_error = f"{path}: {e} ({storage})"
        except (sqlite3.DatabaseError, ValueError, TypeError) as e:
            self._con.close()
            storage = _storage_problem(e)
            if storage is not None:
                raise _storage_error(path, e, storage) from None
            raise JournalError(
                f"{path}: the journal database is damaged ({e}); run 'vigil journal verify', keep "
                "this file as evidence and move the journal folder aside to start a new journal"
            ) from None
        recovered, quarantined = tail.recovered, tail.quarantined
        unclean = meta.get("state") == "open"

        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()
        for ev in startup_events:
            self._enqueue(ev)
        self.append("app.start", "system", {"version": app.__version__, "pid": os.getpid()})
        if unclean:
            self.append(
                "journal.unclean_shutdown",
                "system",
                {
                    "message": "the previous run did not close the journal cleanly "
                    "(crash, kill or power loss); events not yet committed then are lost",
                    # the last event of the previous run (its tail may be sealed later, by
                    # the writer, when the disk refused writes at open)
                    "last_seq": tail.keep[-1][0] if tail.keep else self._state.size,
                    "recovered": recovered,
                },
                critical=True,
            )
        if quarantined is not None:
            self._report(quarantined["message"], quarantined)
        if problem:
            self._report(problem, {"action": "run 'vigil journal verify' for the full check"})

    def _report(self, message: str, details: dict[str, Any]) -> None:
        """An integrity problem: journalled as critical, and listed for the window."""
        self.problems.append(f"journal {self.dir}: {message}")
        self.append("journal.integrity_warning", "system", {**details, "message": message},
                    critical=True)

    def _create(self, meta: dict[str, str], passphrase: str | None, now: float,
                missing: list[str]) -> list[_Pending]:
        """Start a new journal. When Vigil data was already here, say so loudly and keep it."""
        key_path = self.dir / KEY_FILE
        con = self._con
        con.executescript(SCHEMA)
        if key_path.exists():
            self._sk = load_signing_key(self.dir, passphrase)
        else:
            self._sk = create_signing_key(self.dir, passphrase)
        journal_id = secrets.token_hex(16)
        vk = self._sk.get_verifying_key()
        replaced = _previous_journal_id(self.dir)
        kept_identity = None
        if (self.dir / IDENTITY_FILE).exists():
            # never overwrite the pinned identity of a journal that may be evidence
            kept = self.dir / f"identity.{replaced or 'unreadable'}.{int(now)}.json"
            os.replace(self.dir / IDENTITY_FILE, kept)
            kept_identity = str(kept)
        with con:
            con.execute("BEGIN IMMEDIATE")
            con.executemany(
                "INSERT INTO meta(key, value) VALUES (?, ?)",
                [
                    ("format", FORMAT),
                    ("journal_id", journal_id),
                    ("public_key_pem", vk.to_pem().decode("ascii")),
                    ("created", str(chain.to_micros(now))),
                    ("state", chain.STATE_OPEN),
                ],
            )
        write_identity(self.dir, journal_id, vk)
        self.journal_id = journal_id
        self._key_fp = public_key_fingerprint(vk)
        events = [
            _Pending(now, "journal.created", "system", canonical_json({
                "journal_id": journal_id,
                "key_fingerprint": self._key_fp,
                "key_protected": passphrase is not None,
                "identity_file": str(self.dir / IDENTITY_FILE),
                # a journal database that vanished while its identity stayed is worth a line
                "replaces_missing_journal": replaced,
            }), True)
        ]
        if missing:
            message = (
                "a new journal was started although Vigil data was already here ("
                + "; ".join(missing) + "): the previous journal is missing or empty. Restore it "
                "from a backup and verify it; it may have been deleted to hide what it recorded"
            )
            self.problems.append(f"journal {self.dir}: {message}")
            events.append(_Pending(now, "journal.integrity_warning", "system", canonical_json({
                "message": message, "found": missing, "previous_journal_id": replaced,
                "previous_identity_kept_as": kept_identity,
            }), True))
        return events

    def _open_existing(self, meta: dict[str, str], passphrase: str | None) -> None:
        key_path = self.dir / KEY_FILE
        journal_id = meta["journal_id"]
        if not key_path.exists():
            raise JournalError(
                f"{key_path}: signing key missing for existing journal {journal_id}; restore "
                "the key, or move the journal folder aside to start a new journal"
            )
        self._sk = load_signing_key(self.dir, passphrase)
        stored_pem = meta.get("public_key_pem", "")
        vk = self._sk.get_verifying_key()
        pending = self.dir / (KEY_FILE + ".new")
        if vk.to_pem().decode("ascii") != stored_pem and pending.exists():
            # a rotation committed but stopped before its new key file took the old one's place
            new_sk = load_signing_key(self.dir, passphrase, file=pending.name)
            if new_sk.get_verifying_key().to_pem().decode("ascii") == stored_pem:
                os.replace(pending, self.dir / KEY_FILE)
                self._sk, vk = new_sk, new_sk.get_verifying_key()
        if vk.to_pem().decode("ascii") != stored_pem:
            raise KeyFileError(
                f"{key_path}: this signing key does not belong to journal {journal_id}"
            )
        self.journal_id = journal_id
        self._key_fp = public_key_fingerprint(vk)

    def _tail_problem(self, state: str | None) -> str | None:
        """A quick look at the last checkpoint before extending the journal (not a full verify).

        Checks that the last checkpoint is signed by our key and matches its event. Whatever is
        found is journalled and listed, so a journal altered between runs says so from the first
        screen; the app still starts.
        """
        s = self._state
        if not s.checkpoints:
            return ("the journal was closed cleanly but has no checkpoint: checkpoints were removed"
                    if state == chain.STATE_CLEAN else None)
        number, size, head, ts, reason, prev, sig = self._con.execute(
            "SELECT number, size, head, ts, reason, prev, signature FROM checkpoints "
            "WHERE number = ?", (s.checkpoints,)).fetchone()
        try:
            signer = self._signer(reason, size)
            msg = self._message(number, size, head, ts, reason, prev, public_key_fingerprint(signer))
            signer.verify(sig, msg, hashfunc=hashlib.sha256)
        except Exception:  # ecdsa raises BadSignatureError or decoding errors
            return f"the signature of the last checkpoint (#{number}) does not verify"
        row = self._con.execute("SELECT hash FROM events WHERE seq = ?", (size,)).fetchone()
        if row is None or row[0] != bytes.fromhex(head):
            return f"the last checkpoint (#{number}) does not match event {size}"
        if state == chain.STATE_CLEAN and reason != "shutdown":
            return (f"the journal was closed cleanly but its last checkpoint (#{number}, seq {size}) "
                    "is not the shutdown checkpoint: the end of the journal was removed")
        return None

    def _message(self, number: int, size: int, head: str, ts: int, reason: str, prev: str,
                 key_fp: str | None = None) -> bytes:
        state = chain.STATE_CLEAN if reason == "shutdown" else chain.STATE_OPEN
        return chain.checkpoint_message(journal_id=self.journal_id, key=key_fp or self._key_fp,
                                        number=number, size=size, head=head, time=ts,
                                        reason=reason, state=state, prev=prev)

    def _signer(self, reason: str, size: int) -> VerifyingKey:
        """The key that signed a checkpoint: ours, or the old key for a ``rotate`` checkpoint."""
        if reason == "rotate":
            row = self._con.execute("SELECT body FROM events WHERE seq = ?", (size,)).fetchone()
            try:
                pem = json.loads(bytes(row[0]))["old_public_key_pem"]
                return VerifyingKey.from_pem(pem, hashfunc=hashlib.sha256)
            except Exception:  # an unreadable rotation: judged with our key, and found wanting
                pass
        return self.public_key

    def _chaining_tail(self) -> tuple[list[tuple[Any, ...]], int]:
        """The rows after the last checkpoint, and how many of them chain on from it."""
        s = self._state
        if s.checkpoints:
            row = self._con.execute("SELECT hash FROM events WHERE seq = ?",
                                    (s.checkpoint_size,)).fetchone()
            prev_hash = row[0] if row else b""
        else:
            prev_hash = chain.genesis_hash(self._jid_bytes)
        rows = self._con.execute(
            "SELECT seq, ts, kind, actor, critical, body, prev_hash, hash FROM events WHERE seq > ? "
            "ORDER BY seq", (s.checkpoint_size,)).fetchall()
        expected, last_ts, good = s.checkpoint_size + 1, s.last_ts, 0
        for seq, ts, kind, actor, critical, body, stored_prev, stored in rows:
            if (seq != expected or type(ts) is not int or ts < last_ts or critical not in (0, 1)
                    or type(kind) is not str or type(actor) is not str or type(body) is not bytes
                    or stored_prev != prev_hash):
                break
            try:
                h = chain.event_hash(prev_hash, seq, ts, bool(critical), kind.encode(),
                                     actor.encode(), body)
            except (ValueError, struct.error, UnicodeEncodeError):
                break
            if h != stored:
                break
            prev_hash, expected, last_ts, good = h, expected + 1, ts, good + 1
        return rows, good

    def _plan_tail(self, state: str | None, now: float) -> _TailPlan:
        """Never seal what this writer did not write (see FORMAT.md, "The writer at open").

        After a clean shutdown there is no tail, so any row after the last checkpoint was put
        there by something else: it is moved to ``quarantine``, never sealed. After a crash the
        rows that chain on are sealed under reason ``recovered`` (the caller journals how many
        and their hash range); rows that do not chain are quarantined. This only reads: the
        plan is carried out by :meth:`_open_for_writing`, at open or, when the disk refuses
        writes then, by the writer before its first commit.
        """
        rows, good = self._chaining_tail()
        s = self._state
        recovered = None
        if state == chain.STATE_OPEN and good:
            first, last = rows[0], rows[good - 1]
            recovered = {"events": good, "first_seq": first[0], "last_seq": last[0],
                         "first_hash": first[7].hex(), "last_hash": last[7].hex()}
        keep = good if state == chain.STATE_OPEN else 0
        bad = rows[keep:]
        quarantined = None
        why = ("appended after a clean shutdown, so not written by Vigil"
               if state == chain.STATE_CLEAN else "not chained on from the journal")
        if bad:
            hashes = [r[7].hex() if isinstance(r[7], bytes) else repr(r[7]) for r in bad]
            quarantined = {
                "message": f"{len(bad)} event(s) (seq {bad[0][0]}..{bad[-1][0]}) after "
                f"checkpoint #{s.checkpoints} were {why}; they were moved to the quarantine "
                "table and not sealed",
                "events": len(bad), "first_seq": bad[0][0], "last_seq": bad[-1][0],
                "first_hash": hashes[0], "last_hash": hashes[-1],
            }
        return _TailPlan(rows[:keep], bad, why, now, recovered, quarantined)

    def _open_for_writing(self, tail: _TailPlan) -> None:
        """Settle the tail as planned and mark the journal open, in one transaction. On a
        refusal nothing changed: the chain state is read back and the error raised."""
        s = self._state
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            if tail.bad:
                found = chain.to_micros(tail.now)
                con.executemany("INSERT INTO quarantine VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                [(*r, found, tail.why) for r in tail.bad])
                con.execute("DELETE FROM events WHERE seq > ?", (s.checkpoint_size + len(tail.keep),))
            if tail.keep:
                last = tail.keep[-1]
                s.size, s.head = last[0], last[7]
                self._seal_now("recovered", tail.now)
            elif tail.bad:
                s.size, s.head = s.checkpoint_size, self._checkpoint_head()
            con.execute("UPDATE meta SET value='open' WHERE key='state'")
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            self._state = self._load_state()
            raise
        if tail.keep:
            s.last_ts = max([s.last_ts, *(r[1] for r in tail.keep if type(r[1]) is int)])

    def _checkpoint_head(self) -> bytes:
        s = self._state
        if not s.checkpoints:
            return chain.genesis_hash(self._jid_bytes)
        return bytes(self._con.execute("SELECT hash FROM events WHERE seq = ?",
                                       (s.checkpoint_size,)).fetchone()[0])

    def _seal_now(self, reason: str, now: float) -> None:
        """Sign a checkpoint over everything up to the head, inside the caller's transaction."""
        s = self._state
        number = s.checkpoints + 1
        ts = max(chain.to_micros(now), s.checkpoint_time + 1)
        head_hex = s.head.hex()
        msg = self._message(number, s.size, head_hex, ts, reason, s.checkpoint_link)
        sig = self._sign(msg)
        self._con.execute("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (number, s.size, head_hex, ts, reason, s.checkpoint_link, sig))
        s.checkpoints, s.checkpoint_size = number, s.size
        s.checkpoint_link, s.checkpoint_time = chain.checkpoint_link(msg, sig), ts
        self._sealed_at = self._monotonic()

    def _load_state(self) -> _ChainState:
        con = self._con
        row = con.execute("SELECT seq, hash, ts FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        cp = con.execute(
            "SELECT number, size, head, ts, reason, prev, signature FROM checkpoints "
            "ORDER BY number DESC LIMIT 1"
        ).fetchone()
        if cp is None:
            genesis = chain.genesis_hash(self._jid_bytes)
            return _ChainState(0, genesis, 0, 0, chain.NO_PREVIOUS, 0, 0)
        number, cp_size, cp_head, cp_ts, reason, prev, sig = cp
        msg = self._message(number, cp_size, cp_head, cp_ts, reason, prev,
                            public_key_fingerprint(self._signer(reason, cp_size)))
        sealed_row = con.execute("SELECT hash, ts FROM events WHERE seq = ?", (cp_size,)).fetchone()
        last_ts = sealed_row[1] if sealed_row and type(sealed_row[1]) is int else 0
        head = bytes(sealed_row[0]) if sealed_row else bytes.fromhex(cp_head)
        del row  # the tail after the checkpoint is judged by _plan_tail
        return _ChainState(cp_size, head, number, cp_size, chain.checkpoint_link(msg, sig), cp_ts,
                           last_ts)

    # ---- the caller's side ---------------------------------------------------------------

    def append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None:
        """Queue one event. Thread-safe; returns without waiting for the disk.

        Raises ``JournalBodyError`` (a ``ValueError``) at once if ``body`` cannot be journalled
        (not JSON, NaN/Infinity), so the caller's bug shows where it happened. If the queue is
        full the call waits up to ``APPEND_BLOCK_S`` (and a ``system.backlog`` event records
        that it had to); only if the writer is stuck for longer is the event counted as dropped,
        which a critical ``system.dropped`` event reports once the writer recovers.
        """
        if not isinstance(kind, str) or not kind or not isinstance(actor, str) or not actor:
            raise ValueError("journal events need a non-empty kind and actor")
        data = canonical_json(body, what=f"journal event {kind!r}")
        self._enqueue(_Pending(self._clock(), kind, actor, data, bool(critical)))

    def _enqueue(self, item: _Pending, block_s: float | None = None) -> None:
        with self._lock:
            if self._closed:
                raise JournalError(f"{self.dir}: journal is closed; event {item.kind!r} not recorded")
            if len(self._buf) >= self._queue_max:
                if self._writer_dead:
                    # the disk has refused commits for minutes: waiting would only stall the
                    # caller (alarm engine, UI) on every event without saving anything
                    self._dropped += 1
                    return
                self._backlog_waits += 1
                deadline = time.monotonic() + (APPEND_BLOCK_S if block_s is None else block_s)
                while len(self._buf) >= self._queue_max:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._dropped += 1
                        return
                    self._room_waiters += 1
                    try:
                        self._not_full.wait(left)
                    finally:
                        self._room_waiters -= 1
            self._buf.append(item)
            self._tickets += 1
            if self._writer_waiting:
                self._not_empty.notify()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every event appended before this call is committed. False on timeout."""
        with self._lock:
            target = self._tickets
        deadline = time.monotonic() + timeout
        with self._done_cv:
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._flush_timeouts += 1
                    return False
                if self._writer_dead or self._held_since is not None:
                    # commits are being refused: the events are held, waiting saves nothing
                    return False
                self._done_cv.wait(left)
        return True

    def close(self, timeout: float = 10.0) -> bool:
        """Record ``app.stop``, seal everything with a final checkpoint, mark the journal clean.

        Returns whether that stop record was committed (also kept in ``stop_recorded``). On a
        disk that refuses commits the writer gives up after ``STOP_RETRY_S`` rather than holding
        the shutdown for the whole timeout: the caller says the stop was not recorded (the next
        start journals ``journal.unclean_shutdown``)."""
        if self._closed:
            return self.stop_recorded
        # the clean-stop record may wait for the whole close timeout, not just APPEND_BLOCK_S
        self._enqueue(_Pending(self._clock(), "app.stop", "system",
                               canonical_json({"version": app.__version__}), True), block_s=timeout)
        with self._lock:
            self._closed = True
            self._stop_requested = True
            self._not_empty.notify()
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            # still retrying a refused commit: keep the process lock so no other writer can fork
            # the chain; the lock goes when this process exits
            self._last_error = self._last_error or "journal writer did not finish within the close timeout"
            return False
        self._con.close()
        self._lock_file.release()
        return self.stop_recorded

    def rotate_key(self, passphrase: str | None = None) -> str:
        """Hand signing over to a new key, signed into the journal by the old one.

        A critical ``journal.key_rotated`` event (old and new public key) is sealed at once by a
        ``rotate`` checkpoint of the old key; later checkpoints are signed by the new key, and a
        verifier holding the original pinned identity follows the hand-over. The new key file
        (wrapped with ``passphrase`` when given) is written beside the old one first and takes
        its place only after the commit, so a crash in between loses neither. Returns the new
        key's fingerprint.
        """
        if self._closed:
            raise JournalError(f"{self.dir}: journal is closed; the key cannot be rotated")
        pending = self.dir / (KEY_FILE + ".new")
        pending.unlink(missing_ok=True)
        new_sk = create_signing_key(self.dir, passphrase, file=pending.name)
        old_vk, new_vk = self.public_key, new_sk.get_verifying_key()
        new_fp = public_key_fingerprint(new_vk)
        body = canonical_json({
            "old_key": self._key_fp, "new_key": new_fp,
            "old_public_key_pem": old_vk.to_pem().decode("ascii"),
            "new_public_key_pem": new_vk.to_pem().decode("ascii"),
        })
        self.flush()
        with self._commit_lock:
            s = self._state
            saved = (s.size, s.head, s.last_ts, s.checkpoints, s.checkpoint_size, s.checkpoint_link,
                     s.checkpoint_time)
            now = self._clock()
            seq, ts = s.size + 1, max(chain.to_micros(now), s.last_ts)
            kind, actor = chain.KEY_ROTATED.encode(), b"system"
            h = chain.event_hash(s.head, seq, ts, True, kind, actor, body)
            con = self._con
            try:
                con.execute("BEGIN IMMEDIATE")
                con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (seq, ts, chain.KEY_ROTATED, "system", 1, body, s.head, h))
                s.size, s.head, s.last_ts = seq, h, ts
                self._seal_now("rotate", now)
                con.execute("UPDATE meta SET value = ? WHERE key = 'public_key_pem'",
                            (new_vk.to_pem().decode("ascii"),))
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                (s.size, s.head, s.last_ts, s.checkpoints, s.checkpoint_size, s.checkpoint_link,
                 s.checkpoint_time) = saved
                pending.unlink(missing_ok=True)
                raise
            self._sk, self._key_fp = new_sk, new_fp
        os.replace(pending, self.dir / KEY_FILE)
        return new_fp

    @property
    def root_key(self) -> VerifyingKey:
        """The journal's original key (``identity.json``), which rotations are followed from."""
        try:
            identity = load_identity(self.dir / IDENTITY_FILE)
        except KeyFileError:
            return self.public_key
        return identity.public_key if identity.journal_id == self.journal_id else self.public_key

    @property
    def public_key(self) -> VerifyingKey:
        """The key this journal's checkpoints are signed with (to check what it has sealed)."""
        return self._sk.get_verifying_key()

    def stats(self) -> JournalStats:
        s = self._state
        return JournalStats(
            committed=self._done, queued=len(self._buf), size=s.size,
            checkpoints=s.checkpoints, unsealed=s.size - s.checkpoint_size,
            backlog_waits=self._backlog_waits, dropped=self._dropped, last_error=self._last_error,
            held_since=self._held_since, flush_timeouts=self._flush_timeouts,
        )

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            group = self._take_group()
            stopping = self._stop_requested and not self._buf
            accepted = len(group)
            group.extend(self._writer_notices())
            self._commit_with_retry(group, accepted, final=stopping)

    def _take_group(self) -> list[_Pending]:
        """Wait (up to the next interval checkpoint) for events; take at most one group."""
        buf = self._buf
        with self._lock:
            if not buf and not self._stop_requested:
                self._writer_waiting = True
                try:
                    self._not_empty.wait(self._idle_timeout())
                finally:
                    self._writer_waiting = False
            n = min(len(buf), MAX_GROUP)
            group = [buf.popleft() for _ in range(n)]
            if self._room_waiters:
                self._not_full.notify_all()
        return group

    def _idle_timeout(self) -> float | None:
        s = self._state
        if s.size == s.checkpoint_size:
            return 1.0
        return max(0.0, min(1.0, self._sealed_at + self._interval - self._monotonic()))

    def _writer_notices(self) -> list[_Pending]:
        """Events the writer adds itself: that appenders had to wait, or lost events."""
        out = []
        now = self._clock()
        waits = self._backlog_waits
        if waits > self._backlog_reported:
            out.append(_Pending(now, "system.backlog", "system", canonical_json({
                "message": "journal queue was full; callers had to wait",
                "waits": waits - self._backlog_reported, "queue_max": self._queue_max,
            }), False))
            self._backlog_reported = waits
        dropped = self._dropped
        if dropped > self._dropped_reported:
            out.append(_Pending(now, "system.dropped", "system", canonical_json({
                "message": "journal writer was stuck; events could not be queued and are lost",
                "lost_events": dropped - self._dropped_reported,
            }), True))
            self._dropped_reported = dropped
        return out

    def _commit_with_retry(self, group: list[_Pending], accepted: int, *, final: bool) -> None:
        delay = 0.05
        attempts = 0
        while True:
            try:
                with self._commit_lock:
                    if self._opening is not None:  # the start the disk refused, first
                        self._open_for_writing(self._opening)
                        self._opening = None
                    held = [self._held_event()] if self._held_since is not None else []
                    self._commit(group + held, final=final)
                self._last_error = None
                self._writer_dead = False
                self._held_since = None
                if final:
                    self.stop_recorded = True
                break
            except sqlite3.Error as e:
                self._last_error = f"{self.dir / DB_FILE}: {e}"
                with contextlib.suppress(sqlite3.Error):
                    self._con.execute("ROLLBACK")
                if self._held_since is None and _storage_problem(e) is not None:
                    # the disk (not a lock) refuses: an episode the journal reports afterwards
                    self._held_since = self._clock()
                    self._held_from = (self._done, self._dropped)
                    self._held_error = self._last_error
                if self._stop_requested:  # shutting down: a bounded last try, not minutes
                    now = time.monotonic()
                    if self._stop_deadline is None:
                        self._stop_deadline = now + STOP_RETRY_S
                    if now >= self._stop_deadline:
                        self._dropped += accepted
                        break
                    time.sleep(min(delay, self._stop_deadline - now))
                else:
                    self._wake.wait(delay)
                delay = min(delay * 2, 2.0)
                attempts += 1
                if attempts >= STALLED_AFTER_ATTEMPTS or self._held_since is not None:
                    # the disk refuses (full, failing), or something has for minutes: appenders
                    # stop waiting for room, which would stall the alarm engine and the screen
                    # for nothing (a full queue then drops, counted and journaled as
                    # system.dropped once a commit succeeds), but this group is kept and
                    # retried, not thrown away
                    self._writer_dead = True
        with self._done_cv:
            self._done += accepted
            self._done_cv.notify_all()

    def _held_event(self) -> _Pending:
        """The critical ``storage.journal_held`` event committed with the first group the disk
        takes after refusing: since when, how many events waited in memory, how many were lost."""
        with self._lock:
            accepted = self._tickets
        done, dropped = self._held_from
        now = self._clock()
        return _Pending(now, "storage.journal_held", "system", canonical_json({
            "message": "the disk refused the journal's writes; the events were held in memory "
                       "and are written now",
            "since": self._held_since, "until": now, "held_events": accepted - done,
            "lost_events": self._dropped - dropped, "error": self._held_error,
        }), True)

    def _commit(self, group: list[_Pending], *, final: bool) -> None:
        """Chain, insert and seal one group in a single transaction.

        A count checkpoint is placed exactly every N events, even inside a group (so one fsync
        can carry several); a group holding an unsealed critical event, the last group before
        shutdown, or one arriving after the interval, ends with a checkpoint too.
        """
        s = self._state
        rows = []
        checkpoints: list[tuple[Any, ...]] = []
        prev = s.head
        seq = s.size
        number, sealed = s.checkpoints, s.checkpoint_size
        link, sealed_time = s.checkpoint_link, s.checkpoint_time
        last_ts = s.last_ts
        every = self._every
        now = chain.to_micros(self._clock())
        mono = self._monotonic()
        critical_unsealed = False
        jid, key_fp = self.journal_id, self._key_fp

        def seal(reason: str) -> None:
            nonlocal number, sealed, link, sealed_time, critical_unsealed
            number += 1
            head_hex = prev.hex()
            # strictly increasing, also for several checkpoints in one group or a clock step back
            ts = max(now, sealed_time + 1)
            state = chain.STATE_CLEAN if reason == "shutdown" else chain.STATE_OPEN
            msg = chain.checkpoint_message(journal_id=jid, key=key_fp, number=number, size=seq,
                                           head=head_hex, time=ts, reason=reason, state=state,
                                           prev=link)
            sig = self._sign(msg)
            checkpoints.append((number, seq, head_hex, ts, reason, link, sig))
            sealed, link, sealed_time, critical_unsealed = seq, chain.checkpoint_link(msg, sig), ts, False

        # chain.event_hash inlined: this loop is the writer's hot path
        sha256, pack, tag = hashlib.sha256, chain.EVENT_HEADER.pack, chain.EVENT_TAG
        for t, kind, actor, body, crit in group:
            seq += 1
            # times never run backwards in the journal: callers stamp events on their own
            # threads before they are queued, and the clock may step back
            ts = round(t * 1_000_000)
            if ts < last_ts:
                ts = last_ts
            last_ts = ts
            k = kind.encode("utf-8")
            a = actor.encode("utf-8")
            h = sha256(tag + prev + pack(seq, ts, crit, len(k), len(a)) + k + a + body).digest()
            rows.append((seq, ts, kind, actor, crit, body, prev, h))
            prev = h
            critical_unsealed = critical_unsealed or crit
            if seq - sealed >= every:
                seal("count")
        if seq > sealed:
            if final:
                seal("shutdown")
            elif critical_unsealed:
                seal("critical")
            elif mono - self._sealed_at >= self._interval:
                seal("interval")
        if not rows and not checkpoints and not final:
            return
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        if rows:
            con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if checkpoints:
            con.executemany("INSERT INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)", checkpoints)
        if final:
            con.execute("UPDATE meta SET value='clean' WHERE key='state'")
        con.execute("COMMIT")
        if checkpoints:
            self._sealed_at = mono
        s.size, s.head, s.last_ts = seq, prev, last_ts
        s.checkpoints, s.checkpoint_size, s.checkpoint_link, s.checkpoint_time = (
            number, sealed, link, sealed_time)

    def _sign(self, msg: bytes) -> bytes:
        sk: SigningKey = self._sk
        return sk.sign_deterministic(msg, hashfunc=hashlib.sha256)
