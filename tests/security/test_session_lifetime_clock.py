"""The absolute session lifetime is measured on the monotonic clock (#17): a wall-clock step
(NTP, a person setting the time) neither extends a session past its 12 h nor ends it early;
the same for a break-glass session's hour. The store takes both clocks, as the alarm engine
does; a real journal records the refusals."""

from __future__ import annotations

import pytest

from app.core.journal import Journal, read_events
from app.core.users import EMERGENCY_SESSION_S, EMERGENCY_USER, SESSION_MAX_S, AuthError, Role, UserStore


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def env(tmp_path):
    journal = Journal.open(tmp_path / "journal")
    wall, mono = Clock(1_700_000_000.0), Clock(5_000.0)
    store = UserStore(tmp_path / "users.json", journal=journal, clock=wall, monotonic=mono)
    store.add(None, "ada", "admin-pass-1", Role.ADMINISTRATOR)
    yield store, journal, wall, mono
    journal.close()


def test_a_wall_clock_step_forward_does_not_end_a_session(env) -> None:
    store, _, wall, mono = env
    s = store.authenticate("ada", "admin-pass-1")
    wall.t += 2 * SESSION_MAX_S  # the wall clock jumps a day ahead
    mono.t += 60.0  # one minute has really passed
    store.check_session(s)


def test_a_wall_clock_step_back_does_not_extend_a_session(env) -> None:
    store, journal, wall, mono = env
    s = store.authenticate("ada", "admin-pass-1")
    mono.t += SESSION_MAX_S - 60.0
    wall.t -= 3600.0  # set back an hour near the end of the shift
    store.check_session(s)
    mono.t += 120.0  # twelve hours have now really passed, whatever the wall says
    wall.t -= 3600.0
    with pytest.raises(AuthError, match="older than 12 h"):
        store.check_session(s)
    journal.flush(timeout=10.0)
    refused = read_events(journal.dir, kind="action.refused")
    assert refused and "older than 12 h" in refused[-1].body["reason"]


def test_a_break_glass_hour_is_counted_on_the_monotonic_clock(env) -> None:
    store, _, wall, mono = env
    admin = store.authenticate("ada", "admin-pass-1")
    _code_id, code = store.create_emergency_code(admin, Role.OPERATOR)
    glass = store.authenticate(EMERGENCY_USER, code)
    wall.t -= 10 * 3600.0  # a step back would give the emergency session ten more hours
    mono.t += EMERGENCY_SESSION_S + 1.0
    with pytest.raises(AuthError, match="emergency session is older"):
        store.check_session(glass)


def test_the_default_clocks_are_the_wall_and_the_monotonic_one(tmp_path) -> None:
    import time

    store = UserStore(tmp_path / "users.json")
    assert store.clock is time.time and store.monotonic is time.monotonic
