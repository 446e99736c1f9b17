"""The historian's on-disk layout, and opening it safely for writing or reading.

Rows are kept small because a plant produces millions of them a day: a tag's name is stored
once in ``tags`` and each sample refers to it by integer id; quality is its integer code
(``Quality`` promises never to renumber); numbers go in a REAL column and strings in a separate
TEXT column so a numeric trend never has to parse text.

Version 2 adds *frames*: one row per device poll instead of one row per sample. A poll that
arrives as a regular batch (every sample the same time stamp, each tag once, numbers only) is
stored as ``frames(layout_id, t, value, quality)`` where ``value`` packs the poll's values as
little-endian float64 and ``quality`` its codes as one byte each, in the column order its
``layout`` names. At 100 devices x 50 points x 10 Hz that is 1,000 rows/s instead of 50,000,
which is what lets the historian sit in the poll path (per-row SQLite inserts cost 2-4 us each,
more than the whole poll loop spends per sample; see tests/benchmarks/poll.py). Irregular batches
(strings, mixed time stamps, a tag twice, a handful of samples) still go to ``samples``.

Version 3 adds *rollups* (see ``rollup``): summaries of 10 s, 1 min, 10 min and 1 h buckets per
frame layout or per tag, kept up to date by the writer, so a trend of a month reads a few
thousand summaries instead of millions of frames.

Version 4 adds *chunks* (see ``chunks``): frames older than a couple of hours are rewritten per
layout-hour into one row of times and one row per column, so one tag's old samples are read
without the other columns'.
"""

from __future__ import annotations

from pathlib import Path

from app.core import atrest
from app.core.atrest import dbapi as sqlite3  # SQLCipher's sqlite3: the errors its connections raise
from app.core.errors import VigilError
from app.core.historian.chunks import CHUNK_TABLES

#: bumped when the layout changes; stored in ``PRAGMA user_version``
SCHEMA_VERSION = 4

#: a tag whose values are numbers (bools stored as 0/1), or one whose values are strings
KIND_NUMBER = "number"
KIND_TEXT = "text"

TREND_INDEX = "idx_samples_trend"
FRAME_INDEX = "idx_frames_layout_t"
ROLLUP_INDEX = "idx_rollups_source"

_FRAME_TABLES = (
    # a layout is the ordered tag list of a regular poll; ``tag_ids`` ("3,4,9") makes it unique
    "CREATE TABLE IF NOT EXISTS frame_layouts (id INTEGER PRIMARY KEY, tag_ids TEXT NOT NULL UNIQUE)",
    # which column of which layout holds a tag: the reader's way from a tag to its frames
    "CREATE TABLE IF NOT EXISTS layout_tags (layout_id INTEGER NOT NULL REFERENCES frame_layouts(id), "
    "tag_id INTEGER NOT NULL REFERENCES tags(id), col INTEGER NOT NULL, PRIMARY KEY (tag_id, layout_id))",
    # appended in arrival order (rowid): measured, clustering by (layout, t) WITHOUT ROWID doubled
    # the writer's CPU (100 insertion points per commit) for trend reads that touch fewer pages
    "CREATE TABLE IF NOT EXISTS frames (layout_id INTEGER NOT NULL REFERENCES frame_layouts(id), "
    "t REAL NOT NULL, value BLOB NOT NULL, quality BLOB NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {FRAME_INDEX} ON frames (layout_id, t)",
)


_ROLLUP_TABLES = (
    # one row per (level, source, bucket): ``source`` is a frame layout id (``data`` holds one
    # rollup.REC per column, in the layout's column order) or minus a tag id (the tag's
    # per-sample rows, one REC). Packed like frames: a step writes one row per device, not per tag.
    "CREATE TABLE IF NOT EXISTS rollups (level INTEGER NOT NULL, source INTEGER NOT NULL, "
    "bucket REAL NOT NULL, data BLOB NOT NULL)",
    f"CREATE UNIQUE INDEX IF NOT EXISTS {ROLLUP_INDEX} ON rollups (level, source, bucket)",
    "CREATE INDEX IF NOT EXISTS idx_rollups_level_bucket ON rollups (level, bucket)",
    # watermarks ("done_<level>": that level's rows are final below it) and "raw_kept_from"
    "CREATE TABLE IF NOT EXISTS historian_meta (key TEXT PRIMARY KEY, value REAL)",
    # the compactor finds per-sample rows by time (they are few: irregular batches only)
    "CREATE INDEX IF NOT EXISTS idx_samples_t ON samples (t)",
)


