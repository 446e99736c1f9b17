"""Historian benchmark (run by hand: ``.venv/bin/python tests/benchmarks/historian.py``).

Prints, as medians over several rounds, each next to a baseline measured in the same run:

1. sustained samples/s through the real ``Historian`` (sink -> bounded queue -> writer thread ->
   group commits) versus a plain ``sqlite3`` ``executemany`` loop writing the same rows into the
   same schema with the same transaction size;
2. the time to fetch a 1-hour, 10 Hz trend (36,000 rows of one tag in a multi-million-row file)
   min/max downsampled to 2,000 points, versus fetching the same raw rows with one plain SELECT;
   the same data stored as frames (one row per poll of all the tags, as the writer stores
   regular polls since schema version 2) next to it, and a day of one tag either way;
3. CSV export rows/s and peak memory for a small and a 10x bigger export (flat = streaming).

``--days N`` instead builds N days of a 50-point device polled at 10 Hz through the real
``Historian`` (``on_poll``, faster than real time, its clock following the data) and prints, for
one tag, the 2,000-point trend of the last 1 h, 24 h, 7 d and 30 d (as far as the days reach)
beside a plain SELECT of the same range's raw rows, the rows each read, the file size per month,
and the writer thread's CPU at 50,000 samples/s (100 devices x 50 points x 10 Hz) with and
without rollups in the same run. ``--json`` prints those figures as JSON.

Everything stays on local files in a temporary folder; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core import atrest  # noqa: E402
from app.core.historian import Historian, HistorianReader  # noqa: E402
from app.core.historian.schema import connect_writer, create_schema  # noqa: E402
from app.core.model import Quality, Sample  # noqa: E402

T0 = 1_800_000_000.0


def make_batches(n_devices: int, points: int, polls: int, hz: float) -> list[list[Sample]]:
    """One batch per device poll, as the runtime delivers them."""
    out = []
    for k in range(polls):
        t = T0 + k / hz
        for d in range(n_devices):
            out.append([Sample(f"dev{d:03d}.p{p:02d}", float(k + p), Quality.GOOD, t) for p in range(points)])
    return out


def bench_writer(path: Path, batches: list[list[Sample]], batch_max: int) -> tuple[float, float, int]:
    """(samples/s wall, CPU seconds per 1M samples, dropped) through the real writer."""
    h = Historian(path, batch_max=batch_max, flush_interval_s=0.5, retention_days=0)
    h.start()
    n = sum(len(b) for b in batches)
    cpu0, t0 = time.process_time(), time.perf_counter()
    for b in batches:
        # a real poller produces at a rate; here the feeder backs off when the queue is half
        # full so we measure what the writer sustains, not how fast a queue can overflow
        for _ in range(10_000):
            if h.stats().queued < h.queue_max // 2:
                break
            time.sleep(0.001)
        h.on_samples(b)
    assert h.flush(120.0), "writer did not finish"
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    dropped = h.dropped
    h.close()
    return n / wall, cpu / n * 1e6, dropped


def bench_paced(
    path: Path, batches: list[list[Sample]], n_devices: int, hz: float
) -> tuple[float, float, int]:
    """Offer the batches at their real rate (one poll of every device per 1/hz s, default
    Historian settings) and return (writer thread CPU as a fraction of one core, wall s, dropped)."""
    h = Historian(path, retention_days=0)
    h.start()
    assert h._thread is not None and h._thread.ident is not None
    clock = time.pthread_getcpuclockid(h._thread.ident)
    cpu0 = time.clock_gettime(clock)
    start = time.perf_counter()
    for i, b in enumerate(batches):
        due = start + (i // n_devices) / hz
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        h.on_samples(b)
    assert h.flush(60.0), "writer did not finish"
    wall = time.perf_counter() - start
    cpu = time.clock_gettime(clock) - cpu0
    dropped = h.dropped
    h.close()
    return cpu / wall, wall, dropped


def bench_plain(path: Path, batches: list[list[Sample]], batch_max: int) -> tuple[float, float]:
    """The same rows with a bare executemany loop on one thread: the floor for this schema."""
    create_schema(path)
    conn = connect_writer(path)
    tag_ids = {}
    with conn:
        for b in batches[:200]:
            for s in b:
                if s.tag not in tag_ids:
                    cur = conn.execute("INSERT INTO tags (name, kind) VALUES (?, 'number')", (s.tag,))
                    tag_ids[s.tag] = cur.lastrowid
    n = sum(len(b) for b in batches)
    cpu0, t0 = time.process_time(), time.perf_counter()
    rows: list[tuple] = []
    for b in batches:
        rows.extend((tag_ids[s.tag], s.t, float(s.value), None, int(s.quality)) for s in b)
        if len(rows) >= batch_max:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO samples (tag_id, t, value, text, quality) VALUES (?,?,?,?,?)", rows)
            conn.execute("COMMIT")
            rows = []
    if rows:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO samples (tag_id, t, value, text, quality) VALUES (?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    conn.close()
    return n / wall, cpu / n * 1e6


def build_trend_db(path: Path, n_tags: int, hours: float, hz: float) -> int:
    """A file holding ``n_tags`` tags at ``hz`` for ``hours``, written in time order like a plant."""
    create_schema(path)
    n_steps = int(hours * 3600 * hz)
    with closing(connect_writer(path)) as conn:
        conn.execute("BEGIN")
        ids = [
            conn.execute("INSERT INTO tags (name, kind) VALUES (?, 'number')", (f"tag{i:03d}",)).lastrowid
            for i in range(n_tags)
        ]
        conn.execute("COMMIT")
        step_chunk = 2000
        for k0 in range(0, n_steps, step_chunk):
            rows = [
                (tid, T0 + k / hz, float((k * 7919 + tid) % 1000), None, 0 if k % 5000 else 2)
                for k in range(k0, min(n_steps, k0 + step_chunk))
                for tid in ids
            ]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO samples (tag_id, t, value, text, quality) VALUES (?,?,?,?,?)", rows)
            conn.execute("COMMIT")
    return n_steps * n_tags


def build_trend_frames(path: Path, n_tags: int, hours: float, hz: float) -> int:
    """The data of ``build_trend_db`` as the writer stores regular polls: one frame per step
    holding all ``n_tags`` (the first poll goes through ``Historian`` to create the layout, the
    rest is packed with numpy straight into ``frames``, which is what the writer would insert)."""
    n_steps = int(hours * 3600 * hz)
    names = [f"tag{i:03d}" for i in range(n_tags)]
    with Historian(path, retention_days=0) as h:
        h.on_samples([Sample(name, float(i % 1000), Quality.BAD_COMM, T0) for i, name in enumerate(names)])
    with closing(connect_writer(path)) as conn:
        (layout,) = conn.execute("SELECT id FROM frame_layouts").fetchone()
        tids = np.array([conn.execute("SELECT id FROM tags WHERE name=?", (n,)).fetchone()[0] for n in names])
        step_chunk = 2000
        for k0 in range(1, n_steps, step_chunk):
            ks = np.arange(k0, min(n_steps, k0 + step_chunk))
            values = ((ks[:, None] * 7919 + tids[None, :]) % 1000).astype("<f8")
            quality = np.repeat(np.where(ks % 5000 == 0, 2, 0).astype(np.uint8)[:, None], n_tags, axis=1)
            rows = [
                (layout, T0 + int(k) / hz, values[j].tobytes(), quality[j].tobytes())
                for j, k in enumerate(ks)
            ]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO frames (layout_id, t, value, quality) VALUES (?,?,?,?)", rows)
            conn.execute("COMMIT")
    return n_steps * n_tags


_EXPORT_CHILD = """
import sys, time
sys.path.insert(0, sys.argv[1])
from app.core.historian import HistorianReader, export_csv
db, out, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
tags = HistorianReader(db).tags()[:n]
t0 = time.perf_counter()
rows = export_csv(db, out, tags)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so it would report the parent
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(rows, time.perf_counter() - t0, int(hwm.split()[1]) / 1024)
"""


def export_in_subprocess(db: Path, out: Path, n_tags: int) -> tuple[int, float, float]:
    """(rows, seconds, peak RSS MB) of exporting the first ``n_tags`` tags in a fresh process."""
    r = subprocess.run(
        [sys.executable, "-c", _EXPORT_CHILD, str(ROOT), str(db), str(out), str(n_tags)],
        capture_output=True, text=True, timeout=600, check=True,
    )  # fmt: skip
    rows, secs, peak = r.stdout.split()
    return int(rows), float(secs), float(peak)


def median_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


DAY = 86400.0


def build_days(
    path: Path, days: float, n_points: int = 50, hz: float = 10.0, chunk_after_s: float | None = None
) -> tuple[float, float, float]:
    """``days`` of one device (``n_points`` points at ``hz``) through ``Historian.on_poll`` as fast
    as the writer takes it; returns (build seconds, the writer's CPU seconds, last sample time).
    ``chunk_after_s`` None leaves every poll a frame (``chunk_file`` chunks them afterwards)."""
    now = [T0]
    h = Historian(path, clock=lambda: now[0], retention_days=max(30.0, days + 1), chunk_after_s=chunk_after_s)
    h.start()
    assert h._thread is not None and h._thread.ident is not None
    clock = time.pthread_getcpuclockid(h._thread.ident)
    cpu0 = time.clock_gettime(clock)
    tags = tuple(f"dev.p{i:02d}" for i in range(n_points))
    polls = int(days * DAY * hz)
    chunk = 6000
    start = time.perf_counter()
    k = 0
    while k < polls:
        n = min(chunk, polls - k)
        ks = np.arange(k, k + n)
        t = (T0 + ks / hz).tolist()
        # a slow sine, noise, and a spike now and then: something worth a min/max
        base = np.sin(ks / (hz * 600.0))[:, None] + 0.01 * ((ks[:, None] * 7919 + np.arange(n_points)) % 100)
        base[ks % 100_003 == 0] += 50.0
        values = base.tolist()
        for j in range(n):
            if j % 500 == 0:
                for _ in range(100_000):  # bounded back-pressure: measure the writer, not a full queue
                    if h.stats().queued < h.queue_max // 2:
                        break
                    time.sleep(0.002)
            h.on_poll("dev", t[j], tags, values[j])
        now[0] = t[-1]
        k += n
    assert h.flush(600.0), "writer did not finish"
    assert h.catch_up(600.0), "rollups did not catch up"
    build = time.perf_counter() - start
    cpu = time.clock_gettime(clock) - cpu0
    assert h.dropped == 0, f"{h.dropped} samples dropped while building"
    h.close()
    return build, cpu, now[0]


def chunk_file(path: Path, end: float) -> tuple[float, float, int]:
    """Let the writer chunk every frame older than two hours (as it does a little at a time in
    service); returns (seconds, the writer's CPU seconds, samples chunked)."""
    h = Historian(path, clock=lambda: end, retention_days=0, rollup_interval_s=3600)
    h.start()
    assert h._thread is not None and h._thread.ident is not None and h.chunker is not None
    clock = time.pthread_getcpuclockid(h._thread.ident)
    cpu0, start = time.clock_gettime(clock), time.perf_counter()
    assert h.catch_up(3600.0), "chunking did not finish"
    wall, cpu = time.perf_counter() - start, time.clock_gettime(clock) - cpu0
    n = h.chunker.samples_chunked
    h.close()
    return wall, cpu, n


def used_bytes(path: Path) -> int:
    """Bytes of the file in use (pages less free pages): SQLite reuses freed pages rather than
    shrinking the file, so this is what a month of data costs once it is in its final layout."""
    with closing(sqlite3.connect(path)) as conn:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(page * (pages - free))


def time_queries(
    reader: HistorianReader, db: Path, tag: str, end: float, days: float, rounds: int, stream: object
) -> dict[str, dict[str, float | int]]:
    """Each span's 2,000-point trend beside a plain SELECT of the tag's frames, and one tag's
    raw read (every sample, no downsampling) of 1 h and 24 h."""
    with closing(sqlite3.connect(db)) as conn:
        ((tid,),) = conn.execute("SELECT id FROM tags WHERE name = ?", (tag,)).fetchall()
        sql = "SELECT layout_id, col FROM layout_tags WHERE tag_id = ?"
        layout, col = conn.execute(sql, (tid,)).fetchone()
    queries: dict[str, dict[str, float | int]] = {}
    for name, span in (("1h", 3600.0), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        if span > days * DAY * 1.001:
            continue
        a, b = end - span, end
        roll0, raw0 = reader.rollup_rows_read, reader.raw_rows_read
        res = reader.query([tag], a, b, max_points=2000)[tag]
        rows = (reader.rollup_rows_read - roll0, reader.raw_rows_read - raw0)
        q = median_time(lambda a=a, b=b: reader.query([tag], a, b, max_points=2000), rounds)

        def plain(a: float = a, b: float = b) -> int:
            with closing(sqlite3.connect(db)) as conn:
                return len(
                    conn.execute(
                        "SELECT t, substr(value, ?, 8), substr(quality, ?, 1) FROM frames "
                        "WHERE layout_id = ? AND t >= ? AND t <= ? ORDER BY t",
                        (col * 8 + 1, col + 1, layout, a, b),
                    ).fetchall()
                )

        plain_rounds = rounds if span <= DAY else 1
        raw_n = plain()
        p = median_time(plain, plain_rounds)
        entry: dict[str, float | int] = {
            "ms": q * 1e3,
            "points": len(res),
            "rollup_rows_read": rows[0],
            "raw_rows_read": rows[1],
            "plain_select_ms": p * 1e3,
            "plain_select_rows": raw_n,
        }
        line = (
            f"  {name:>4} -> {len(res):,} points: median {q * 1e3:7.1f} ms, read {rows[0]:,} rollup "
            f"rows + {rows[1]:,} samples | plain SELECT of its {raw_n:,} frame rows {p * 1e3:9.1f} ms"
        )
        if span <= DAY:
            whole = reader.query([tag], a, b)[tag]
            r = median_time(lambda a=a, b=b: reader.query([tag], a, b), rounds)
            entry.update(raw_read_ms=r * 1e3, raw_read_samples=len(whole))
            line += f" | every raw sample ({len(whole):,}) {r * 1e3:7.1f} ms"
        queries[name] = entry
        print(line, file=stream)  # type: ignore[call-overload]
    return queries


def paced_writer_cpu(path: Path, seconds: float, rollups: bool) -> tuple[float, int]:
    """The writer thread's CPU share (of one core) at 50,000 samples/s: 100 devices x 50 points
    at 10 Hz offered through ``on_poll`` at their real rate; and the samples dropped."""
    interval = 10.0 if rollups else float("inf")
    h = Historian(path, rollup_interval_s=interval, retention_days=0)
    h.start()
    assert h._thread is not None and h._thread.ident is not None
    clock = time.pthread_getcpuclockid(h._thread.ident)
    tags = [tuple(f"d{d:03d}.p{p:02d}" for p in range(50)) for d in range(100)]
    values = [[float(p + d) for p in range(50)] for d in range(100)]
    cpu0 = time.clock_gettime(clock)
    start = time.perf_counter()
    tick = 0
    while tick < seconds * 10:
        due = start + tick / 10.0
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.time()
        for d in range(100):
            h.on_poll(f"d{d:03d}", t, tags[d], values[d])
        tick += 1
    assert h.flush(60.0)
    wall = time.perf_counter() - start
    cpu = time.clock_gettime(clock) - cpu0
    dropped = h.dropped
    h.close()
    return cpu / wall, dropped


def bench_days(args: argparse.Namespace) -> int:
    import json
    import os

    load = os.getloadavg()
    out: dict[str, object] = {"days": args.days, "loadavg_start": load}
    stream = sys.stderr if args.json else sys.stdout  # with --json the figures also go to stderr
    with tempfile.TemporaryDirectory(prefix="vigil-bench-days-", dir=args.tmp) as tmp:
        db = Path(tmp) / "historian.sqlite"
        build, writer_cpu, end = build_days(db, args.days)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        samples = int(args.days * DAY * 10) * 50
        out.update(
            build_s=build,
            build_writer_cpu_s=writer_cpu,
            samples=samples,
            file_bytes=size,
            file_bytes_per_month=size * 30.0 / args.days,
        )
        print(
            f"built {args.days:g} days: {samples:,} samples (50 points x 10 Hz) in {build:.0f} s "
            f"({args.days * DAY / build:,.0f}x real time), writer CPU {writer_cpu:.0f} s; "
            f"file {size / 1e9:.2f} GB = {size * 30 / args.days / 1e9:.2f} GB per month; load {load}",
            file=stream,
        )
        reader = HistorianReader(db)
        tag = "dev.p07"
        print("all frames (as before chunks):", file=stream)
        out["queries_frames"] = time_queries(reader, db, tag, end, args.days, args.rounds, stream)
        out["used_bytes_frames"] = used_bytes(db)
        wall, cpu, chunked = chunk_file(db, end)
        hours = max(args.days * 24 - 2, 1)
        out.update(chunk_s=wall, chunk_writer_cpu_s=cpu, samples_chunked=chunked)
        out["used_bytes_chunked"] = used_bytes(db)
        out["used_bytes_per_month_chunked"] = out["used_bytes_chunked"] * 30.0 / args.days
        print(
            f"chunked {chunked:,} samples (frames older than 2 h) in {wall:.0f} s, writer CPU {cpu:.1f} s "
            f"= {cpu / hours * 1e3:.0f} ms per device-hour ({cpu / hours * 100 / 3600 * 100:.2f} % of a core "
            f"for 100 devices); data {out['used_bytes_frames'] / 1e9:.2f} GB as frames -> "
            f"{out['used_bytes_chunked'] / 1e9:.2f} GB chunked "
            f"({out['used_bytes_chunked'] * 30 / args.days / 1e9:.2f} GB per month)",
            file=stream,
        )
        print("after chunking:", file=stream)
        queries = time_queries(reader, db, tag, end, args.days, args.rounds, stream)
        out["queries"] = queries
    with tempfile.TemporaryDirectory(prefix="vigil-bench-paced-", dir=args.tmp) as tmp:
        shares: dict[str, list[float]] = {"rollups": [], "no rollups": []}
        drops = 0
        for r in range(args.paced_rounds):
            for label, on in (("rollups", True), ("no rollups", False)):
                share, dropped = paced_writer_cpu(Path(tmp) / f"{label}-{r}.sqlite", args.paced_s, on)
                shares[label].append(share)
                drops += dropped
        med = {k: statistics.median(v) for k, v in shares.items()}
        out["writer_cpu_share_50k"] = med["rollups"]
        out["writer_cpu_share_50k_without_rollups"] = med["no rollups"]
        out["paced_dropped"] = drops
        print(
            f"writer thread at 50,000 samples/s ({args.paced_s:g} s x {args.paced_rounds}, median): "
            f"{med['rollups'] * 100:.2f} % of a core with rollups, "
            f"{med['no rollups'] * 100:.2f} % without (same run); dropped {drops}",
            file=stream,
        )
    out["loadavg_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"load average at the end {out['loadavg_end']}")
    return 0


def encrypted_dir(tmpd: Path) -> Path:
    """A folder whose new stores are SQLCipher-encrypted (as the station's data folder is),
    its key in a key file beside it: the same writer and reader, encryption on."""
    os.environ["VIGIL_KEY_DIR"] = str(tmpd / "keys")
    enc = tmpd / "encrypted"
    enc.mkdir()
    atrest.enable(enc, use_keyring=False)
    return enc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--days", type=float, help="build this many days of a 10 Hz, 50-point device and time trends"
    )
    ap.add_argument("--json", action="store_true", help="with --days: print the figures as JSON")
    ap.add_argument("--paced-s", type=float, default=30.0, help="with --days: seconds per paced writer run")
    ap.add_argument("--paced-rounds", type=int, default=3)
    ap.add_argument("--tmp", help="folder for the temporary files (a 30-day file is ~13 GB)")
    args = ap.parse_args()
    if args.days:
        return bench_days(args)
    rounds = 2 if args.quick else args.rounds

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        tmpd = Path(tmp)
        enc = encrypted_dir(tmpd)
        # --- 1. insert throughput: 100 devices x 50 points (5,000 tags), polls at 10 Hz
        polls = 20 if args.quick else 100
        batches = make_batches(100, 50, polls, 10.0)
        n = sum(len(b) for b in batches)
        print(f"insert: {n:,} samples per round (100 devices x 50 points x {polls} polls), {rounds} rounds")
        results: dict[str, list[tuple[float, float]]] = {}
        drops = 0
        for r in range(rounds):
            rate, cpu = bench_plain(tmpd / f"p{r}.sqlite", batches, 5000)
            results.setdefault("plain executemany, 5,000/commit", []).append((rate, cpu))
            for bm in (5000, 50_000):
                rate, cpu, dropped = bench_writer(tmpd / f"w{r}-{bm}.sqlite", batches, bm)
                results.setdefault(f"Historian, batch_max={bm:,}", []).append((rate, cpu))
                drops += dropped
            rate, cpu, dropped = bench_writer(enc / f"w{r}.sqlite", batches, 5000)
            results.setdefault("Historian, 5,000, encrypted", []).append((rate, cpu))
            drops += dropped
        base = statistics.median(x[0] for x in results["plain executemany, 5,000/commit"])
        for name, xs in results.items():
            rate = statistics.median(x[0] for x in xs)
            cpu = statistics.median(x[1] for x in xs)
            print(
                f"  {name:<34} {rate:>10,.0f} samples/s  CPU {cpu:5.2f} s/M samples {rate / base:5.2f}x plain"
            )
        print(f"  dropped: {drops}")
        seconds = 2 if args.quick else 10
        paced = make_batches(100, 50, int(seconds * 10), 10.0)
        share, wall, dropped = bench_paced(tmpd / "paced.sqlite", paced, 100, 10.0)
        print(
            f"  paced 50,000 samples/s for {wall:.1f} s (default settings): writer thread "
            f"{share * 100:.1f} % of one core, dropped {dropped}"
        )
        share_e, _, dropped_e = bench_paced(enc / "paced.sqlite", paced, 100, 10.0)
        print(
            f"  the same, encrypted (SQLCipher): writer thread {share_e * 100:.1f} % of one core "
            f"({share_e / share:.2f}x), dropped {dropped_e}"
        )

        # --- 2. trend query: 1 hour of 10 Hz for one tag, downsampled to 2,000 points
        n_tags, hours = (10, 1.2) if args.quick else (50, 2.0)
        db = tmpd / "trend.sqlite"
        t_build = time.perf_counter()
        total = build_trend_db(db, n_tags, hours, 10.0)
        t_build = time.perf_counter() - t_build
        h = Historian(db, retention_days=0)  # not started: only reads
        a, b = T0 + 600, T0 + 600 + 3600
        tag = "tag007"
        res = h.query([tag], a, b, max_points=2000)[tag]
        raw_n = len(h.query([tag], a, b)[tag])
        q_ds = median_time(lambda: h.query([tag], a, b, max_points=2000), rounds * 3)
        q_raw = median_time(lambda: h.query([tag], a, b), rounds * 3)

        def plain_select() -> None:
            with closing(sqlite3.connect(db)) as conn:
                conn.execute(
                    "SELECT t, value, quality FROM samples WHERE tag_id = 8 AND t >= ? AND t <= ? ORDER BY t",
                    (a, b),
                ).fetchall()

        q_plain = median_time(plain_select, rounds * 3)
        print(f"query: file of {total:,} rows ({n_tags} tags x {hours} h x 10 Hz, built in {t_build:.1f} s)")
        print(f"  1 h of one tag = {raw_n:,} rows -> downsampled to {len(res):,} points (max 2,000)")
        print(f"  query(max_points=2000)   median {q_ds * 1e3:8.1f} ms")
        print(f"  query() raw -> numpy     median {q_raw * 1e3:8.1f} ms")
        print(f"  plain SELECT fetchall    median {q_plain * 1e3:8.1f} ms  (baseline)")
        print(f"  ratio downsampled/plain  {q_ds / q_plain:.2f}x")
        db_f = tmpd / "trend-frames.sqlite"
        build_trend_frames(db_f, n_tags, hours, 10.0)
        hf = Historian(db_f, retention_days=0)
        res_f = hf.query([tag], a, b, max_points=2000)[tag]
        assert np.array_equal(hf.query([tag], a, b)[tag].value, h.query([tag], a, b)[tag].value)
        f_ds = median_time(lambda: hf.query([tag], a, b, max_points=2000), rounds * 3)
        f_raw = median_time(lambda: hf.query([tag], a, b), rounds * 3)
        print(
            f"  same data as frames ({n_tags} tags per frame, {db_f.stat().st_size / 1e6:.0f} MB file vs "
            f"{db.stat().st_size / 1e6:.0f} MB): -> {len(res_f):,} points"
        )
        vs = "x the per-sample rows"
        print(f"  query(max_points=2000)   median {f_ds * 1e3:8.1f} ms  ({f_ds / q_ds:.2f}{vs})")
        print(f"  query() raw -> numpy     median {f_raw * 1e3:8.1f} ms  ({f_raw / q_raw:.2f}{vs})")
        db_fe = enc / "trend-frames.sqlite"
        build_trend_frames(db_fe, n_tags, hours, 10.0)
        hfe = Historian(db_fe, retention_days=0)
        fe_ds = median_time(lambda: hfe.query([tag], a, b, max_points=2000), rounds * 3)
        fe_raw = median_time(lambda: hfe.query([tag], a, b), rounds * 3)
        vs = "x the plain frames"
        print(f"  frames, encrypted: query(max_points=2000) median {fe_ds * 1e3:8.1f} ms "
              f"({fe_ds / f_ds:.2f}{vs}), query() raw median {fe_raw * 1e3:8.1f} ms "
              f"({fe_raw / f_raw:.2f}{vs})")

        # --- 2b. scrolling far back: a whole day of one 10 Hz tag into 2,000 points
        day_h = 4.0 if args.quick else 24.0
        db_day = tmpd / "day.sqlite"
        n_day = build_trend_db(db_day, 1, day_h, 10.0)
        hd = Historian(db_day, retention_days=0)
        d_ds = median_time(lambda: hd.query(["tag000"], max_points=2000), rounds)

        def plain_day() -> None:
            with closing(sqlite3.connect(db_day)) as conn:
                conn.execute("SELECT t, value, quality FROM samples WHERE tag_id = 1 ORDER BY t").fetchall()

        d_plain = median_time(plain_day, rounds)
        print(
            f"  {day_h:g} h of one tag = {n_day:,} rows -> 2,000 points: median {d_ds * 1e3:.0f} ms, "
            f"plain SELECT of the raw rows {d_plain * 1e3:.0f} ms ({d_ds / d_plain:.2f}x)"
        )
        db_day_f = tmpd / "day-frames.sqlite"
        build_trend_frames(db_day_f, 50, day_h, 10.0)
        hdf = Historian(db_day_f, retention_days=0)
        df_ds = median_time(lambda: hdf.query(["tag000"], max_points=2000), rounds)
        print(
            f"  {day_h:g} h of one tag stored in 50-tag frames -> 2,000 points: median {df_ds * 1e3:.0f} ms "
            f"({df_ds / d_ds:.2f}x the per-sample rows; every frame is read for its 9 bytes)"
        )

        # --- 3. export: rate, and peak memory of a fresh process for 1/10 vs all of the tags
        for n_exp in (max(1, n_tags // 10), n_tags):
            rows, secs, peak_mb = export_in_subprocess(db, tmpd / "export.csv", n_exp)
            print(
                f"export: {n_exp} tags = {rows:,} rows in {secs:.2f} s = {rows / secs:,.0f} rows/s, "
                f"peak RSS {peak_mb:.0f} MB"
            )
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
