"""Journal benchmark: sustained append rate and full-verify time, next to plain SQLite baselines.

Run by hand:  .venv/bin/python tests/benchmarks/journal.py [--events 200000] [--verify-events 1000000]

Figures printed (medians of --repeats runs, all measured in this same run):
  * writer: events/s through Journal.append -> flush (canonical JSON, SHA-256 chain, WAL +
    synchronous=FULL group commits, a signed checkpoint every 1,000 events)
  * baseline: a plain executemany INSERT loop of the same rows into the same kind of table
    (json.dumps, no chain, no signatures), batches of 1,000, same pragmas
  * verify: time to verify a journal of --verify-events events built by the real writer (by
    default split over two processes; also forced into one), next to a bare SELECT that only
    iterates the same rows in one process.
Targets from issue 3: >= 50,000 events/s sustained, 1M events verified in < 5 s (2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.core.journal import Journal, verify

STATES = ["normal", "unack_active", "ack_active", "unack_rtn"]


def body(i: int) -> dict:
    """A realistic alarm-transition body (~150 bytes of canonical JSON)."""
    return {"alarm": f"pump{i % 40}.flow.hi", "from": STATES[i % 4], "to": STATES[(i + 1) % 4],
            "value": 12.5 + (i % 100) * 0.25, "limit": 30.0, "priority": "high"}


def writer_rate(root: Path, n: int) -> tuple[float, int]:
    d = Path(tempfile.mkdtemp(dir=root))
    j = Journal.open(d, checkpoint_every=1000)
    j.flush(10)
    t0 = time.perf_counter()
    for i in range(n):
        j.append("alarm.transition", "system", body(i))
    if not j.flush(600):
        raise SystemExit("writer did not drain within 600 s")
    elapsed = time.perf_counter() - t0
    cps = j.stats().checkpoints
    j.close()
    return n / elapsed, cps


def baseline_rate(root: Path, n: int, batch: int = 1000) -> float:
    path = Path(tempfile.mkdtemp(dir=root)) / "plain.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, ts REAL, kind TEXT, actor TEXT, body BLOB)")
    t0 = time.perf_counter()
    rows = []
    for i in range(n):
        rows.append((i + 1, time.time(), "alarm.transition", "system", json.dumps(body(i)).encode()))
        if len(rows) == batch:
            con.execute("BEGIN")
            con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
            con.execute("COMMIT")
            rows = []
    if rows:
        con.execute("BEGIN")
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", rows)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    con.close()
    return n / elapsed


def build_big(root: Path, n: int) -> Path:
    d = root / "big"
    t0 = time.perf_counter()
    with Journal.open(d, checkpoint_every=1000) as j:
        for i in range(n):
            j.append("alarm.transition", "system", body(i))
    print(f"  built {n:,} events through the writer in {time.perf_counter() - t0:.1f} s")
    return d


def bare_select(d: Path) -> float:
    con = sqlite3.connect((d / "journal.sqlite").resolve().as_uri() + "?mode=ro", uri=True)
    t0 = time.perf_counter()
    for _row in con.execute("SELECT seq, ts, kind, actor, critical, body, prev_hash, hash FROM events "
                            "ORDER BY seq"):
        pass
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000, help="events per writer run")
    ap.add_argument("--verify-events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    print(f"journal benchmark on {os.cpu_count()} CPU(s), sqlite {sqlite3.sqlite_version}, "
          f"python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        w, b, cps = [], [], 0
        for _ in range(args.repeats):
            rate, cps = writer_rate(root, args.events)
            w.append(rate)
            b.append(baseline_rate(root, args.events))
        wm, bm = statistics.median(w), statistics.median(b)
        print(f"writer    : median {wm:,.0f} events/s  (runs: {', '.join(f'{x:,.0f}' for x in w)}; "
              f"{cps} signed checkpoints per run)")
        print(f"plain SQL : median {bm:,.0f} rows/s    (runs: {', '.join(f'{x:,.0f}' for x in b)})")
        print(f"ratio     : writer runs at {wm / bm:.2f}x the plain insert loop; target >= 50,000 "
              f"events/s: {'met' if wm >= 50_000 else 'NOT met'}")

        d = build_big(root, args.verify_events)
        v, v1, s = [], [], []
        result = None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = verify(d)
            v.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            single = verify(d, workers=1)
            v1.append(time.perf_counter() - t0)
            assert single.ok, single.message
            s.append(bare_select(d))
        assert result is not None and result.ok, result.message if result else "no result"
        vm, v1m, sm = statistics.median(v), statistics.median(v1), statistics.median(s)
        print(f"verify    : median {vm:.2f} s for {result.events:,} events, {result.checkpoints:,} "
              f"checkpoints (runs: {', '.join(f'{x:.2f}' for x in v)}) = {result.events / vm:,.0f} events/s")
        print(f"verify x1 : median {v1m:.2f} s in one process (runs: {', '.join(f'{x:.2f}' for x in v1)})")
        print(f"bare read : median {sm:.2f} s to iterate the same rows (runs: "
              f"{', '.join(f'{x:.2f}' for x in s)})")
        print(f"ratio     : verify takes {vm / sm:.2f}x a bare read; target < 5 s for 1M: "
              f"{'met' if vm < 5 and result.events >= 1_000_000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
