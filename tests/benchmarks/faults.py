"""Fault-injection campaign (run by hand): the experiments of issue #18, re-run.

    .venv/bin/python tests/benchmarks/faults.py [--seconds 15] [--kills 5] [--only peers,kill,clock,disk]

Everything runs on 127.0.0.1 and is bounded in time and count.

peers  The demo plant (four devices on the in-process simulator) is polled alone for
       ``--seconds`` (the same-run baseline), then again beside a dead device (nobody listening)
       and five hostile Modbus peers: silent (accepts, never answers), garbage (random bytes),
       half frames (half of a valid reply, then nothing), wrong transaction ids (a valid reply
       to another request) and instant close. Printed: each device's state, requests, errors by
       kind and COMM alarm; the healthy devices' samples/s in both phases.
kill   ``vigil run --headless`` on the demo plant is SIGKILLed ``--kills`` times at a random
       moment 1.5-4 s after it said it polls, then ``vigil journal verify`` is run.
clock  A 1 h backward step of the wall clock during a 5 s on-delay, a 10 s COMM on-delay and a
       60 s journal checkpoint interval, and a 40-day forward jump before a historian retention
       pass, through the clocks the components accept. Printed: how long (steady time) each took.
disk   The demo plant on a small tmpfs (``mount``, root only), the disk filled while it runs,
       then emptied; printed: polling and alarms meanwhile, what was lost and journaled, the
       shutdown. Then a start on the full disk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HOUR = 3600.0


# ------------------------------------------------------------------------------------ peers


def _reply(request: bytes, tid_shift: int = 0) -> bytes:
    """A valid Modbus TCP reply (zeros) to one read request."""
    tid, _pid, _length, unit, fc = struct.unpack(">HHHBB", request[:8])
    count = struct.unpack(">H", request[10:12])[0] if len(request) >= 12 else 1
    nbytes = (count + 7) // 8 if fc in (1, 2) else 2 * count
    pdu = bytes([fc, nbytes]) + bytes(nbytes)
    return struct.pack(">HHHB", (tid + tid_shift) & 0xFFFF, 0, len(pdu) + 1, unit) + pdu


async def _peer(kind: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        if kind == "instant_close":
            return
        while True:
            request = await reader.read(260)
            if not request:
                return
            if kind == "silent":
                continue
            if kind == "garbage":
                writer.write(os.urandom(random.randint(3, 40)))
            elif kind == "half_frames":
                r = _reply(request)
                writer.write(r[: len(r) // 2])
            elif kind == "wrong_tid":
                writer.write(_reply(request, tid_shift=1))
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


class Peers:
    """The hostile peers on one asyncio loop in a thread; ``ports`` by kind."""

    KINDS = ("silent", "garbage", "half_frames", "wrong_tid", "instant_close")

    def __init__(self) -> None:
        self.ports: dict[str, int] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            for kind in self.KINDS:
                server = await asyncio.start_server(
                    lambda r, w, k=kind: _peer(k, r, w), "127.0.0.1", 0)
                self.ports[kind] = server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> dict[str, int]:
        self._thread.start()
        self._ready.wait(10)
        return self.ports

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _poll_phase(data_dir: Path, plant_text: str, seconds: float) -> tuple[dict, dict, list[str]]:
    from app.station import Core

    data_dir.mkdir(parents=True)
    plant = data_dir / "plant.toml"
    plant.write_text(plant_text)
    core = Core(data_dir / "data", plant, window=False)
    core.start()
    try:
        t0 = time.monotonic()
        start = {n: d.samples for n, d in core.diagnostics().items()}
        time.sleep(seconds)
        core.alarms.tick()
        diags = core.diagnostics()
        rate = {n: (d.samples - start.get(n, 0)) / (time.monotonic() - t0) for n, d in diags.items()}
        comm = sorted(a.id for a in core.alarms.alarms() if a.id.endswith(":COMM") and a.condition)
        return diags, rate, comm
    finally:
        core.stop()


def peers(seconds: float) -> None:
    from app.sim.demo import demo_plant_toml
    from app.sim.server import SimulatorThread

    print("\n== dead device and five hostile Modbus peers ==", flush=True)
    sim = SimulatorThread(seed=1)
    port = sim.start()
    hostile = Peers()
    ports = hostile.start()
    try:
        demo = demo_plant_toml(port)
        extra = "".join(
            f'\n[[devices]]\nname = "{kind}"\nprofile = "demo_tank"\nhost = "127.0.0.1"\nport = {p}\n'
            "interval_ms = 200\ntimeout_ms = 500\n"
            for kind, p in [*ports.items(), ("dead", _free_port())]
        )
        with tempfile.TemporaryDirectory() as d:
            _, base_rate, _ = _poll_phase(Path(d) / "a", demo, seconds)
            diags, rate, comm = _poll_phase(Path(d) / "b", demo + extra, seconds)
        print(f"  {'device':14} {'state':11} {'requests':>8}  errors by kind / last error")
        for name, dg in sorted(diags.items()):
            errs = {k: v for k, v in dg.errors.items() if v}
            print(f"  {name:14} {dg.state:11} {dg.requests:8}  {errs} {dg.last_error[:60]!r}")
        print(f"  COMM alarms active: {comm}")
        print("  healthy devices, samples/s alone -> beside the hostile peers:")
        for name, r in sorted(base_rate.items()):
            print(f"    {name:12} {r:7.1f} -> {rate.get(name, 0.0):7.1f}  ({rate.get(name, 0.0) / r:.2f}x)")
    finally:
        hostile.stop()
        sim.stop()


# ------------------------------------------------------------------------------------ kill


def kills(n: int) -> None:
    print(f"\n== {n} SIGKILLs of a headless run, then journal verify ==", flush=True)
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "data"
        for i in range(n):
            proc = subprocess.Popen(
                [sys.executable, "-m", "app", "run", "--headless", "--data-dir", str(data),
                 "--duration", "60"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            deadline = time.monotonic() + 60
            line = ""
            while time.monotonic() < deadline and "polling" not in line:
                line = proc.stdout.readline()
                if not line and proc.poll() is not None:
                    break
            wait = random.uniform(1.5, 4.0)
            time.sleep(wait)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            print(f"  run {i + 1}: killed {wait:.1f} s after start, rc {proc.returncode}", flush=True)
        v = subprocess.run([sys.executable, "-m", "app", "journal", "verify", "--data-dir", str(data)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        print(f"  vigil journal verify: rc {v.returncode}: {v.stdout.strip()[:300]} {v.stderr.strip()[:200]}")
        from app.core.journal import read_events

        kinds = [e.kind for e in read_events(data / "journal")]
        print(f"  journal: {len(kinds)} events, {kinds.count('journal.unclean_shutdown')} unclean_shutdown, "
              f"{kinds.count('app.start')} app.start")


# ------------------------------------------------------------------------------------ clock


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def clock() -> None:
    from app.core.alarms import AlarmEngine
    from app.core.historian import Historian
    from app.core.journal import Journal
    from app.core.model import Quality, Sample
    from app.core.plant import parse_plant
    from app.core.profiles import ProfileLibrary, parse_profile

    print("\n== 1 h backward wall-clock step; 40-day forward jump ==", flush=True)
    lib = ProfileLibrary()
    lib.add(parse_profile(b'[device]\nid = "t"\n[[points]]\nname = "p"\ntable = "holding"\naddress = 0\n'
                          b'type = "int16"\nhi = 50.0\non_delay_s = 5.0\n', "t.toml"))
    plant = parse_plant(b'[[devices]]\nname = "tank"\nprofile = "t"\nhost = "127.0.0.1"\n', "p.toml", lib)
    with tempfile.TemporaryDirectory() as d:
        wall, mono = Clock(1_750_000_000.0), Clock(1000.0)
        journal = Journal.open(Path(d) / "j", clock=wall, monotonic=mono, checkpoint_interval_s=60.0)
        engine = AlarmEngine(journal, Path(d) / "a.sqlite", clock=wall, monotonic=mono, comm_on_delay_s=10.0)
        engine.configure(plant)

        def until(cond, step: float = -HOUR, limit: float = 2 * HOUR,
                  quality: Quality = Quality.GOOD) -> float:
            waited, stepped = 0.0, False
            while not cond() and waited < limit:
                mono.t += 0.5
                wall.t += 0.5 + (0.0 if stepped else step)
                stepped = True
                waited += 0.5
                engine.on_samples([Sample("tank.p", 60.0, quality, wall.t)])
                engine.tick()
            return waited

        engine.on_samples([Sample("tank.p", 60.0, Quality.GOOD, wall.t)])
        took = until(lambda: engine.alarm("tank.p:HI").condition)
        print(f"  HI on-delay 5 s, wall clock stepped back 1 h: raised after {took:.1f} s steady time")
        engine.on_device_state("tank", False, "no answer")
        # what the runtime then delivers: BAD_COMM values (a GOOD one would say it answered)
        took = until(lambda: engine.alarm("tank:COMM").condition, quality=Quality.BAD_COMM)
        print(f"  COMM on-delay 10 s, wall clock stepped back 1 h: raised after {took:.1f} s steady time")
        journal.append("test.event", "faults", {})  # sealed at once: the interval is long past
        journal.flush()
        before = journal.stats().checkpoints
        journal.append("test.event", "faults", {})  # this one waits for the interval
        journal.flush()
        wall.t -= HOUR
        waited = 0.0
        while journal.stats().checkpoints <= before and waited < 120:
            mono.t += 1.0
            waited += 1.0
            time.sleep(0.02)
        after = journal.stats().checkpoints
        print(f"  journal checkpoint interval 60 s, wall clock stepped back 1 h: "
              f"{after - before} checkpoint(s) after {waited:.0f} s steady time")
        engine.close()
        journal.close()

        hclock = Clock(1_750_000_000.0)
        hist = Historian(Path(d) / "h.sqlite", clock=hclock, retention_days=30.0, flush_interval_s=0.01)
        hist.start()
        for k in range(600):
            hist.on_samples([Sample("tank.p", float(k), Quality.GOOD, hclock.t - 600 + k)])
        hist.flush(10)
        hclock.t += 40 * 86400.0
        hist.prune(30)
        kept = hist.query(["tank.p"])["tank.p"]
        print(f"  historian, 600 samples, clock jumped 40 days forward, retention 30 days: "
              f"{len(kept.t)} kept; last error: {hist.stats().last_error}")
        hist.close()


# ------------------------------------------------------------------------------------ disk


def disk() -> None:
    print("\n== full disk (tmpfs) ==", flush=True)
    mnt = Path(tempfile.mkdtemp(prefix="vigil-fulldisk-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"  not run: cannot mount a tmpfs here ({r.stderr.strip()}); the tests inject SQLITE_FULL")
        mnt.rmdir()
        return
    try:
        _disk_run(mnt)
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def _fill(path: Path) -> None:
    try:
        with open(path, "ab") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError:  # full (possibly already before the file could be made)
        pass


def _disk_run(mnt: Path) -> None:
    from app.core.alarms.store import query_events
    from app.core.alarms.types import AlarmQuery
    from app.core.journal import read_events, verify
    from app.station import Core

    data = mnt / "data"
    core = Core(data, demo_interval_ms=100, window=False)
    core.start()
    try:
        time.sleep(4)
        _fill(mnt / "filler")
        print(f"  disk filled: {shutil.disk_usage(mnt).free} bytes free", flush=True)
        demo = core.services.demo
        assert demo is not None
        demo.inject_fault("dead:vitals+8", "faults")  # alarm changes while the disk is full
        time.sleep(15)
        diags = core.diagnostics()
        alarms = {a.id: a for a in core.alarms.alarms()}
        disk_alarm = alarms.get("station.disk:SYSTEM")
        online = sum(d.state == "online" for d in diags.values())
        said = disk_alarm.description if disk_alarm and disk_alarm.condition else "not active"
        print(f"  while full: devices online {online}/{len(diags)}, latest values {len(core.latest())}, "
              f"historian failed {core.historian.stats().failed}, disk alarm: {said}")
        print(f"  problems: {[p for p in core.config_problems if 'disk' in p]}", flush=True)
        (mnt / "filler").unlink()
        time.sleep(12)
        store = core.alarms._store.stats()  # by hand: the alarm store's own counters
        print(f"  alarm store: {store.write_errors} refused commits, {store.written_late} writes "
              f"written late, {store.dropped} given up, {store.held} still held")
        print(f"  space back: historian failed {core.historian.stats().failed}, "
              f"problems {[p for p in core.config_problems if 'disk' in p]}", flush=True)
    finally:
        t0 = time.monotonic()
        core.stop()
        print(f"  stop took {time.monotonic() - t0:.1f} s, stop recorded: {core.stop_recorded}")
    kinds = [(e.kind, e.body) for e in read_events(data / "journal")]
    for k, b in kinds:
        if k.startswith("storage.") or k == "system.dropped":
            print(f"  journal: {k} {b}")
    transitions = sum(1 for k, _ in kinds if k == "alarm.transition")
    history = query_events(data / "alarms.sqlite", AlarmQuery(limit=100_000, kinds=("transition",)))
    print(f"  alarm transitions: journal {transitions}, alarm history {len(history)}")
    print(f"  journal verify: {verify(data / 'journal').status}")

    # full at shutdown: the stop record cannot be written
    core = Core(data, demo_interval_ms=100, window=False)
    core.start()
    try:
        time.sleep(3)
        _fill(mnt / "filler")
    finally:
        t0 = time.monotonic()
        core.stop()
    print(f"  filled just before stop: stop took {time.monotonic() - t0:.1f} s, "
          f"stop recorded: {core.stop_recorded}")
    # and a start on a disk that is already full (after a clean stop, so the journal's opening
    # write is refused): first with 0 bytes free, then with 1 MB free, which the historian
    # fills within seconds: degraded, not refused
    (mnt / "filler").unlink(missing_ok=True)
    core = Core(data, demo_interval_ms=100, window=False)
    core.start()
    core.stop()
    (mnt / "one-mb").write_bytes(bytes(1_000_000))
    _fill(mnt / "filler")
    before = sorted(p.name for p in data.rglob("*"))
    for free_mb in (0, 1):
        if free_mb:
            (mnt / "one-mb").unlink()
        try:
            t0 = time.monotonic()
            core = Core(data, demo_interval_ms=100, window=False, demo_faults=["dead:vitals@3"])
            core.start()
            started = time.monotonic() - t0
        except Exception as e:
            print(f"  start with {shutil.disk_usage(mnt).free} bytes free: refused: {e}", flush=True)
            continue
        try:
            disk_alarm = {a.id: a for a in core.alarms.alarms()}.get("station.disk:SYSTEM")
            print(f"  start with {free_mb} MB free: started in {started:.1f} s; disk alarm at once: "
                  f"{disk_alarm.description if disk_alarm and disk_alarm.condition else 'not active'}")
            time.sleep(10)
            diags = core.diagnostics()
            active = sorted(a.id for a in core.alarms.alarms() if a.condition)
            js = core.journal.stats()
            print(f"  10 s later ({shutil.disk_usage(mnt).free} bytes free): devices online "
                  f"{sum(d.state == 'online' for d in diags.values())}/{len(diags)}, latest values "
                  f"{len(core.latest())}, alarms active {active}, journal held "
                  f"{js.queued if js.held_since else 0} (dropped {js.dropped}), historian failed "
                  f"{core.historian.stats().failed}")
            gone = sorted(set(before) - set(p.name for p in data.rglob("*")))
            print(f"  files gone meanwhile (nothing may be moved aside): {gone}", flush=True)
            (mnt / "filler").unlink()
            deadline = time.monotonic() + 30
            while not core.journal.flush(1.0) and time.monotonic() < deadline:
                pass
            time.sleep(6)  # one housekeeping period: the disk watch sees writes succeed
            print(f"  space back: problems {[p for p in core.config_problems if 'disk' in p]}")
        finally:
            core.stop()
        print(f"  stop recorded: {core.stop_recorded}; journal verify: {verify(data / 'journal').status}")
        for kind in ("storage.journal_held", "storage.recovered"):
            found = read_events(data / "journal", kind=kind)
            if found:
                print(f"  journal: {kind} {found[-1].body}")
        break


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--only", default="peers,kill,clock,disk")
    args = ap.parse_args()
    if not 1 <= args.seconds <= 600 or not 0 <= args.kills <= 50:
        ap.error("--seconds 1..600, --kills 0..50")
    print(f"faults: load average at start {os.getloadavg()}")
    parts = {"peers": lambda: peers(args.seconds), "kill": lambda: kills(args.kills),
             "clock": clock, "disk": disk}
    for name in args.only.split(","):
        parts[name.strip()]()
    print(f"faults: load average at end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
