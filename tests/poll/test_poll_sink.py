"""The column-wise sink hook (``on_poll``) against real pymodbus servers on 127.0.0.1: a sink
that has it gets every completed poll as columns that say exactly what the Samples say, bad
blocks included; batches that are not one poll still come through ``on_samples``; a raising
``on_poll`` is counted like a raising ``on_samples``; and the real Historian fed this way stores
every poll as a frame that reads back exactly.
"""

from __future__ import annotations

import struct
import threading
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import pytest
from pymodbus.constants import ExcCodes
from vigil_modbus.driver import TcpDriver

from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.codec import bytes_to_registers
from app.core.historian import Historian
from app.core.model import Quality
from app.core.runtime import Runtime
from poll.servers import Collector, Registers, make_device, make_plant, start_server, wait_until

#: numbers only, over three tables (three block reads per poll, one time stamp)
PROFILE = """
[device]
id = "skid"
""" + "".join(
    f'[[points]]\nname = "h{i}"\ntable = "holding"\naddress = {2 * i}\ntype = "float32"\n' for i in range(8)
) + """
[[points]]
name = "count"
table = "holding"
address = 16
type = "uint16"
[[points]]
name = "temp"
table = "input"
address = 0
type = "int16"
scale = 0.1
[[points]]
name = "run"
table = "coil"
address = 3
type = "bool"
"""
TAGS_PER_DEVICE = 11


def tcp_factory(cfg):
    return TcpDriver(cfg.link_config())


def device(name, port, unit=1, interval_ms=20):
    return {"name": name, "profile": "skid", "host": "127.0.0.1", "port": port, "unit": unit,
            "interval_ms": interval_ms, "timeout_ms": 500}


def f32(value: float) -> list[int]:
    return bytes_to_registers(struct.pack(">f", value), "big", "big")


class ColumnSink:
    """Keeps every ``on_poll`` call and every ``on_samples`` batch (thread-safe)."""

    def __init__(self, fail: bool = False) -> None:
        self.polls: list[tuple] = []
        self.batches: list[list] = []
        self.fail = fail
        self._lock = threading.Lock()

    def on_samples(self, batch) -> None:
        with self._lock:
            self.batches.append(list(batch))

    def on_poll(self, device, t, tags, values, qualities) -> None:
        if self.fail:
            raise RuntimeError("disk full")
        with self._lock:
            self.polls.append((device, t, tags, list(values), qualities))

    def snapshot(self) -> tuple[list[tuple], list[list]]:
        with self._lock:
            return list(self.polls), list(self.batches)


def as_samples(poll: tuple) -> list[tuple]:
    """A recorded on_poll call as (tag, value, quality code, t) rows."""
    _device, t, tags, values, qualities = poll
    codes = [Quality.GOOD] * len(tags) if qualities is None else list(qualities)
    return [(tag, v, int(q), t) for tag, v, q in zip(tags, values, codes, strict=True)]


@pytest.fixture
def skid_server(peers):
    server, port = peers.run(start_server([make_device(1), make_device(2)]))
    regs = Registers(server, 1)
    for i in range(8):
        regs.set_words("holding", 2 * i, f32(i + 0.25))
    regs.set_words("holding", 16, [7])
    regs.set_words("input", 0, [-123])
    regs.set_bit("coil", 3, True)
    yield server, port, regs
    peers.run(server.shutdown())


def test_each_poll_reaches_a_column_sink_as_the_same_values_the_samples_carry(skid_server):
    _server, port, _regs = skid_server
    plant = make_plant(PROFILE, [device("s1", port, 1), device("s2", port, 2)])
    plain, columns = Collector(), ColumnSink()
    rt = Runtime(plant, tcp_factory, [plain, columns])
    rt.start()
    try:
        wait_until(lambda: len(columns.snapshot()[0]) >= 10, what="10 polls as columns")
    finally:
        rt.stop()
    polls, batches = columns.snapshot()
    assert batches == []  # nothing but completed polls happened
    rows_by_poll = defaultdict(list)
    for s in plain.snapshot():
        rows_by_poll[(s.tag.split(".")[0], s.t)].append((s.tag, s.value, int(s.quality), s.t))
    for poll in polls:
        device_name, t, tags, _values, qualities = poll
        assert type(tags) is tuple and len(tags) == TAGS_PER_DEVICE and qualities is None
        assert set(tags) == {tag for tag in plant.tags() if tag.startswith(device_name + ".")}
        assert sorted(as_samples(poll)) == sorted(rows_by_poll[(device_name, t)])
    last = next(p for p in reversed(polls) if p[0] == "s1")
    s1 = dict(zip(last[2], last[3], strict=True))
    assert s1["s1.h3"] == 3.25 and s1["s1.count"] == 7 and s1["s1.temp"] == pytest.approx(-12.3)
    assert s1["s1.run"] is True


