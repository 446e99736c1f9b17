"""The runtime against real pymodbus servers and misbehaving peers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import struct

import pytest
from pymodbus.constants import ExcCodes
from vigil_modbus.driver import TcpDriver

from app.core.codec import bytes_to_registers
from app.core.model import Quality
from app.core.runtime import Runtime, WriteFailed, WriteRefused
from poll.servers import Collector, RawPeer, Registers, make_device, make_plant, start_server, wait_until

PROFILE = """
[device]
id = "tank"
[[points]]
name = "level"
table = "holding"
address = 0
type = "float32"
[[points]]
name = "count"
table = "holding"
address = 2
type = "uint16"
[[points]]
name = "temp"
table = "input"
address = 0
type = "int16"
scale = 0.1
[[points]]
name = "setpoint"
table = "holding"
address = 10
type = "float32"
access = "rw"
min = 0
max = 100
[[points]]
name = "pump_on"
table = "holding"
address = 12
type = "bool"
bit = 2
access = "rw"
[[points]]
name = "valve"
table = "coil"
address = 3
type = "bool"
access = "rw"
[[points]]
name = "name"
table = "holding"
address = 20
type = "string"
count = 2
access = "rw"
"""


def tcp_factory(cfg):
    return TcpDriver(cfg.link_config())


def device(name, port, unit=1, interval_ms=20, timeout_ms=500, **extra):
    return {"name": name, "profile": "tank", "host": "127.0.0.1", "port": port, "unit": unit,
            "interval_ms": interval_ms, "timeout_ms": timeout_ms, **extra}


def f32(value: float) -> list[int]:
    return bytes_to_registers(struct.pack(">f", value), "big", "big")


def latest(samples, tag):
    return [s for s in samples if s.tag == tag][-1]


@pytest.fixture
def tank_server(peers):
    server, port = peers.run(start_server([make_device(1), make_device(2)]))
    regs = Registers(server, 1)
    regs.set_words("holding", 0, [*f32(42.5), 7])
    regs.set_words("input", 0, [-123])
    regs.set_words("holding", 12, [0b1000_0001])
    yield server, port, regs
    peers.run(server.shutdown())


def test_polls_devices_and_delivers_good_decoded_samples(tank_server):
    _server, port, _regs = tank_server
    plant = make_plant(PROFILE, [device("tank1", port, 1), device("tank2", port, 2)])
    sink, states = Collector(), []
    rt = Runtime(plant, tcp_factory, [sink], on_diagnostics=lambda d: states.append((d.device, d.state)))
    rt.start()
    try:
        got = sink.wait_for(lambda s: {x.tag for x in s if x.quality is Quality.GOOD} >= set(plant.tags()))
        diag = rt.diagnostics()
    finally:
        rt.stop()
    assert latest(got, "tank1.level").value == 42.5
    assert latest(got, "tank1.count").value == 7
    assert latest(got, "tank1.temp").value == pytest.approx(-12.3)
    assert latest(got, "tank1.pump_on").value is False
    assert latest(got, "tank2.level").value == 0.0
    assert all(s.quality is Quality.GOOD for s in got)
    assert all(s.t > 1e9 for s in got)
    for name in ("tank1", "tank2"):
        d = diag[name]
        assert d.state == "online" and d.requests > 0 and d.error_count == 0
        assert d.last_good_t is not None and d.latency_p50_ms is not None
        assert d.latency_p99_ms >= d.latency_p50_ms
    assert ("tank1", "online") in states
    # diagnostics are copies: changing one does not touch the runtime's own
    diag["tank1"].errors["timeout"] = 99
    assert rt.diagnostics()["tank1"].errors["timeout"] == 0


def test_server_that_stops_and_returns_is_reconnected_with_bad_comm_between(peers):
    server, port = peers.run(start_server([make_device(1)]))
    Registers(server, 1).set_words("holding", 0, [*f32(1.5), 1])
    plant = make_plant(PROFILE, [device("tank1", port)])
    sink, states = Collector(), []
    rt = Runtime(plant, tcp_factory, [sink], on_diagnostics=lambda d: states.append(d.state),
                 backoff_base_s=0.02, backoff_cap_s=0.1)
    rt.start()
    try:
        sink.wait_for(lambda s: any(x.tag == "tank1.level" and x.quality is Quality.GOOD for x in s))
        peers.run(server.shutdown())
        sink.wait_for(lambda s: s[-1].quality is Quality.BAD_COMM)
        wait_until(lambda: rt.diagnostics()["tank1"].errors["connect"] >= 2, what="failed reconnects")
        server, _ = peers.run(start_server([make_device(1)], port=port))
        Registers(server, 1).set_words("holding", 0, [*f32(2.5), 2])
        got = sink.wait_for(lambda s: s[-1].tag.startswith("tank1") and latest(s, "tank1.level").value == 2.5)
        diag = rt.diagnostics()["tank1"]
    finally:
        rt.stop()
        peers.run(server.shutdown())
    levels = [s for s in got if s.tag == "tank1.level"]
    qualities = [s.quality for s in levels]
    first_bad = qualities.index(Quality.BAD_COMM)
    assert Quality.GOOD in qualities[:first_bad] and Quality.GOOD in qualities[first_bad:]
    assert all(s.value is None for s in levels if s.quality is Quality.BAD_COMM)
    assert diag.state == "online"
    # online -> offline -> online, as seen by on_diagnostics
    assert "offline" in states and states.index("offline") < len(states) - 1 - states[::-1].index("online")


def test_exception_responses_give_bad_device_for_that_block_only(peers):
    async def input_broken(function_code, *_args):
        return ExcCodes.DEVICE_FAILURE if function_code == 4 else None

    server, port = peers.run(start_server([make_device(1, action=input_broken)]))
    plant = make_plant(PROFILE, [device("tank1", port)])
    sink = Collector()
    rt = Runtime(plant, tcp_factory, [sink])
    rt.start()
    try:
        got = sink.wait_for(lambda s: {x.tag for x in s} >= {"tank1.temp", "tank1.level"})
        diag = rt.diagnostics()["tank1"]
    finally:
        rt.stop()
        peers.run(server.shutdown())
    temp = latest(got, "tank1.temp")
    assert temp.quality is Quality.BAD_DEVICE and temp.value is None
    assert latest(got, "tank1.level").quality is Quality.GOOD
    assert diag.errors["exception"] >= 1 and diag.exception_codes.get(int(ExcCodes.DEVICE_FAILURE), 0) >= 1
    assert "exception code 4" in diag.last_error
    assert diag.state == "online"  # the device answers; only one table is failing


def test_garbage_half_frames_and_silence_never_stall_a_healthy_device(peers, tank_server):
    _server, port, _regs = tank_server
    bad = {b: RawPeer(b) for b in ("garbage", "half", "silent")}
    ports = {b: peers.run(p.start()) for b, p in bad.items()}
    plant = make_plant(PROFILE, [
        device("healthy", port),
        device("garbage", ports["garbage"], timeout_ms=300),
        device("half", ports["half"], timeout_ms=300),
        device("silent", ports["silent"], timeout_ms=2500),
    ])
    sink = Collector()
    rt = Runtime(plant, tcp_factory, [sink], backoff_base_s=0.02, backoff_cap_s=0.1)
    rt.start()
    try:
        wait_until(lambda: bad["silent"].requests >= 1, what="silent peer got a request")
        polls_before = rt.diagnostics()["healthy"].requests
        # while the silent peer's first request is still pending, the healthy device keeps going
        wait_until(lambda: rt.diagnostics()["healthy"].requests >= polls_before + 10, what="healthy polls")
        assert rt.diagnostics()["silent"].errors["timeout"] == 0, "the silent request should still be pending"
        wait_until(lambda: rt.diagnostics()["silent"].errors["timeout"] >= 1, what="silent timeout")
        wait_until(lambda: all(rt.diagnostics()[n].errors["malformed"] >= 2 for n in ("garbage", "half")),
                   what="malformed replies counted")
        got = sink.snapshot()
        diag = rt.diagnostics()
    finally:
        rt.stop()
        for p in bad.values():
            peers.run(p.stop())
    for name in ("garbage", "half", "silent"):
        theirs = [s for s in got if s.tag.startswith(name + ".")]
        assert theirs and all(s.quality is Quality.BAD_COMM and s.value is None for s in theirs)
        assert diag[name].state == "offline" and diag[name].last_error
    assert "127.0.0.1" in diag["garbage"].last_error
    assert diag["healthy"].state == "online" and diag["healthy"].error_count == 0
    assert all(s.quality is Quality.GOOD for s in got if s.tag.startswith("healthy."))


def test_setpoint_writes_read_back_and_bad_writes_are_refused(tank_server):
    _server, port, regs = tank_server
    plant = make_plant(PROFILE, [device("tank1", port, interval_ms=50)])
    sink = Collector()
    rt = Runtime(plant, tcp_factory, [sink])
    rt.start()
    try:
        wait_until(lambda: rt.diagnostics()["tank1"].state == "online", what="online")
        regs.set_words("holding", 10, f32(12.0))
        res = rt.write("tank1", "setpoint", 55.25)
        assert (res.old, res.new, res.readback) == (12.0, 55.25, 55.25)
        assert regs.holding[10:12] == f32(55.25)
        # a bit inside a register: the other bits survive (read-modify-write)
        res = rt.write("tank1", "pump_on", True)
        assert (res.old, res.readback) == (False, True) and regs.holding[12] == 0b1000_0101
        res = rt.write("tank1", "valve", True)
        assert res.readback is True and regs.get_bit("coil", 3)
        assert rt.write("tank1", "name", "AB").readback == "AB"
        refusals = {
            ("tank1", "level", 1.0): "read-only",
            ("tank1", "nope", 1.0): "no point 'nope'",
            ("tank9", "setpoint", 1.0): "unknown device 'tank9'",
            ("tank1", "setpoint", 100.5): "above the maximum 100",
            ("tank1", "setpoint", -1): "below the minimum 0",
            ("tank1", "setpoint", "hot"): "expected a number",
            ("tank1", "setpoint", float("nan")): "finite",
            ("tank1", "name", "too long!"): "longer than 4 bytes",
        }
        for (dev, point, value), message in refusals.items():
            with pytest.raises(WriteRefused, match=message):
                rt.write(dev, point, value)
        assert regs.holding[10:12] == f32(55.25)  # nothing refused reached the device
        got = sink.snapshot()
    finally:
        rt.stop()
    assert any(s.tag == "tank1.setpoint" and s.value == 55.25 for s in got)


def test_write_to_an_offline_device_fails_clearly(peers):
    server, port = peers.run(start_server([make_device(1)]))
    peers.run(server.shutdown())  # nobody listens there any more
    plant = make_plant(PROFILE, [device("tank1", port)])
    rt = Runtime(plant, tcp_factory, [], backoff_base_s=0.05, backoff_cap_s=0.1)
    rt.start()
    try:
        wait_until(lambda: rt.diagnostics()["tank1"].state == "offline", what="offline")
        with pytest.raises(WriteFailed, match=r"tank1\.setpoint: device offline"):
            rt.write("tank1", "setpoint", 5.0, timeout=1.0)
    finally:
        rt.stop()


def test_raising_sink_is_counted_and_others_still_get_samples(tank_server):
    _server, port, _regs = tank_server

    class Broken:
        def on_samples(self, batch):
            raise RuntimeError("disk full")

    plant = make_plant(PROFILE, [device("tank1", port)])
    good = Collector()
    rt = Runtime(plant, tcp_factory, [Broken(), good])
    rt.start()
    try:
        good.wait_for(lambda s: len(s) >= 3 * len(plant.tags()))
    finally:
        rt.stop()
    assert rt.sink_errors[0] >= 3 and rt.sink_errors[1] == 0


def test_slow_device_skips_missed_ticks_and_counts_overruns(peers):
    async def slow(*_args):
        await asyncio.sleep(0.12)

    server, port = peers.run(start_server([make_device(1, action=slow)]))
    plant = make_plant(PROFILE, [device("tank1", port, interval_ms=20, timeout_ms=2000)])
    rt = Runtime(plant, tcp_factory, [])
    rt.start()
    try:
        wait_until(lambda: rt.diagnostics()["tank1"].overruns >= 5, what="overruns")
        diag = rt.diagnostics()["tank1"]
    finally:
        rt.stop()
        peers.run(server.shutdown())
    assert diag.state == "online" and diag.error_count == 0


def test_disabled_and_unplannable_devices_are_reported_not_polled(tank_server):
    _server, port, _regs = tank_server
    wide = PROFILE.replace('[device]\nid = "tank"', '[device]\nid = "tank"\nmax_registers_per_read = 1')
    plant = make_plant(wide, [device("tank1", port), device("tank2", port, unit=2, enabled=False)])
    sink = Collector()
    rt = Runtime(plant, tcp_factory, [sink])
    rt.start()
    try:
        got = sink.wait_for(lambda s: len(s) >= len(plant.profiles["tank1"].points))
        diag = rt.diagnostics()
    finally:
        rt.stop()
    assert diag["tank2"].state == "disabled" and diag["tank2"].requests == 0
    assert diag["tank1"].state == "offline" and "level" in diag["tank1"].last_error
    assert all(s.quality is Quality.BAD_CONFIG and s.tag.startswith("tank1.") for s in got)


class _ShortReadDriver:
    """A driver that returns fewer words than asked: a fault a real server cannot produce
    (the Modbus driver itself rejects such replies), used to reach the decode-error path."""

    connected = False

    async def connect(self):
        self.connected = True

    async def close(self):
        self.connected = False

    async def read(self, unit, table, address, count):
        return [0] * min(count, 11)

    async def write(self, unit, table, address, values):
        raise AssertionError("not used")


def test_decode_error_gives_bad_config_for_that_point_only():
    plant = make_plant(PROFILE, [device("tank1", 1)])
    sink = Collector()
    rt = Runtime(plant, lambda cfg: _ShortReadDriver(), [sink])
    rt.start()
    try:
        got = sink.wait_for(lambda s: {"tank1.setpoint", "tank1.temp"} <= {x.tag for x in s})
    finally:
        rt.stop()
    # holding 0..21 is one block; 11 words reach only half of 'setpoint' (10..11)
    assert latest(got, "tank1.setpoint").quality is Quality.BAD_CONFIG
    assert latest(got, "tank1.setpoint").value is None
    assert latest(got, "tank1.level").quality is Quality.GOOD
    assert latest(got, "tank1.temp").quality is Quality.GOOD
    assert "cannot decode" in rt.diagnostics()["tank1"].last_error


def test_nan_and_infinite_floats_are_not_shown_good(tank_server):
    _server, port, regs = tank_server
    regs.set_words("holding", 0, f32(float("nan")))
    regs.set_words("holding", 10, f32(float("-inf")))
    plant = make_plant(PROFILE, [device("tank1", port)])
    sink = Collector()
    rt = Runtime(plant, tcp_factory, [sink])
    rt.start()
    try:
        got = sink.wait_for(lambda s: {"tank1.level", "tank1.setpoint"} <= {x.tag for x in s})
    finally:
        rt.stop()
    for tag in ("tank1.level", "tank1.setpoint"):
        assert (latest(got, tag).value, latest(got, tag).quality) == (None, Quality.BAD_DEVICE)
    assert latest(got, "tank1.count").quality is Quality.GOOD


def test_write_goes_before_the_rest_of_a_scan_in_progress(peers):
    import threading

    profile = """
