"""Issue #18, defect 1: a wall-clock step (NTP, a person) must neither delay nor hasten an
alarm, a COMM alarm, a shelve's expiry or a timed journal checkpoint; and the step itself is
journaled (``system.clock_step``) and listed with the configuration problems.

Each component is given two hand-driven clocks: the wall clock (time stamps) steps by an hour,
the monotonic clock (durations) moves on by the seconds that really pass.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.core.alarms import AlarmEngine
from app.core.clockstep import ClockStepDetector
from app.core.journal import Journal, read_events
from app.core.model import Quality, Sample
from app.core.plant import Plant, parse_plant
from app.core.profiles import ProfileLibrary, parse_profile

HOUR = 3600.0

PROFILE = b"""
[device]
id = "step_tank"

[[points]]
name = "pressure"
table = "holding"
address = 0
type = "int16"
hi = 50.0
on_delay_s = 5.0

[[points]]
name = "flow"
table = "holding"
address = 1
type = "int16"
hi = 50.0
off_delay_s = 5.0
"""


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def _plant() -> Plant:
    lib = ProfileLibrary()
    lib.add(parse_profile(PROFILE, "step_tank.toml"))
    return parse_plant(b'[[devices]]\nname = "tank"\nprofile = "step_tank"\nhost = "127.0.0.1"\n',
                       "plant.toml", lib)


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.wall = Clock(1_750_000_000.0)
        self.mono = Clock(1000.0)
        self.journal = Journal.open(tmp_path / "journal", clock=self.wall, monotonic=self.mono)
        self.engine = AlarmEngine(self.journal, tmp_path / "alarms.sqlite", clock=self.wall,
                                  monotonic=self.mono, comm_on_delay_s=10.0)
        self.engine.configure(_plant())

    def pass_time(self, seconds: float, step: float = 0.0) -> None:
        """``seconds`` really pass; the wall clock also jumps by ``step``."""
        self.mono.advance(seconds)
        self.wall.advance(seconds + step)

    def feed(self, value: float, point: str = "pressure") -> None:
        self.engine.on_samples([Sample(f"tank.{point}", value, Quality.GOOD, self.wall())])

    def close(self) -> None:
        self.engine.close()
        self.journal.close()


def test_a_backward_step_does_not_delay_an_on_delay(tmp_path):
    rig = Rig(tmp_path)
    try:
        rig.feed(60.0)
        assert not rig.engine.alarm("tank.pressure:HI").condition  # on-delay running
        rig.pass_time(6.0, step=-HOUR)
        rig.feed(60.0)
        assert rig.engine.alarm("tank.pressure:HI").condition, "raised an hour late"
    finally:
        rig.close()


def test_a_forward_step_does_not_cut_an_on_delay_short(tmp_path):
    rig = Rig(tmp_path)
    try:
        rig.feed(60.0)
        rig.pass_time(1.0, step=+HOUR)
        rig.feed(60.0)
        assert not rig.engine.alarm("tank.pressure:HI").condition, "raised after 1 s of a 5 s delay"
    finally:
        rig.close()


def test_a_clock_step_neither_hastens_nor_delays_an_off_delay(tmp_path):
    rig = Rig(tmp_path)
    try:
        rig.feed(60.0, "flow")
        assert rig.engine.alarm("tank.flow:HI").condition
        rig.feed(10.0, "flow")  # back to normal: the 5 s off-delay holds the alarm
        rig.pass_time(1.0, step=+HOUR)
        rig.feed(10.0, "flow")
        assert rig.engine.alarm("tank.flow:HI").condition, "cleared after 1 s of a 5 s off-delay"
        rig.pass_time(5.0, step=-2 * HOUR)
        rig.feed(10.0, "flow")
        assert not rig.engine.alarm("tank.flow:HI").condition, "held an hour longer"
    finally:
        rig.close()


def test_a_backward_step_does_not_delay_a_comm_alarm(tmp_path):
    rig = Rig(tmp_path)
    try:
        rig.engine.on_device_state("tank", False, "no answer")
        assert not rig.engine.alarm("tank:COMM").condition
        rig.pass_time(11.0, step=-HOUR)
        rig.engine.tick()
        assert rig.engine.alarm("tank:COMM").condition, "COMM alarm raised an hour late"
    finally:
        rig.close()


def test_a_forward_step_does_not_end_a_shelve_early(tmp_path):
    rig = Rig(tmp_path)
    try:
        rig.feed(60.0)
        rig.pass_time(6.0)
        rig.feed(60.0)
        rig.engine.shelve("tank.pressure:HI", "alice", "sensor being replaced", rig.wall() + 600.0)
        rig.pass_time(1.0, step=+HOUR)
        rig.engine.tick()
        assert rig.engine.alarm("tank.pressure:HI").shelved_by == "alice", "unshelved by a clock step"
        rig.pass_time(600.0)
        rig.engine.tick()
        assert rig.engine.alarm("tank.pressure:HI").shelved_by is None  # and it does expire
    finally:
        rig.close()


def _interval_checkpoints(journal_dir: Path) -> int:
    with sqlite3.connect(journal_dir / "journal.sqlite") as con:
        return int(con.execute("SELECT COUNT(*) FROM checkpoints WHERE reason = 'interval'").fetchone()[0])


def test_a_backward_step_does_not_pause_timed_checkpoints(tmp_path):
    wall, mono = Clock(1_750_000_000.0), Clock(1000.0)
    journal = Journal.open(tmp_path / "journal", clock=wall, monotonic=mono, checkpoint_interval_s=60.0)
    try:
        journal.append("operator.note", "alice", {"text": "before"})
        journal.flush()
        before = _interval_checkpoints(tmp_path / "journal")
        mono.advance(61.0)
        wall.advance(61.0 - HOUR)
        journal.append("operator.note", "alice", {"text": "after a step back"})
        journal.flush()
        assert _interval_checkpoints(tmp_path / "journal") == before + 1
    finally:
        journal.close()


def test_a_clock_step_is_journaled_and_listed_as_a_problem(tmp_path):
    from app.station.engine import ClockStepWatch

    wall, mono = Clock(1_750_000_000.0), Clock(1000.0)
    journal = Journal.open(tmp_path / "journal", clock=wall)
    problems: list[str] = []
    watch = ClockStepWatch(journal, problems, ClockStepDetector(wall, mono))
    try:
        mono.advance(5.0)
        wall.advance(5.02)  # slewing, not a step
        watch.check()
        assert problems == []
        mono.advance(5.0)
        wall.advance(5.0 - HOUR)
        watch.check()
        assert len(problems) == 1 and "-3600 s" in problems[0], problems
        journal.flush()
        steps = [e for e in read_events(tmp_path / "journal") if e.kind == "system.clock_step"]
        assert len(steps) == 1 and steps[0].body["step_s"] == -HOUR
        assert steps[0].critical
    finally:
        journal.close()


def test_a_clock_step_neither_ends_a_session_early_nor_keeps_it_past_its_limit(tmp_path):
    """Session expiry (12 h, 1 h for break-glass) is measured on the steady clock: a backward
    step must not keep a session alive past 12 h of real time, a forward one must not end it."""
    import pytest

    from app.core.users import SESSION_MAX_S, AuthError, Role, UserStore

    wall, mono = Clock(1_750_000_000.0), Clock(1000.0)
    store = UserStore(tmp_path / "users.json", clock=wall, monotonic=mono)
    store.add(None, "ada", "correct horse battery", Role.ADMINISTRATOR)
    session = store.authenticate("ada", "correct horse battery")
    mono.advance(60.0)
    wall.advance(60.0 + 13 * HOUR)  # the wall clock jumps 13 h ahead: the shift goes on
    store.check_session(session)
    mono.advance(SESSION_MAX_S)
    wall.advance(SESSION_MAX_S - 14 * HOUR)  # 12 h more really pass, and the clock steps back
    with pytest.raises(AuthError, match="older than 12 h"):
        store.check_session(session)
