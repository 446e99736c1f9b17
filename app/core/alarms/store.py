"""The alarm state table and alarm history in ``alarms.sqlite``.

Why a table of our own when the journal already holds every transition: the journal is the
authority, but it is an append-only log of everything. Restoring state at start and answering
"what did tank.level do last night" from it means replaying it all. This file keeps the current
state of each alarm (one row per alarm, a JSON document) and an indexed copy of alarm events, both
derivable from the journal (see ``replay.py``).

All writing happens on one writer thread fed by a bounded queue, because ``on_samples`` runs on
the core thread and must never wait for a disk. Readers open their own connection (WAL), so the
CLI can read while the workstation runs.
"""

from __future__ import annotations

import collections
import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core import atrest
from app.core.alarms.types import AlarmQuery, Priority
from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.errors import VigilError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_state (id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alarm_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    alarm_id TEXT NOT NULL,
    source TEXT NOT NULL,
    device TEXT NOT NULL,
    priority TEXT NOT NULL,
    event TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT,
    value TEXT,
    limit_value TEXT,
    actor TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS alarm_events_ts ON alarm_events (ts);
CREATE INDEX IF NOT EXISTS alarm_events_alarm ON alarm_events (alarm_id, ts);
CREATE INDEX IF NOT EXISTS alarm_events_source ON alarm_events (source, ts);
"""

EVENT_COLUMNS = (
    "ts",
    "alarm_id",
    "source",
    "device",
    "priority",
    "event",
    "from_state",
    "to_state",
    "value",
    "limit_value",
    "actor",
    "detail",
)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One alarm event as stored: a transition, or an operator action on an alarm."""

    ts: float
    alarm_id: str
    source: str
    device: str
    priority: str
    event: str
    from_state: str | None
    to_state: str | None
    value: Any
    limit_value: Any
    actor: str
    detail: dict[str, Any] | None = None

    def as_params(self) -> tuple[Any, ...]:
        return (
            self.ts,
            self.alarm_id,
            self.source,
            self.device,
            self.priority,
            self.event,
            self.from_state,
            self.to_state,
            _dump(self.value),
            _dump(self.limit_value),
            self.actor,
            _dump(self.detail),
        )


def _dump(v: Any) -> str | None:
    return None if v is None else json.dumps(v, separators=(",", ":"), default=str)


def _load(v: str | None) -> Any:
    return None if v is None else json.loads(v)


class StoreError(VigilError):
    """The state file cannot be used; the message names the file."""


def _connect(path: Path) -> sqlite3.Connection:
    con = atrest.connect(path, check_same_thread=False, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(_SCHEMA)
    con.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )
    return con


#: SQLite primary result codes that mean the storage failed (full, I/O error, read-only,
#: cannot open), not the file: such a file is never moved aside as if it were damaged
_STORAGE_CODES = {13: "the disk is full", 10: "the disk reported an I/O error",
                  8: "the file or its folder is read-only", 14: "the file cannot be opened"}


def storage_problem(e: BaseException) -> str | None:
    """What is wrong with the storage, if ``e`` is a storage failure rather than damage."""
    code = getattr(e, "sqlite_errorcode", None)
    return _STORAGE_CODES.get(code & 0xFF) if isinstance(code, int) else None


def open_or_quarantine(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """Open the state file; if it is not a usable SQLite database, move it aside (nothing is
    deleted) and start a fresh one. Returns the connection and, if it quarantined, a message.

    A storage failure (disk full, I/O error) is not damage: the file stays where it is and
    ``StoreError`` says what to fix, because moving a good history aside over a full disk
    would lose it from ``vigil alarms history``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = _connect(path)
        con.execute("SELECT count(*) FROM alarm_state").fetchone()
        return con, None
    except sqlite3.DatabaseError as e:
        storage = storage_problem(e)
        if storage is not None:
            raise StoreError(
                f"{path}: cannot open the alarm state: {storage} ({e}); the file is not damaged: "
                "free space (or fix the disk) and start again"
            ) from None
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(path) + suffix)
            if p.exists():
                p.rename(Path(str(aside) + suffix))
        con = _connect(path)
        return con, f"{path}: unreadable alarm state ({e}); moved to {aside.name}, starting afresh"


@dataclass(frozen=True)
class StoreStats:
    """The writer's counters, for the station's storage report."""

    dropped: int  # writes that never reached the file (queue full, or given up while failing)
    write_errors: int  # commits the disk refused
    held: int  # writes kept in memory now, waiting for the disk
    written_late: int  # writes that were refused at first and committed on a later try
    last_error: str | None


class AlarmStore:
    """Owns the writer thread. ``put_state``/``put_event`` never block; ``flush`` waits.

    A commit the disk refuses (full, I/O error) loses nothing at once: its writes are held in
    memory and retried, with the writes that arrive meanwhile, every ``retry_s`` (backing off
    to ten times that), so the alarm history is complete once space returns. Held states are
    kept latest-per-alarm (a newer state makes an older one moot); held events are bounded by
    ``queue_max``, the oldest given up first and counted in ``dropped`` (the engine journals
    that count, and the journal keeps every transition).
    """

    def __init__(self, path: Path, queue_max: int = 100_000, retry_s: float = 1.0):
        self.path = Path(path)
        self._con, self.quarantine_note = open_or_quarantine(self.path)
        self._q: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=queue_max)
        self._queue_max = queue_max
        self._retry_s = retry_s
        self.dropped = 0
        self.write_errors = 0
        self.written_late = 0
        self.last_error: str | None = None
        #: writes a refused commit left over: states (and deletes) by alarm id, events in order
        self._held_states: dict[str, tuple[str, Any]] = {}
        self._held_events: collections.deque[tuple[str, Any]] = collections.deque()
        self._thread = threading.Thread(target=self._run, name="alarm-store", daemon=True)
        self._closed = False
        self._thread.start()

    def stats(self) -> StoreStats:
        return StoreStats(self.dropped, self.write_errors,
                          len(self._held_states) + len(self._held_events), self.written_late,
                          self.last_error)

    # -- reads at start-up (core thread, before samples flow)
    def load_states(self) -> dict[str, dict[str, Any]]:
        rows = self._con.execute("SELECT id, data FROM alarm_state").fetchall()
        out: dict[str, dict[str, Any]] = {}
        for alarm_id, data in rows:
            try:
                out[alarm_id] = json.loads(data)
            except ValueError:
                continue  # a broken row is ignored here; the engine notes the count
        return out

    def recent_activations(self, since: float) -> list[tuple[float, str]]:
        return self._con.execute(
            "SELECT ts, alarm_id FROM alarm_events WHERE event='transition' AND to_state='unack_active' "
            "AND ts >= ? ORDER BY seq",
            (since,),
        ).fetchall()

    # -- writes (any thread, non-blocking)
    def put_state(self, alarm_id: str, data: dict[str, Any]) -> None:
        self._put(("state", (alarm_id, json.dumps(data, separators=(",", ":"), default=str))))

    def delete_state(self, alarm_id: str) -> None:
        self._put(("delete", alarm_id))

    def put_event(self, row: EventRow) -> None:
        self._put(("event", row.as_params()))

    def _put(self, item: tuple[str, Any]) -> None:
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued so far is committed. False if it timed out, or if the
        disk refused it (the writes are held and retried)."""
        if self._closed:
            return True
        done = threading.Event()
        try:
            self._q.put(("flush", done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout) and not (self._held_states or self._held_events)

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self.flush(timeout)
        self._closed = True
        self._q.put(("stop", None))
        self._thread.join(timeout)
        self._con.close()

    def _run(self) -> None:
        retry_at = 0.0  # monotonic time of the next try while writes are held
        backoff = self._retry_s
        while True:
            held = bool(self._held_states or self._held_events)
            items: list[tuple[str, Any]] = []
            try:
                wait = max(0.0, retry_at - time.monotonic()) if held else None
                items.append(self._q.get(timeout=wait))
            except queue.Empty:
                pass
            while len(items) < 2000:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            waiters = [p for k, p in items if k == "flush"]
            stop = any(k == "stop" for k, _ in items)
            writes = [it for it in items if it[0] in ("state", "delete", "event")]
            if held and time.monotonic() < retry_at and not stop:
                self._hold(writes)  # the disk refused the last try: gather until the next one
            elif self._commit(writes):
                backoff = self._retry_s
            else:
                retry_at = time.monotonic() + backoff
                backoff = min(backoff * 2, self._retry_s * 10)
            for w in waiters:
                w.set()
            if stop:
                return

    def _hold(self, writes: list[tuple[str, Any]]) -> None:
        """Keep writes for the next try: a state replaces the alarm's older held one; events
        beyond the bound give up their oldest."""
        for kind, payload in writes:
            if kind == "event":
                self._held_events.append((kind, payload))
            else:
                self._held_states[payload[0] if kind == "state" else payload] = (kind, payload)
        over = len(self._held_events) - self._queue_max
        for _ in range(max(0, over)):
            self._held_events.popleft()
            self.dropped += 1

    def _commit(self, writes: list[tuple[str, Any]]) -> bool:
        """Commit the held writes, then ``writes``, in one transaction. On a refusal everything
        is held for the next try (``write_errors`` counts it); True when committed."""
        held = len(self._held_states) + len(self._held_events)
        batch = [*self._held_events, *self._held_states.values(), *writes]
        if not batch:
            return True
        try:
            self._con.execute("BEGIN")
            for kind, payload in batch:
                if kind == "state":
                    self._con.execute("INSERT OR REPLACE INTO alarm_state (id, data) VALUES (?, ?)", payload)
                elif kind == "delete":
                    self._con.execute("DELETE FROM alarm_state WHERE id = ?", (payload,))
                else:
                    self._con.execute(_INSERT_EVENT, payload)
            self._con.execute("COMMIT")
        except sqlite3.Error as e:  # disk full, file removed under us: hold, count, keep running
            self.write_errors += 1
            self.last_error = f"{self.path}: {e}"
            with contextlib.suppress(sqlite3.Error):
                self._con.execute("ROLLBACK")
            self._hold(writes)
            return False
        if held:
            self.written_late += held
            self._held_states.clear()
            self._held_events.clear()
        return True


_INSERT_EVENT = (
    f"INSERT INTO alarm_events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
)


#: meta key: the last journal seq whose alarm transitions were checked against the history
REPAIRED_SEQ_KEY = "history_repaired_seq"


def repair_history(
    path: Path,
    transitions: Iterable[tuple[int, str, dict[str, Any]]],
    device_of: Callable[[str, str], str],
) -> int:
    """Insert the journal's alarm transitions that the history lacks; returns how many.

    The journal is the record; the history here is its indexed copy, and a write to it can be
    lost (a full disk that outlasted the memory the store holds refused writes in, or a process
    that died while holding them). ``transitions`` are ``(seq, actor, body)`` of the journal's
    ``alarm.transition`` events after ``last_repaired_seq(path)``; a transition is there when a
    row with the same time, alarm and new state is. Run it before the alarm engine starts
    writing. ``device_of(alarm_id, source)`` names the device (the journal does not)."""
    con = atrest.connect(Path(path), isolation_level=None)
    try:
        events = list(transitions)
        if not events:
            return 0
        first = min(float(b.get("t", 0.0)) for _s, _a, b in events)
        have = {
            (round(float(ts), 6), str(aid), str(to))
            for ts, aid, to in con.execute(
                "SELECT ts, alarm_id, to_state FROM alarm_events WHERE event = 'transition' AND ts >= ?",
                (first - 1.0,),
            )
        }
        rows = []
        for _seq, actor, b in events:
            key = (round(float(b.get("t", 0.0)), 6), str(b.get("alarm")), str(b.get("to")))
            if key in have:
                continue
            have.add(key)
            source = str(b.get("source", ""))
            rows.append(EventRow(key[0], key[1], source, device_of(key[1], source),
                                 str(b.get("priority", "")), "transition", b.get("from"), key[2],
                                 _journaled_value(b), b.get("limit"), actor,
                                 {"cause": b.get("cause"), "repaired_from": "journal",
                                  **({"value_ref": b["value_ref"]} if "value_ref" in b else {})}
                                 ).as_params())
        con.execute("BEGIN")
        con.executemany(_INSERT_EVENT, rows)
        con.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (REPAIRED_SEQ_KEY, str(max(seq for seq, _a, _b in events))))
        con.execute("COMMIT")
        return len(rows)
    finally:
        con.close()


#: what a repaired row shows for a value the journal only references (a vital sign)
SEE_HISTORIAN = "see historian"


def _journaled_value(body: dict[str, Any]) -> Any:
    """A transition's value as the journal has it; a vital sign's is only referenced there
    (``value_ref``: the historian's sample of that tag at or before that time)."""
    return SEE_HISTORIAN if "value_ref" in body else body.get("value")


def last_repaired_seq(path: Path) -> int:
    """The journal seq up to which ``repair_history`` has checked (0: never)."""
    if not Path(path).exists():
        return 0
    con = atrest.connect(Path(path))
    try:
        row = con.execute("SELECT value FROM meta WHERE key = ?", (REPAIRED_SEQ_KEY,)).fetchone()
    except sqlite3.Error:
        return 0
    finally:
        con.close()
    return int(row[0]) if row else 0


# -- read-only access for the CLI and the UI -------------------------------------------------


def _open_ro(path: Path) -> sqlite3.Connection:
    if not Path(path).exists():
        raise StoreError(f"{path}: no alarm state here (has the workstation run with this data dir?)")
    try:
        con = atrest.connect(Path(path), readonly=True)
        con.execute("SELECT count(*) FROM alarm_state").fetchone()
        return con
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path}: not a readable alarm database ({e})") from None


def read_states(path: Path) -> list[dict[str, Any]]:
    """Every alarm's last stored state, sorted by id."""
    con = _open_ro(path)
    try:
        rows = con.execute("SELECT id, data FROM alarm_state ORDER BY id").fetchall()
    finally:
        con.close()
    out = []
    for alarm_id, data in rows:
        try:
            d = json.loads(data)
        except ValueError:
            d = {"state": "unreadable"}
        d["id"] = alarm_id
        out.append(d)
    return out


def read_kpi_inputs(
    path: Path, since: float
) -> tuple[list[tuple[float, str]], list[dict[str, Any]], float | None]:
    """For offline KPIs: activations since ``since`` (oldest first), the current state rows,
    and the time of the first stored event (so averages cover only the time alarms were kept)."""
    con = _open_ro(path)
    try:
        acts = con.execute(
            "SELECT ts, alarm_id FROM alarm_events WHERE event='transition' AND to_state='unack_active' "
            "AND ts >= ? ORDER BY seq",
            (since,),
        ).fetchall()
        (first,) = con.execute("SELECT min(ts) FROM alarm_events").fetchone()
    finally:
        con.close()
    return [(float(t), str(a)) for t, a in acts], read_states(path), first


def query_events(path: Path | sqlite3.Connection, q: AlarmQuery) -> list[dict[str, Any]]:
    """Alarm events matching ``q``, oldest first (at most ``q.limit``, the newest ones)."""
    where: list[str] = []
    params: list[Any] = []
    if q.since is not None:
        where.append("ts >= ?")
        params.append(q.since)
    if q.until is not None:
        where.append("ts <= ?")
        params.append(q.until)
    if q.tag:
        where.append("(source = ? OR device = ? OR alarm_id = ?)")
        params += [q.tag, q.tag, q.tag]
    if q.alarm_id:
        where.append("alarm_id = ?")
        params.append(q.alarm_id)
    if q.priority:
        where.append("priority = ?")
        params.append(Priority.parse(q.priority).label)
    if q.state:
        where.append("to_state = ?")
        params.append(q.state)
    if q.actor:
        where.append("actor = ?")
        params.append(q.actor)
    if q.text and q.text.strip():
        like = "%" + q.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(alarm_id LIKE ? ESCAPE '\\' OR source LIKE ? ESCAPE '\\' "
                     "OR device LIKE ? ESCAPE '\\' OR actor LIKE ? ESCAPE '\\' "
                     "OR detail LIKE ? ESCAPE '\\')")
        params += [like] * 5
    if q.kinds:
        where.append(f"event IN ({', '.join('?' * len(q.kinds))})")
        params += list(q.kinds)
    sql = "SELECT seq, " + ", ".join(EVENT_COLUMNS) + " FROM alarm_events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    params.append(int(q.limit))
    own = not isinstance(path, sqlite3.Connection)
    con = path if isinstance(path, sqlite3.Connection) else _open_ro(path)
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        if own:
            con.close()
    return [_event_dict(r) for r in reversed(rows)]


def _event_dict(r: Iterable[Any]) -> dict[str, Any]:
    seq, ts, alarm_id, source, device, priority, event, f, t, value, limit, actor, detail = r
    return {
        "seq": seq,
        "ts": ts,
        "alarm_id": alarm_id,
        "source": source,
        "device": device,
        "priority": priority,
        "event": event,
        "from_state": f,
        "to_state": t,
        "value": _load(value),
        "limit": _load(limit),
        "actor": actor,
        "detail": _load(detail),
    }