[device]
id = "tank"
max_gap = 0
[[points]]
name = "a"
table = "holding"
address = 0
type = "uint16"
[[points]]
name = "b"
table = "holding"
address = 50
type = "uint16"
[[points]]
name = "sp"
table = "holding"
address = 100
type = "uint16"
access = "rw"
"""
    log: list[tuple[int, int]] = []
    reading_a = threading.Event()

    async def recorder(function_code, _start, address, *_args):
        log.append((function_code, address))
        if function_code == 3 and address == 0 and not reading_a.is_set():
            reading_a.set()
            await asyncio.sleep(0.5)  # the write is queued while this read is in flight

    server, port = peers.run(start_server([make_device(1, action=recorder)]))
    plant = make_plant(profile, [device("tank1", port, interval_ms=1000, timeout_ms=5000)])
    rt = Runtime(plant, tcp_factory, [])
    rt.start()
    try:
        assert reading_a.wait(10)
        assert rt.write("tank1", "sp", 7).readback == 7
    finally:
        rt.stop()
        peers.run(server.shutdown())
    # the simulator calls the action twice for a write (store and echo): fold repeats
    calls = [c for i, c in enumerate(log) if i == 0 or c != log[i - 1]]
    first_a = calls.index((3, 0))
    # the scan read 'a', then the write (old value, write, read-back), and only then 'b'
    assert calls[first_a + 1 : first_a + 5] == [(3, 100), (6, 100), (3, 100), (3, 50)]


def test_backoff_grows_exponentially_to_the_cap_with_jitter():
    import random

    from app.core.runtime import backoff_delay

    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (3, 4.0), (6, 30.0), (60, 30.0)]:
        delays = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) == 200  # jittered: no two devices wait exactly as long


def test_losing_a_device_marks_every_point_bad_even_slow_scan_ones(peers):
    slow_class = '[device]\nid = "tank"\nscan_classes = {normal = 1.0, slow = 500.0}'
    profile = PROFILE.replace('[device]\nid = "tank"', slow_class)
    count = 'name = "count"\ntable = "holding"\naddress = 2\ntype = "uint16"'
    profile = profile.replace(count, count + '\nscan = "slow"')
    server, port = peers.run(start_server([make_device(1)]))
    plant = make_plant(profile, [device("tank1", port)])  # 'count' is read every 10 s
    sink = Collector()
    rt = Runtime(plant, tcp_factory, [sink], backoff_base_s=0.05, backoff_cap_s=0.1)
    rt.start()
    try:
        sink.wait_for(lambda s: any(x.tag == "tank1.count" and x.quality is Quality.GOOD for x in s))
        peers.run(server.shutdown())
        got = sink.wait_for(lambda s: latest(s, "tank1.count").quality is Quality.BAD_COMM)
    finally:
        rt.stop()
    assert all(latest(got, tag).quality is Quality.BAD_COMM for tag in plant.tags())


def test_write_without_confirmation_in_time_says_it_may_have_happened(peers):
    async def slow_writes(function_code, *_args):
        if function_code in (6, 16):
            await asyncio.sleep(1.0)

    server, port = peers.run(start_server([make_device(1, action=slow_writes)]))
    plant = make_plant(PROFILE, [device("tank1", port, timeout_ms=3000)])
    rt = Runtime(plant, tcp_factory, [])
    rt.start()
    try:
        wait_until(lambda: rt.diagnostics()["tank1"].state == "online", what="online")
        with pytest.raises(WriteFailed, match="may or may not have been applied"):
            rt.write("tank1", "setpoint", 5.0, timeout=0.3)
        # the link is not stuck: polling resumes once the slow write is answered
        n = rt.diagnostics()["tank1"].requests
        wait_until(lambda: rt.diagnostics()["tank1"].requests > n + 5, what="polling resumed")
    finally:
        rt.stop()
        peers.run(server.shutdown())
