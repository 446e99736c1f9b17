"""The historian: a sample sink that never blocks the poller, and one thread that writes.

``on_samples`` is called on the core's asyncio thread after every poll; it only appends the
batch to a bounded in-memory queue (or, when that is full, drops the batch and counts it, so the
UI and journal can say data was lost rather than the poller stalling). A single writer thread
turns whatever has accumulated into one transaction (group commit), which is what makes SQLite
fast enough: per-sample commits would cost orders of magnitude more. The same thread deletes
expired rows in small chunks between inserts, so retention never holds the write lock for long.

Cost in the 50,000 samples/s poll path (100 devices x 50 points x 10 Hz, tests/benchmarks/poll.py):
a regular poll is packed into one ``Frame`` and appended as one row. The runtime hands each poll
to ``on_poll`` as columns (tags tuple, values list), packed in ~2-3 us per 50-point poll; from
Sample tuples (``on_samples``) the same costs ~11 us. Measured: the historian's whole CPU ~9-11 %
of the raw pymodbus loop's through ``on_poll`` against ~15 % through ``on_samples``, where one row
per sample cost ~200 % (2-4 us per row in SQLite alone, plus the garbage collector walking every
queued Sample). Irregular batches keep the per-sample rows.
"""

from __future__ import annotations

import collections
import logging
import math
import operator
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.historian import chunks
from app.core.historian.compactor import Compactor, raw_edge, write_meta
from app.core.historian.export import export_csv, iso_utc
from app.core.historian.frames import (
    Frame,
    column_samples,
    frame_samples,
    layout_is_valid,
    pack_columns,
    pack_frame,
)
from app.core.historian.reader import HistorianReader, Series, TagInfo
from app.core.historian.rollup import FINEST, LEVEL_NAMES, LEVELS, align_down
from app.core.historian.schema import KIND_NUMBER, KIND_TEXT, connect_writer, create_schema
from app.core.model import Sample, Value

log = logging.getLogger(__name__)

_INDEX_ORDER = operator.itemgetter(0, 1)  # (tag_id, t)
_FRAME_T = operator.itemgetter(1)  # t of a frame row or a sample row
_INSERT = "INSERT INTO samples (tag_id, t, value, text, quality) VALUES (?, ?, ?, ?, ?)"
_INSERT_FRAME = "INSERT INTO frames (layout_id, t, value, quality) VALUES (?, ?, ?, ?)"

#: tag tuple of a regular poll -> its layout id (None: this tuple cannot be a layout)
Layouts = dict[tuple[str, ...], int | None]


@dataclass(frozen=True)
class HistorianStats:
    """Counters for the status bar and the journal (``system.dropped``)."""

    accepted: int  # samples taken into the queue
    written: int  # samples committed to disk
    dropped: int  # samples refused because the queue was full (or the historian closed)
    dropped_batches: int
    failed: int  # samples lost because SQLite refused the write (disk full, I/O error...)
    queued: int  # samples waiting for the writer now
    retention_deleted: int
    last_error: str | None
    rollups_deleted: int = 0  # rollup rows expired by their level's retention


def _row_fields(value: object) -> tuple[float | None, str | None]:
    """(value REAL, text TEXT) for a sample's value; bools become 0/1."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return None, value
    try:
        return float(value), None  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None, str(value)


def _add_tag(conn: sqlite3.Connection, tag: str, kind: str) -> tuple[int, str]:
    """Enter a tag in the dictionary; OR IGNORE + read back because another writer on the same
    file (a second instance) may have added it since we loaded the dictionary."""
    conn.execute("INSERT OR IGNORE INTO tags (name, kind) VALUES (?, ?)", (tag, kind))
    tid, stored_kind = conn.execute("SELECT id, kind FROM tags WHERE name = ?", (tag,)).fetchone()
    return int(tid), str(stored_kind)


#: how long each rollup level is kept when the plant file does not say (days; 0 = forever)
DEFAULT_ROLLUP_RETENTION_DAYS: dict[int, float] = {10: 30.0, 60: 730.0, 600: 730.0, 3600: 0.0}


def effective_retention(raw_days: float, rollup_days: Mapping[int, float] | None) -> dict[int, float]:
    """Each level's retention in days (0 = forever), never shorter than the raw samples' or a
    finer level's: a summary must outlive what it summarises, or a rebuild could shrink it."""
    given = dict(DEFAULT_ROLLUP_RETENTION_DAYS)
    given.update(rollup_days or {})
    out: dict[int, float] = {}
    floor = raw_days
    for level in LEVELS:
        days = float(given.get(level, 0.0))
        days = 0.0 if days <= 0 or floor <= 0 else max(days, floor)
        out[level] = days
        floor = days
    return out