class HistorianError(VigilError):
    """The historian database cannot be opened or read; the message names the file."""


def create_schema(path: Path) -> None:
    """Create (or check) the tables and indexes. Safe to call on an existing historian.

    ``samples`` keeps SQLite's rowid (rows are appended in arrival order, which is cheap) and a
    ``(tag_id, t, quality, value)`` index answers the trend question "one tag, one time range"
    without touching other tags' rows.
    """
    import sqlite_utils  # here, not at the top: it pulls in click (~0.3 s), and readers never need it

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = atrest.connect(path)
    except sqlite3.Error as e:
        raise HistorianError(f"{path}: cannot open historian database ({e})") from e
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        db = sqlite_utils.Database(conn)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        existing = set(db.table_names())
        if existing and "samples" not in existing:
            raise HistorianError(
                f"{path}: this SQLite file is not a Vigil historian (tables: {', '.join(sorted(existing))})"
            )
        if version > SCHEMA_VERSION:
            raise HistorianError(
                f"{path}: historian schema version {version} is newer than this Vigil understands "
                f"({SCHEMA_VERSION})"
            )
        if version == SCHEMA_VERSION:
            # written last, after every table of this version: nothing to add, and nothing is
            # written, so an existing historian opens on a disk that is full (samples are then
            # counted as lost until it has room)
            return
        db.table("tags").create(
            {"id": int, "name": str, "kind": str},
            pk="id",
            not_null={"name", "kind"},
            if_not_exists=True,
        )
        db.table("tags").create_index(["name"], unique=True, if_not_exists=True)
        db.table("samples").create(
            {"tag_id": int, "t": float, "value": float, "text": str, "quality": int},
            not_null={"tag_id", "t", "quality"},
            foreign_keys=[("tag_id", "tags", "id")],
            if_not_exists=True,
        )
        # covering index: a numeric trend query reads only the index, one contiguous run per tag,
        # instead of hopping between table pages where every tag's rows are interleaved
        # (measured ~2x faster for a 36,000-row trend, for ~5 % more file size)
        db.table("samples").create_index(
            ["tag_id", "t", "quality", "value"], index_name=TREND_INDEX, if_not_exists=True
        )
        conn.execute("DROP INDEX IF EXISTS idx_samples_tag_id_t")  # the narrower first version
        for sql in _FRAME_TABLES + _ROLLUP_TABLES + CHUNK_TABLES:  # upgrades only add tables
            conn.execute(sql)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.commit()
    except sqlite3.DatabaseError as e:
        raise HistorianError(f"{path}: not a readable historian database ({e})") from e
    finally:
        conn.close()


def connect_writer(path: Path) -> sqlite3.Connection:
    """The writer's connection.

    synchronous=NORMAL in WAL mode survives an application crash; only a power cut can lose the
    last commits (under a second of samples), a fair trade for a historian (the journal, which
    must not lose events, uses FULL).
    """
    conn = atrest.connect(path, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA secure_delete=ON")  # retention leaves no old values in free pages
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def connect_reader(path: str | Path) -> sqlite3.Connection:
    """A read-only connection of its own, so a query never waits on (or disturbs) the writer.

    Raises HistorianError naming the file when it is missing, not SQLite, or not a historian.
    """
    path = Path(path)
    if not path.exists():
        raise HistorianError(f"{path}: no historian database here")
    try:
        conn = atrest.connect(path, readonly=True, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=5000")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise HistorianError(f"{path}: not a readable historian database ({e})") from e
    if not {"samples", "tags"} <= names:
        conn.close()
        raise HistorianError(f"{path}: this SQLite file is not a Vigil historian (no samples/tags tables)")
    return conn
