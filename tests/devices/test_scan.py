"""``vigil scan``: against a real pymodbus server where only units 1 and 3 answer, it finds
exactly those and exactly their readable ranges, politely (paced, one request at a time)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli.scan import run_scan
from app.core.busscan import BusScanner, ScanOptions, parse_id_list
from app.core.profiles import Table, load_profile
from app.sdk.driver import CommError, DeviceException, LinkConfig, SerialSettings
from tests.devices.servers import TableServer, UnitTables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bus():
    """Unit 1: holding 0-39 readable. Unit 3: holding 0-9 and 20-29 (a gap), input 0-4.
    Units 2, 4, 5 stay silent, as absent units on a serial bus do."""
    units = {
        1: UnitTables(words={Table.HOLDING: [100 + i for i in range(40)]}),
        3: UnitTables(
            words={Table.HOLDING: [300 + i for i in range(10)], Table.INPUT: [7] * 5},
            segments={Table.HOLDING: [(20, [320 + i for i in range(10)])]},
        ),
    }
    server = TableServer(units).start()
    yield server
    server.stop()


def scan(bus, **kw) -> list:
    link = LinkConfig(transport="tcp", host=bus.host, port=bus.port, timeout_s=0.3)
    options = ScanOptions(**{"units": [1, 2, 3, 4, 5], **kw})
    return asyncio.run(run_scan(link, options))


def test_finds_exactly_units_1_and_3_and_their_readable_ranges(bus):
    reports = scan(bus, table="holding", start=0, end=63, rate_hz=200.0)
    found = {r.unit: r.ranges for r in reports if r.answered}
    assert found == {1: [(0, 39)], 3: [(0, 9), (20, 29)]}
    silent = {r.unit: r.first_answer for r in reports if not r.answered}
    assert silent == {2: "no answer", 4: "no answer", 5: "no answer"}
    # what was read is what the server holds
    three = next(r for r in reports if r.unit == 3)
    assert three.values[0] == 300 and three.values[25] == 325 and 15 not in three.values


def test_small_blocks_and_another_table(bus):
    reports = scan(bus, table="input", start=0, end=20, block=4, rate_hz=200.0)
    found = {r.unit: r.ranges for r in reports if r.answered}
    # unit 1 has no input registers but answers (exception 2): present, nothing readable
    assert found == {1: [], 3: [(0, 4)]}
    assert next(r for r in reports if r.unit == 1).first_answer == "exception 2"


class ScriptedDriver:
    """A fault you cannot otherwise produce deterministically: a clock that never moves, to
    check the pacing the scanner asks for and that requests never overlap."""

    def __init__(self, readable: range) -> None:
        self.readable = readable
        self.connected = True
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[tuple[int, int, int]] = []

    async def connect(self) -> None:
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def read(self, unit, table, address, count):
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.calls.append((unit, address, count))
        await asyncio.sleep(0)
        self.in_flight -= 1
        if unit == 9:
            raise DeviceException(11)
        if unit == 8:
            raise CommError("silence", kind="timeout")
        if all(a in self.readable for a in range(address, address + count)):
            return list(range(address, address + count))
        raise DeviceException(2)

    async def write(self, unit, table, address, values):
        raise AssertionError("a scan never writes")


def test_pacing_one_request_in_flight_and_a_request_budget():
    now = [0.0]
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    driver = ScriptedDriver(range(10, 17))
    options = ScanOptions(units=[1, 8, 9], start=0, end=31, block=16, rate_hz=4.0)
    reports = asyncio.run(BusScanner(driver, options, clock=lambda: now[0], sleep=sleep).scan())
    assert reports[0].ranges == [(10, 16)]
    assert [r.first_answer for r in reports[1:]] == [
        "no answer",
        "gateway: no response from the unit (exception 11)",
    ]
    assert driver.max_in_flight == 1
    # every request after the first waited a full 1/rate: the clock only moves by sleeping
    assert len(slept) == len(driver.calls) - 1 and all(s == pytest.approx(0.25) for s in slept)
    # a sparse block costs about one request per unreadable address (25 here), plus a few
    # doubling and halving reads for the run 10-16
    assert reports[0].requests <= 25 + 8
    # a fully readable map is read one block per request
    full = asyncio.run(
        BusScanner(
            ScriptedDriver(range(0, 64)),
            ScanOptions(units=[1], end=63, block=16, rate_hz=1000.0),
            clock=lambda: now[0],
            sleep=sleep,
        ).scan()
    )
    assert full[0].ranges == [(0, 63)] and full[0].requests == 4
    budget = asyncio.run(
        BusScanner(
            ScriptedDriver(range(0, 0)),
            ScanOptions(units=[1], end=999, block=100, max_requests_per_unit=30, rate_hz=1000.0),
            clock=lambda: now[0],
            sleep=sleep,
        ).scan()
    )
    assert budget[0].requests == 30 and not budget[0].complete


def test_rtu_bus_scan_over_a_serial_pair():
    """The RTU equivalent: the same scan over a virtual null-modem cable to a serial server."""
    from tests.poll.ptybridge import PtyBridge

    bridge = PtyBridge()
    units = {2: UnitTables(words={Table.INPUT: [5] * 12}), 4: UnitTables(words={Table.INPUT: [9] * 3})}
    server = TableServer(units, serial_port=bridge.port_b).start()
    try:
        link = LinkConfig(
            transport="rtu", serial=SerialSettings(bridge.port_a, baudrate=115200), timeout_s=0.3
        )
        options = ScanOptions(units=[1, 2, 3, 4], table="input", start=0, end=15, rate_hz=200.0)
        reports = asyncio.run(run_scan(link, options))
    finally:
        server.stop()
        bridge.close()
    assert {r.unit: r.ranges for r in reports if r.answered} == {2: [(0, 11)], 4: [(0, 2)]}
    assert [r.unit for r in reports if r.first_answer == "no answer"] == [1, 3]


def test_id_lists():
    assert parse_id_list("1-3,7, 9-10", 1, 247, "unit id") == [1, 2, 3, 7, 9, 10]
    with pytest.raises(ValueError, match="unit id '300'"):
        parse_id_list("300", 1, 247, "unit id")
    with pytest.raises(ValueError, match="'x-2'"):
        parse_id_list("x-2", 1, 247, "unit id")


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_reports_and_writes_draft_profiles(bus, tmp_path):
    r = vigil(
        "scan",
        "--host",
        bus.host,
        "--port",
        str(bus.port),
        "--units",
        "1-4",
        "--range",
        "0-31",
        "--rate",
        "200",
        "--timeout",
        "0.3",
        "--draft",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "2 of 4 unit ids answered" in r.stdout
    assert "unit 1: readable 0-31 (32 addresses)" in r.stdout
    assert "unit 3: readable 0-9, 20-29 (20 addresses)" in r.stdout
    assert "no answer: 2, 4" in r.stdout
    draft = load_profile(tmp_path / "draft-unit3.toml")
    assert [p.address for p in draft.points] == [*range(10), *range(20, 30)]
    assert draft.point("hr_21").description == "found by vigil scan; read 321"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft-unit1.toml", "draft-unit3.toml"]


def test_cli_json_and_bad_arguments(bus):
    r = vigil(
        "scan",
        "--host",
        bus.host,
        "--port",
        str(bus.port),
        "--units",
        "3",
        "--range",
        "18-22",
        "--rate",
        "200",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["ranges"] == [[20, 22]]
    r = vigil("scan", "--host", bus.host, "--units", "1-300")
    assert r.returncode == 2 and "unit id '1-300' is not within 0-255" in r.stderr
