"""Benchmark: 10,000 tags updating at 10 Hz through the alarm engine. CPU per second of plant time.

Run by hand:  .venv/bin/python tests/benchmarks/alarms.py [--seconds 5] [--repeats 5]

100 devices x 100 analog points, every point with lolo/lo/hi/hihi limits and a deadband (so
50,000 alarms: 4 limit + 1 bad-quality per point, plus 100 comm alarms). One plant second is
10 polls of every device: 1,000 batches of 100 samples. The clock is driven (no sleeping), so
the figure is pure CPU: process time (all threads, including the journal's and the state
table's writers) divided by the plant seconds pushed through.

Scenarios:
  quiet     every value inside its limits (the normal plant: the fast path)
  busy      1 % of the tags cross HI and return every other second (~100 transitions/s, journaled)
  bad       one device in ten reports BAD_COMM every poll (held states, one comm alarm each)
Baseline (same run): a sink that only looks every sample's tag up in a dict - the least any
tag-aware sink can do.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.core.alarms import AlarmEngine  # noqa: E402
from app.core.journal import Journal  # noqa: E402
from app.core.model import Quality, Sample  # noqa: E402
from app.core.plant import parse_plant  # noqa: E402
from app.core.profiles import ProfileLibrary, parse_profile  # noqa: E402

DEVICES, POINTS, HZ = 100, 100, 10


def build_plant():
    pts = "".join(
        f'[[points]]\nname = "p{i}"\ntable = "holding"\naddress = {i}\ntype = "int16"\n'
        f"lolo = 5.0\nlo = 10.0\nhi = 90.0\nhihi = 95.0\ndeadband = 1.0\n\n"
        for i in range(POINTS)
    )
    lib = ProfileLibrary()
    lib.add(parse_profile(f'[device]\nid = "bench"\n\n{pts}'.encode(), "bench.toml"))
    devs = "".join(f'[[devices]]\nname = "d{i}"\nprofile = "bench"\nhost = "127.0.0.1"\nport = {5000 + i}\n\n'
                   for i in range(DEVICES))
    return parse_plant(devs.encode(), "bench_plant.toml", lib)


class Clock:
    def __init__(self) -> None:
        self.t = 1_750_000_000.0

    def __call__(self) -> float:
        return self.t


def make_second(scenario: str, phase: int) -> list[list[Sample]]:
    """The 1,000 batches of one plant second (timestamps are rewritten by nobody: the engine
    uses its own clock)."""
    batches = []
    for tick in range(HZ):
        for d in range(DEVICES):
            q = Quality.GOOD
            if scenario == "bad" and d % 10 == 0:
                q = Quality.BAD_COMM
            batch = []
            for p in range(POINTS):
                v = 50.0 + (p % 7)
                if scenario == "busy" and p == 0 and tick == 0:
                    v = 92.0 if phase % 2 == 0 else 50.0  # 1 % of tags cross HI, then return
                batch.append(Sample(f"d{d}.p{p}", None if q is not Quality.GOOD else v, q, 0.0))
            batches.append(batch)
    return batches


class DictSink:
    def __init__(self, tags: list[str]) -> None:
        self.known = dict.fromkeys(tags, 0)

    def on_samples(self, batch: list[Sample]) -> None:
        get = self.known.get
        for s in batch:
            get(s.tag)


def run(sink, clock: Clock, seconds: list[list[list[Sample]]]) -> float:
    """CPU seconds (process, all threads) per plant second."""
    t0 = time.process_time()
    for sec in seconds:
        for i, batch in enumerate(sec):
            if i % DEVICES == 0:
                clock.t += 1.0 / HZ
            sink.on_samples(batch)
    return (time.process_time() - t0) / len(seconds)


def start_up(plant) -> None:
    """Start-up cost: configure (and write the state table) on a fresh data dir, then restart
    with 1,000 alarms active, which restores the table and checks it against the journal."""
    with tempfile.TemporaryDirectory() as tmp:
        figures = []
        for run_no in range(2):
            clock = Clock()
            journal = Journal.open(Path(tmp) / "journal", clock=clock)
            engine = AlarmEngine(journal, Path(tmp) / "alarms.sqlite", clock=clock)
            w0, c0 = time.perf_counter(), time.process_time()
            engine.configure(plant)
            engine.flush(60)
            figures.append((time.perf_counter() - w0, time.process_time() - c0, len(engine.alarms())))
            if run_no == 0:
                engine.on_samples([Sample(f"d{d}.p{p}", 97.0, Quality.GOOD, 0.0)
                                   for d in range(DEVICES) for p in range(5)])
            engine.close()
            journal.close()
    (w1, c1, n), (w2, c2, _) = figures
    print(f"start-up, {n:,} alarms: first start {w1:.2f} s wall / {c1:.2f} s CPU; restart with "
          f"1,000 active (restore + journal check) {w2:.2f} s wall / {c2:.2f} s CPU")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4, help="plant seconds per run")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    plant = build_plant()
    tags = plant.tags()
    print(f"alarm engine benchmark: {len(tags)} tags x {HZ} Hz = {len(tags) * HZ:,} samples per "
          f"plant second; {args.seconds} plant s per run, median of {args.repeats} runs")
    results: dict[str, list[float]] = {}
    for scenario in ("quiet", "busy", "bad"):
        secs = [make_second(scenario, ph) for ph in range(args.seconds)]
        for _ in range(args.repeats):
            results.setdefault("baseline dict lookup", []).append(run(DictSink(tags), Clock(), secs))
            with tempfile.TemporaryDirectory() as tmp:
                clock = Clock()
                journal = Journal.open(Path(tmp) / "journal", clock=clock)
                engine = AlarmEngine(journal, Path(tmp) / "alarms.sqlite", clock=clock)
                engine.configure(plant)
                engine.flush(30)
                journal.flush(30)
                run(engine, clock, secs[:1])  # warm: the first second settles initial states
                engine.flush(30)
                journal.flush(30)
                t0 = time.process_time()
                cpu = run(engine, clock, secs)
                engine.flush(30)  # writers' work for these seconds counts too
                journal.flush(30)
                cpu = (time.process_time() - t0) / len(secs)
                results.setdefault(f"engine {scenario}", []).append(cpu)
                assert engine.sink_errors == 0, engine.last_error
                engine.close()
                journal.close()
    start_up(plant)
    base = statistics.median(results["baseline dict lookup"])
    print(f"{'what':<24} {'CPU s / plant s':>16} {'% of one core':>14} "
          f"{'us / sample':>12} {'x baseline':>11}")
    for name, vals in results.items():
        m = statistics.median(vals)
        print(f"{name:<24} {m:>16.4f} {100 * m:>13.1f}% {1e6 * m / (len(tags) * HZ):>12.3f} "
              f"{m / base:>10.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
