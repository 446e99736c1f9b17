"""Shared helpers for the alarm tests: a hand-driven clock, a small plant built from real
profile text, and a real journal (real SQLite, real ECDSA signatures) in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.core.alarms import AlarmEngine
from app.core.journal import Journal, read_events
from app.core.model import Quality, Sample
from app.core.plant import Plant, parse_plant
from app.core.profiles import ProfileLibrary, parse_profile

TANK_PROFILE = b"""
[device]
id = "test_tank"

[[points]]
name = "level"
unit = "%"
table = "holding"
address = 0
type = "int16"
scale = 0.1
lolo = 5.0
lo = 10.0
hi = 80.0
hihi = 90.0
deadband = 2.0

[[points]]
name = "pressure"
table = "holding"
address = 1
type = "int16"
hi = 50.0
on_delay_s = 5.0
priority = "urgent"

[[points]]
name = "overflow"
table = "discrete"
address = 0
type = "bool"
alarm_state = true

[[points]]
name = "temperature"
table = "input"
address = 0
type = "int16"
"""

PLANT = b"""
[plant]
name = "Alarm test plant"

[[devices]]
name = "tank"
profile = "test_tank"
host = "127.0.0.1"
port = 5020

[[devices]]
name = "tank2"
profile = "test_tank"
host = "127.0.0.1"
port = 5021
"""


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self, t: float = 1_750_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


def make_plant() -> Plant:
    lib = ProfileLibrary()
    lib.add(parse_profile(TANK_PROFILE, "test_tank.toml"))
    return parse_plant(PLANT, "plant.toml", lib)


def good(tag: str, value: Any, t: float = 0.0) -> Sample:
    return Sample(tag, value, Quality.GOOD, t)


def read_journal(journal_dir: Path) -> list[tuple[int, str, str, dict[str, Any]]]:
    """(seq, kind, actor, body) for every event, in order, through the journal's own reader."""
    return [(e.seq, e.kind, e.actor, e.body) for e in read_events(journal_dir)]


def transitions(journal_dir: Path) -> list[tuple[str, str, str, str]]:
    """(alarm, from, to, actor) of every alarm.transition, in journal order."""
    return [
        (b["alarm"], b["from"], b["to"], actor)
        for _, kind, actor, b in read_journal(journal_dir)
        if kind == "alarm.transition"
    ]


class Rig:
    """An engine over a real journal and a real state file, driven by a fake clock."""

    def __init__(self, data_dir: Path, clock: Clock, plant: Plant | None = None):
        self.dir = data_dir
        self.clock = clock
        self.journal_dir = data_dir / "journal"
        self.journal = Journal.open(self.journal_dir, clock=clock)
        self.engine = AlarmEngine(self.journal, data_dir / "alarms.sqlite", clock=clock)
        self.engine.configure(plant or make_plant())

    def feed(self, tag: str, value: Any, quality: Quality = Quality.GOOD) -> None:
        self.engine.on_samples([Sample(tag, value, quality, self.clock())])

    def state(self, alarm_id: str) -> str:
        return str(self.engine.alarm(alarm_id).state)

    def close(self) -> None:
        self.engine.close()
        self.journal.close()

    def events(self) -> list[tuple[int, str, str, dict[str, Any]]]:
        self.journal.flush()
        return read_journal(self.journal_dir)

    def transitions(self) -> list[tuple[str, str, str, str]]:
        self.journal.flush()
        return transitions(self.journal_dir)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rig(tmp_path: Path, clock: Clock) -> Iterator[Rig]:
    r = Rig(tmp_path, clock)
    yield r
    r.close()