def _load_layouts(conn: sqlite3.Connection, tag_ids: dict[str, tuple[int, str]]) -> Layouts:
    """The layouts already in the file (a restart keeps appending to the same ones)."""
    names = {tid: name for name, (tid, _kind) in tag_ids.items()}
    out: Layouts = {}
    for layout, spec in conn.execute("SELECT id, tag_ids FROM frame_layouts"):
        try:
            out[tuple(names[int(x)] for x in spec.split(","))] = int(layout)
        except (KeyError, ValueError):  # a damaged layout row: leave it, new polls get a new one
            log.warning("%s: frame layout %s names unknown tags; not reused", conn, layout)
    return out


class Historian:
    """SQLite (WAL) store of every sample, with one writer thread fed by a bounded queue.

    ``queue_max`` bounds memory in samples; ``batch_max`` caps one group commit;
    ``flush_interval_s`` is the longest a sample waits in memory when traffic is light.
    Regular polls become one frame row each (see ``frames``); for the per-sample rows that
    remain, big commits are what keep SQLite cheap with many tags: each commit rewrites the index
    page of every tag it touches (see tests/benchmarks/historian.py).
    Rows older than ``retention_days`` are deleted, ``retention_chunk`` rows at a time, checked
    every ``retention_check_s``. ``clock`` is injectable so tests can move time.

    Rollups (see ``rollup``, ``compactor``) are kept up to date by the same thread every
    ``rollup_interval_s``, and frames older than ``chunk_after_s`` whose rollups are final are
    rewritten into per-column chunks (see ``chunks``) a layout-hour per step.
    ``rollup_retention_days`` maps a level (seconds) to its retention in days (0 = forever; a
    level never expires before the finer data it is made from, nor before the raw samples).
    A retention pass never deletes more than ``retention_max_share`` of a level's stored time
    span, and deletes nothing when the clock puts every stored sample past the cut (a clock that
    jumped forward must not erase the historian).
    """

    def __init__(
        self,
        path: str | Path,
        queue_max: int = 200_000,
        batch_max: int = 50_000,
        flush_interval_s: float = 0.5,
        retention_days: float = 30.0,
        *,
        retention_check_s: float = 60.0,
        retention_chunk: int = 2000,
        clock: Callable[[], float] = time.time,
        rollup_retention_days: Mapping[int, float] | None = None,
        retention_max_share: float = 0.1,
        rollup_interval_s: float = 10.0,
        rollup_lag_s: float = 5.0,
        chunk_after_s: float | None = 2 * chunks.CHUNK_S,
    ) -> None:
        self.path = Path(path)
        self.queue_max = queue_max
        self.batch_max = batch_max
        self.flush_interval_s = flush_interval_s
        self.retention_days = retention_days
        self.retention_check_s = retention_check_s
        self.retention_chunk = retention_chunk
        self._clock = clock
        self.rollup_retention_days = effective_retention(retention_days, rollup_retention_days)
        self.retention_max_share = retention_max_share
        self.rollup_interval_s = rollup_interval_s
        self.compactor = Compactor(lag_s=rollup_lag_s)
        #: rewrites frames older than ``chunk_after_s`` (data time) into per-column chunks; None: never
        self.chunker = chunks.Chunker(chunk_after_s) if chunk_after_s is not None else None
        self._retention_cuts: dict[int, float] | None = None  # this pass's cut per level (0 = raw)
        self._rollups_deleted = 0
        self._rollup_requests = 0
        self._rollup_done = 0
        create_schema(self.path)  # raises HistorianError naming the file if it is unusable
        self.reader = HistorianReader(self.path)

        self._cond = threading.Condition()
        self._pending: collections.deque[Frame | tuple[Sample, ...]] = collections.deque()
        self._pending_n = 0
        self._oldest_pending = 0.0  # monotonic time the oldest queued batch arrived
        self._accepted = 0
        self._done = 0  # accepted samples the writer has finished with (written or failed)
        self._written = 0
        self._dropped = 0
        self._dropped_batches = 0
        self._failed = 0
        self._retention_deleted = 0
        self._last_error: str | None = None
        self._force = False
        self._stopping = False
        self._closed = False
        self._prune_requests = 0
        self._prune_done = 0
        self._retention_pos = 0  # index into the tag ids where the next retention step resumes
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ sink side (any thread)

    def start(self) -> None:
        """Start the writer thread. Samples given before start wait in the queue."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="historian-writer", daemon=True)
        self._thread.start()

    def on_samples(self, batch: Sequence[Sample]) -> None:
        """Queue a poll's samples; never blocks on I/O and never raises.

        When the queue cannot take the whole batch it is dropped whole and counted (a partial
        batch would leave an unexplained hole in some tags but not others).

        A regular poll is packed into a Frame here, on the caller's thread (~10 us per poll of
        50 points, C-level loops only). That is not only work moved: a queued ``Sample`` holds a
        ``Quality`` member, which keeps the tuple tracked by the garbage collector, so half a
        second of queued samples (25,000 tuples at 50,000 samples/s) was traversed by every
        young-generation collection and pushed into full ones (measured: GC alone cost as much
        CPU as the writer). A Frame holds only strings, bytes and a float, which the collector
        untracks.
        """
        try:
            n = len(batch)
            if n == 0:
                return
            if self._closed or self._pending_n + n > self.queue_max:  # racy pre-check: see _enqueue
                item: Frame | tuple[Sample, ...] | None = None  # do not spend CPU packing a drop
            else:
                item = pack_frame(batch) or tuple(batch)  # our own copy: the caller may reuse its list
        except Exception:  # not a sized iterable: nothing we can store, and a sink must not raise
            log.exception("historian: on_samples given %r", type(batch).__name__)
            return
        self._enqueue(item, n)

    def on_poll(
        self,
        device: str,
        t: float,
        tags: tuple[str, ...],
        values: Sequence[Value],
        qualities: bytes | None = None,
    ) -> None:
        """Queue one device poll given as columns (the runtime's column-wise sink hook): the
        same as ``on_samples`` of the poll's Samples, stored identically, but packed straight from
        the columns the runtime already holds (~2-3 us per 50-point poll instead of ~11 us to pull
        them back out of 50 Sample tuples). ``qualities`` None means every value is GOOD.

        Columns that are not a regular frame (too few points, a string value, mismatched lengths)
        go the per-sample way; like ``on_samples`` this never blocks and never raises.
        """
        n: int | None = None
        try:
            n = len(tags)
            if n == 0:
                return
            if self._closed or self._pending_n + n > self.queue_max:  # racy pre-check: see _enqueue
                item: Frame | tuple[Sample, ...] | None = None
            else:
                item = pack_columns(tags, t, values, qualities) or tuple(
                    column_samples(tags, t, values, qualities)
                )
        except Exception as e:  # columns that do not fit together: name the device, count, never raise
            log.warning(
                "historian: poll of device %r not stored, its columns do not fit together (%s: %s)",
                device,
                type(e).__name__,
                e,
            )
            item = None  # counted as dropped when the tags could be counted at all
            if n is None:
                return
        self._enqueue(item, n)

    def _enqueue(self, item: Frame | tuple[Sample, ...] | None, n: int) -> None:
        """Append a packed poll (None: drop it) to the queue, or drop and count it when full.

        The caller's pre-check runs without the lock; this decides again under it."""
        with self._cond:
            if item is None or self._closed or self._pending_n + n > self.queue_max:
                self._dropped += n
                self._dropped_batches += 1
                return
            first = not self._pending
            if first:
                self._oldest_pending = time.monotonic()
            self._pending.append(item)
            self._pending_n += n
            self._accepted += n
            # wake the writer when the queue stops being empty (it may be sleeping until the next
            # retention check and must start the flush_interval_s clock: without this a sample
            # waited until batch_max filled, measured ~1 s at 50,000 samples/s) and when full
            if first or self._pending_n >= self.batch_max:
                self._cond.notify_all()

    @property
    def dropped(self) -> int:
        """Samples refused because the queue was full; show it, journal it."""
        return self._dropped

    def stats(self) -> HistorianStats:
        with self._cond:
            return HistorianStats(
                accepted=self._accepted,
                written=self._written,
                dropped=self._dropped,
                dropped_batches=self._dropped_batches,
                failed=self._failed,
                queued=self._pending_n,
                retention_deleted=self._retention_deleted,
                last_error=self._last_error,
                rollups_deleted=self._rollups_deleted,
            )

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything queued before this call is committed; False on timeout.

        Without a running writer there is nobody to commit, so this returns False at once if
        anything is queued.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._accepted
            if self._done >= target:
                return True
            if self._thread is None or not self._thread.is_alive():
                return False
            self._force = True
            self._cond.notify_all()
            while self._done < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))  # re-check now and then: the writer may have died
            return True

    def prune(self, timeout: float = 30.0) -> bool:
        """Ask the writer for a full retention pass now and wait for it; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                return False
            self._prune_requests += 1
            target = self._prune_requests
            self._cond.notify_all()
            while self._prune_done < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))  # re-check now and then: the writer may have died
            return True

    def catch_up(self, timeout: float = 60.0) -> bool:
        """Wait until the rollups cover everything written so far up to the horizon (the newest
        sample, or the clock, less ``rollup_lag_s``); False on timeout. For tests, the CLI's
        rebuild and benchmarks: the writer does this by itself every ``rollup_interval_s``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                return False
            self._rollup_requests += 1
            target = self._rollup_requests
            self._cond.notify_all()
            while self._rollup_done < target:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(min(left, 0.1))
            return True

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new samples, let the writer drain the queue, then close the database."""
        with self._cond:
            self._closed = True
            self._stopping = True
            self._cond.notify_all()
        thread = self._thread
        if thread is None:
            if self._pending_n:  # never started: write what was queued so nothing is lost
                self._start_and_stop()
            return
        thread.join(timeout)
        if thread.is_alive():
            log.error(
                "historian writer did not finish within %.0f s; %d samples queued", timeout, self._pending_n
            )

    def _start_and_stop(self) -> None:
        self._thread = threading.Thread(target=self._run, name="historian-writer", daemon=True)
        self._thread.start()
        self._thread.join()

    def __enter__(self) -> Historian:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reads (any thread)

    def query(
        self,
        tags: Sequence[str],
        t0: float | None = None,
        t1: float | None = None,
        max_points: int | None = None,
    ) -> dict[str, Series]:
        return self.reader.query(tags, t0, t1, max_points)

    def latest(self, tags: Iterable[str]) -> dict[str, Sample]:
        return self.reader.latest(tags)

    def tags(self) -> list[str]:
        return self.reader.tags()

    def tag_info(self) -> list[TagInfo]:
        return self.reader.tag_info()

    def time_range(self) -> tuple[float, float] | None:
        return self.reader.time_range()

    def export_csv(
        self,
        out_path: str | Path,
        tags: Iterable[str] | None = None,
        t0: float | None = None,
        t1: float | None = None,
    ) -> int:
        return export_csv(self.path, out_path, tags, t0, t1)

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        try:
            conn = connect_writer(self.path)
        except sqlite3.Error as e:
            self._fail_everything(f"{self.path}: cannot open for writing ({e})")
            return
        tag_ids = {name: (tid, kind) for tid, name, kind in conn.execute("SELECT id, name, kind FROM tags")}
        layouts = _load_layouts(conn, tag_ids)
        next_retention = time.monotonic()  # one pass at start-up
        retention_backlog = False
        next_rollup = time.monotonic() + self.rollup_interval_s
        rollup_backlog = True  # catch up with whatever the file holds
        chunk_backlog = False
        pruning = 0  # the prune request being served; its pass started from the first tag
        catching_up = 0  # the catch_up request being served
        try:
            self.compactor.load(conn)
            while True:
                batches, stopping, prune_target = self._wait_for_work(
                    min(next_retention, next_rollup), retention_backlog or rollup_backlog or chunk_backlog
                )
                if batches:
                    self._write(conn, batches, tag_ids, layouts)
                with self._cond:
                    asked = self._rollup_requests
                if asked > catching_up:
                    catching_up = asked
                    rollup_backlog = chunk_backlog = True
                now = time.monotonic()
                if rollup_backlog or now >= next_rollup:
                    chunk_backlog = chunk_backlog or now >= next_rollup
                    rollup_backlog = self._rollup_step(conn)
                    if now >= next_rollup:
                        next_rollup = now + self.rollup_interval_s
                if chunk_backlog and not rollup_backlog:
                    chunk_backlog = self._chunk_step(conn)
                if not rollup_backlog and not chunk_backlog and catching_up:
                    with self._cond:
                        self._rollup_done = catching_up
                        self._cond.notify_all()
                if prune_target > pruning:
                    pruning = prune_target
                    self._retention_pos = 0
                    retention_backlog = True
                now = time.monotonic()
                if retention_backlog or now >= next_retention:
                    # one bounded step, then back to inserts: retention never stalls the writer
                    retention_backlog = self._retention_step(conn)
                    if now >= next_retention:
                        next_retention = now + self.retention_check_s
                    if pruning and not retention_backlog:
                        with self._cond:
                            self._prune_done = pruning
                            self._cond.notify_all()
                        pruning = 0
                if stopping:
                    return
        except Exception as e:  # a bug, not bad data: say so loudly, refuse further samples
            log.exception("historian writer stopped")
            self._fail_everything(f"{self.path}: historian writer stopped ({type(e).__name__}: {e})")
        finally:
            conn.close()
            with self._cond:  # wake anyone still waiting in flush()/prune()
                self._cond.notify_all()

    def _wait_for_work(
        self, next_retention: float, retention_backlog: bool
    ) -> tuple[list[Frame | tuple[Sample, ...]], bool, int]:
        """Block until there is a batch worth committing, retention due, or a stop/flush."""
        with self._cond:
            while True:
                now = time.monotonic()
                prune = self._prune_requests if self._prune_requests > self._prune_done else 0
                due = (
                    self._pending_n >= self.batch_max
                    or self._force
                    or self._stopping
                    or (self._pending and now - self._oldest_pending >= self.flush_interval_s)
                )
                rollup_asked = self._rollup_requests > self._rollup_done
                if due or prune or retention_backlog or rollup_asked or now >= next_retention:
                    break
                waits = [next_retention - now]
                if self._pending:
                    waits.append(self._oldest_pending + self.flush_interval_s - now)
                self._cond.wait(max(0.001, min(waits)))
            take: list[Frame | tuple[Sample, ...]] = []
            n = 0
            if due:
                while self._pending and n < self.batch_max:
                    b = self._pending.popleft()
                    take.append(b)
                    n += len(b.tags) if type(b) is Frame else len(b)
                self._pending_n -= n
                if self._pending:
                    self._oldest_pending = now
                else:
                    self._force = False
            stopping = self._stopping and not self._pending
            return take, stopping, prune

    def _write(
        self,
        conn: sqlite3.Connection,
        batches: list[Frame | tuple[Sample, ...]],
        tag_ids: dict[str, tuple[int, str]],
        layouts: Layouts | None = None,
    ) -> None:
        """Commit the batches as one transaction: each regular poll as one frame row, anything
        else row by row. A malformed sample is refused on its own (counted in ``failed``, named
        in ``last_error``) so it cannot cost its neighbours."""
        if layouts is None:
            layouts = {}
        n = sum(len(b.tags) if type(b) is Frame else len(b) for b in batches)
        new_tags: dict[str, tuple[int, str]] = {}
        new_layouts: Layouts = {}
        refused: list[str] = []
        written = 0
        try:
            conn.execute("BEGIN")
            rows = []
            frame_rows = []
            for batch in batches:
                if isinstance(batch, Frame):
                    layout = self._layout_id(conn, batch, tag_ids, new_tags, layouts, new_layouts)
                    if layout is not None:
                        frame_rows.append((layout, batch.t, batch.value, batch.quality))
                        written += len(batch.tags)
                        continue
                    items: Sequence[Sample] = frame_samples(
                        batch
                    )  # a tag twice: no layout; rows lose nothing
                else:
                    items = batch
                for s in items:
                    try:
                        tag, t, quality = str(s.tag), float(s.t), int(s.quality)
                        value, text = _row_fields(s.value)
                    except (TypeError, ValueError, AttributeError) as e:
                        refused.append(f"{getattr(s, 'tag', s)!r}: {e}")
                        continue
                    known = tag_ids.get(tag) or new_tags.get(tag)
                    if known is None:
                        known = new_tags[tag] = _add_tag(
                            conn, tag, KIND_TEXT if text is not None else KIND_NUMBER
                        )
                    rows.append((known[0], t, value, text, quality))
            times: list[float] = []
            if frame_rows:
                conn.executemany(_INSERT_FRAME, frame_rows)
                frame_t = list(map(_FRAME_T, frame_rows))
                times += (min(frame_t), max(frame_t))
            if rows:
                # index order: consecutive rows of a tag then land on the same index page, so a
                # commit rewrites far fewer pages (measured 3.6 -> 2.4 s CPU per million, 5,000 tags)
                rows.sort(key=_INDEX_ORDER)
                conn.executemany(_INSERT, rows)
                row_t = list(map(_FRAME_T, rows))
                times += (min(row_t), max(row_t))
            if times:
                self.compactor.note_written(conn, min(times), max(times))
            conn.execute("COMMIT")
        except Exception as e:  # disk full, I/O error, corruption: count it, keep running
            if conn.in_transaction:
                conn.rollback()
            self._record_failure(n, f"{self.path}: {n} samples not stored ({type(e).__name__}: {e})",
                                 repeats=True)
            return
        tag_ids.update(new_tags)
        layouts.update(new_layouts)
        written += len(rows)
        if refused:
            self._record_failure(
                len(refused), f"{self.path}: {len(refused)} malformed sample(s) refused, first {refused[0]}"
            )
        with self._cond:
            self._written += written
            self._done += written
            self._cond.notify_all()

    @staticmethod
    def _layout_id(
        conn: sqlite3.Connection,
        frame: Frame,
        tag_ids: dict[str, tuple[int, str]],
        new_tags: dict[str, tuple[int, str]],
        layouts: Layouts,
        new_layouts: Layouts,
    ) -> int | None:
        """The layout id of the frame's tag tuple, created (with any new tags) the first time.

        A device's polls share one tuple object's contents, so after the first poll this is one
        dict lookup (tuple hash over cached string hashes). New entries go in ``new_*`` and are
        merged by the caller only after COMMIT, so a rolled-back transaction leaves no stale ids.
        """
        key = frame.tags
        if key in layouts:
            return layouts[key]
        if key in new_layouts:
            return new_layouts[key]
        if not layout_is_valid(key):
            new_layouts[key] = None
            return None
        ids = []
        for tag in key:
            known = tag_ids.get(tag) or new_tags.get(tag)
            if known is None:
                known = new_tags[tag] = _add_tag(conn, tag, KIND_NUMBER)
            ids.append(known[0])
        spec = ",".join(map(str, ids))
        conn.execute("INSERT OR IGNORE INTO frame_layouts (tag_ids) VALUES (?)", (spec,))
        (layout,) = conn.execute("SELECT id FROM frame_layouts WHERE tag_ids = ?", (spec,)).fetchone()
        conn.executemany(
            "INSERT OR IGNORE INTO layout_tags (layout_id, tag_id, col) VALUES (?, ?, ?)",
            [(layout, tid, col) for col, tid in enumerate(ids)],
        )
        new_layouts[key] = int(layout)
        return int(layout)

    def _rollup_step(self, conn: sqlite3.Connection) -> bool:
        """One bounded compactor step; True when more is waiting. A failure is reported and
        retried at the next interval (queries stay right: they read raw where rollups lag)."""
        try:
            return self.compactor.step(conn, self._clock())
        except sqlite3.Error as e:
            with self._cond:
                self._last_error = f"{self.path}: rollups not updated ({e})"
            log.warning("%s", self._last_error)
            return False

    def _chunk_step(self, conn: sqlite3.Connection) -> bool:
        """One layout-hour of old frames into chunks; True when more may be due. A failure is
        reported and retried later (the frames stay, queries stay right)."""
        if self.chunker is None:
            return False
        try:
            return self.chunker.step(conn, self.compactor.newest, self.compactor.done[FINEST])
        except sqlite3.Error as e:
            with self._cond:
                self._last_error = f"{self.path}: old frames not chunked ({e})"
            log.warning("%s", self._last_error)
            return False

    def _pass_cuts(self, conn: sqlite3.Connection) -> dict[int, float]:
        """This retention pass's cut per level (0 = raw samples): rows older go.

        Guards, each reported in ``last_error``: a level whose newest row is older than its cut
        is left alone (the clock jumped forward, or the plant was off for longer than the
        retention: deleting would empty it); a cut never moves past ``retention_max_share`` of
        the level's stored span in one pass; raw samples are never deleted before the rollups
        hold them (above the compactor's 10 s watermark).
        """
        now = self._clock()
        wanted: dict[int, float] = {}
        if self.retention_days > 0:
            wanted[0] = align_down(now - self.retention_days * 86400.0, FINEST)
        for i, level in enumerate(LEVELS):
            days = self.rollup_retention_days.get(level, 0.0)
            if days > 0:  # aligned so a coarser bucket's finer rows go all at once
                wanted[level] = align_down(now - days * 86400.0, LEVELS[min(i + 1, len(LEVELS) - 1)])
        cuts: dict[int, float] = {}
        refused = []
        for level, cut in wanted.items():
            if level == 0:
                oldest, newest = raw_edge(conn, -math.inf), raw_edge(conn, 0.0, newest=True)
            else:
                edge = "SELECT {}(bucket) FROM rollups WHERE level = ?"
                oldest = conn.execute(edge.format("MIN"), (level,)).fetchone()[0]
                newest = conn.execute(edge.format("MAX"), (level,)).fetchone()[0]
            if oldest is None or newest is None or cut <= oldest:
                continue  # nothing expired
            if newest < cut:
                name = LEVEL_NAMES.get(level, "raw samples")
                refused.append(f"{name} (newest {iso_utc(newest)}, cut {iso_utc(cut)})")
                continue
            cap = oldest + self.retention_max_share * (newest - oldest)
            step = FINEST if level == 0 else level
            cut = min(cut, max(align_down(cap, step), align_down(oldest, step) + step))
            if level == 0:
                for _ in range(20):  # a few bounded steps; a longer backlog is the writer loop's job
                    rolled = self.compactor.done[FINEST]
                    if (rolled is not None and rolled >= cut) or not self._rollup_step(conn):
                        break
                rolled = self.compactor.done[FINEST]
                if rolled is None:
                    continue
                cut = min(cut, rolled)
            cuts[level] = cut
        if refused:
            with self._cond:
                self._last_error = (
                    f"{self.path}: retention refused for {', '.join(refused)}: the clock is past every "
                    "stored row of that level, so it may have jumped forward; nothing of it deleted"
                )
            log.warning("%s", self._last_error)
        if 0 in cuts and cuts[0] > self.compactor.raw_kept_from:
            conn.execute("BEGIN")
            write_meta(conn, {"raw_kept_from": cuts[0]})
            conn.execute("COMMIT")
            self.compactor.raw_kept_from = cuts[0]
        return cuts

    def _retention_step(self, conn: sqlite3.Connection) -> bool:
        """Delete about ``retention_chunk`` expired samples (and as many rollup rows) in one
        short transaction.

        Walks the tags (per-sample rows), the frame layouts (a frame's samples share one time,
        so a whole frame expires at once) and then each level's rollups, resuming where the
        previous step stopped, so a big backlog (say after retention was shortened) is worked
        off a chunk at a time between insert batches instead of in one long write lock. A frame
        wider than the chunk is deleted on its own, one per step. True when more may remain.
        The cuts are fixed at the start of a pass (``_pass_cuts``).
        """
        if self.retention_days <= 0 and not any(d > 0 for d in self.rollup_retention_days.values()):
            return False
        budget = self.retention_chunk
        rollup_budget = self.retention_chunk
        deleted = 0
        rollups_deleted = 0
        try:
            if self._retention_pos == 0 or self._retention_cuts is None:
                self._retention_pos = 0
                self._retention_cuts = self._pass_cuts(conn)
            cuts = self._retention_cuts
            units: list[tuple[str, int, int, int]] = []
            if 0 in cuts:
                units += [("samples", 0, r[0], 1) for r in conn.execute("SELECT id FROM tags ORDER BY id")]
                units += [
                    ("frames", 0, r[0], r[1])
                    for r in conn.execute(
                        "SELECT layout_id, COUNT(*) FROM layout_tags GROUP BY layout_id ORDER BY layout_id"
                    )
                ]
                units += [("chunks", 0, u[2], u[3]) for u in units if u[0] == "frames"]
            sources = [u[2] for u in units if u[0] == "frames"] or [
                r[0] for r in conn.execute("SELECT DISTINCT layout_id FROM layout_tags ORDER BY layout_id")
            ]
            sources += [-r[0] for r in conn.execute("SELECT id FROM tags ORDER BY id")]
            units += [("rollups", level, src, 1) for level in LEVELS if level in cuts for src in sources]
            conn.execute("BEGIN")
            while self._retention_pos < len(units) and budget > 0 and rollup_budget > 0:
                table, level, key, width = units[self._retention_pos]
                if table == "rollups":
                    cur = conn.execute(
                        "DELETE FROM rollups WHERE rowid IN (SELECT rowid FROM rollups WHERE level = ? "
                        "AND source = ? AND bucket < ? ORDER BY bucket LIMIT ?)",
                        (level, key, cuts[level], rollup_budget),
                    )
                    rows = max(cur.rowcount, 0)
                    rollups_deleted += rows
                    if rows < rollup_budget:  # this source has nothing older left at this level
                        self._retention_pos += 1
                    rollup_budget -= rows
                    continue
                if table == "chunks":  # whole chunks, one per step: an hour of a layout at once
                    if deleted:
                        break
                    gone = chunks.delete_before(conn, key, cuts[0], 1)
                    deleted += gone
                    budget -= max(gone, 1)
                    if gone == 0:
                        self._retention_pos += 1
                    continue
                limit = budget // width or (1 if deleted == 0 else 0)
                if limit == 0:  # the next frame does not fit this step's budget: next step
                    break
                column = "tag_id" if table == "samples" else "layout_id"
                cur = conn.execute(
                    f"DELETE FROM {table} WHERE rowid IN "
                    f"(SELECT rowid FROM {table} WHERE {column} = ? AND t < ? ORDER BY t LIMIT ?)",
                    (key, cuts[0], limit),
                )
                rows = max(cur.rowcount, 0)
                deleted += rows * width
                budget -= rows * width
                if rows < limit:  # this tag or layout has nothing older left
                    self._retention_pos += 1
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.rollback()
            with self._cond:
                self._last_error = f"{self.path}: retention failed ({e})"
            log.warning("%s", self._last_error)
            return False
        with self._cond:
            self._retention_deleted += deleted
            self._rollups_deleted += rollups_deleted
        if self._retention_pos >= len(units):
            self._retention_pos = 0
            self._retention_cuts = None
            return budget <= 0 or rollup_budget <= 0  # a full budget at the very end: check once more
        return True

    #: a disk that stays full fails every group commit: the log says so once a minute, with
    #: the count since its last line, instead of ten lines a second (the counter has them all)
    FAILURE_LOG_EVERY_S = 60.0
    _failure_logged_at: float | None = None
    _failed_unlogged = 0

    def _record_failure(self, n: int, message: str, *, repeats: bool = False) -> None:
        """Count ``n`` samples as lost. ``repeats``: a refused commit, which a full disk repeats
        for every group: logged at most once per ``FAILURE_LOG_EVERY_S``."""
        now = time.monotonic()
        with self._cond:
            self._failed += n
            self._done += n
            self._last_error = message
            last = self._failure_logged_at if repeats else None
            if repeats:
                self._failed_unlogged += n
            due = last is None or now - last >= self.FAILURE_LOG_EVERY_S
            if due and repeats:
                unlogged, self._failed_unlogged = self._failed_unlogged, 0
                self._failure_logged_at = now
            self._cond.notify_all()
        if not repeats:
            log.error("%s", message)
        elif due:
            more = (f"; {unlogged} samples not stored since the last report {now - last:.0f} s ago"
                    if last is not None and unlogged > n else "")
            log.error("%s%s", message, more)

    def _fail_everything(self, message: str) -> None:
        with self._cond:
            n = self._pending_n
            self._pending.clear()
            self._pending_n = 0
            self._closed = True
        self._record_failure(n, message)