def test_a_failed_block_or_a_bad_float_reaches_the_column_sink_with_its_quality(peers):
    async def input_broken(function_code, *_args):
        return ExcCodes.DEVICE_FAILURE if function_code == 4 else None

    server, port = peers.run(start_server([make_device(1, action=input_broken)]))
    Registers(server, 1).set_words("holding", 2, f32(float("nan")))
    plant = make_plant(PROFILE, [device("s1", port)])
    columns = ColumnSink()
    rt = Runtime(plant, tcp_factory, [columns])
    rt.start()
    try:
        wait_until(lambda: len(columns.snapshot()[0]) >= 3, what="3 polls as columns")
    finally:
        rt.stop()
        peers.run(server.shutdown())
    polls, _ = columns.snapshot()
    for poll in polls:
        rows = {tag: (v, q) for tag, v, q, _t in as_samples(poll)}
        assert rows["s1.temp"] == (None, Quality.BAD_DEVICE)  # the input block answered an exception
        assert rows["s1.h1"] == (None, Quality.BAD_DEVICE)  # NaN is not a good value
        assert rows["s1.h0"] == (0.0, Quality.GOOD) and rows["s1.count"] == (0, Quality.GOOD)
        assert type(poll[4]) is bytes


def test_a_lost_device_reaches_the_column_sink_through_on_samples(peers):
    server, port = peers.run(start_server([make_device(1)]))
    plant = make_plant(PROFILE, [device("s1", port)])
    columns = ColumnSink()
    rt = Runtime(plant, tcp_factory, [columns], backoff_base_s=0.05, backoff_cap_s=0.2)
    rt.start()
    try:
        wait_until(lambda: len(columns.snapshot()[0]) >= 2, what="2 polls as columns")
        peers.run(server.shutdown())

        def all_bad() -> bool:
            bad = {s.tag for b in columns.snapshot()[1] for s in b if s.quality is Quality.BAD_COMM}
            return bad >= set(plant.tags())

        wait_until(all_bad, what="BAD_COMM for every tag through on_samples")
    finally:
        rt.stop()
    for batch in columns.snapshot()[1]:
        assert all(s.value is None and s.quality is Quality.BAD_COMM for s in batch)


def test_a_raising_on_poll_is_counted_and_other_sinks_go_on(skid_server):
    _server, port, _regs = skid_server
    plant = make_plant(PROFILE, [device("s1", port)])
    broken, good = ColumnSink(fail=True), Collector()
    rt = Runtime(plant, tcp_factory, [broken, good])
    rt.start()
    try:
        good.wait_for(lambda s: len(s) >= 3 * TAGS_PER_DEVICE)
    finally:
        rt.stop()
    assert rt.sink_errors[0] >= 3 and rt.sink_errors[1] == 0


def test_the_historian_fed_by_columns_stores_every_poll_exactly(skid_server, tmp_path: Path):
    _server, port, _regs = skid_server
    plant = make_plant(PROFILE, [device("s1", port, 1), device("s2", port, 2)])
    plain = Collector()
    hist = Historian(tmp_path / "historian.sqlite", flush_interval_s=0.05)
    hist.start()
    rt = Runtime(plant, tcp_factory, [plain, hist])
    rt.start()
    try:
        plain.wait_for(lambda s: len(s) >= 10 * 2 * TAGS_PER_DEVICE)
    finally:
        rt.stop()
    assert hist.flush(5.0)
    hist.close()
    seen = plain.snapshot()
    stats = hist.stats()
    assert stats.written == len(seen) and stats.dropped == 0 and stats.failed == 0
    with closing(sqlite3.connect(tmp_path / "historian.sqlite")) as conn:
        frames = conn.execute("SELECT COUNT(*) FROM frames").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert (frames, rows) == (len(seen) // TAGS_PER_DEVICE, 0)
    stored = hist.query(plant.tags())
    for tag in plant.tags():
        mine = [s for s in seen if s.tag == tag]
        assert stored[tag].t.tolist() == [s.t for s in mine]
        assert stored[tag].value.tolist() == [float(s.value) for s in mine]
        assert set(stored[tag].quality.tolist()) == {Quality.GOOD}
