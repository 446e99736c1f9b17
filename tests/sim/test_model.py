"""The demo physics: reproducible by seed, faults visible, normal running inside normal limits."""

from __future__ import annotations

import numpy as np
import pytest

from app.sim.faults import FaultSpec, FaultSpecError, parse_fault, parse_faults
from app.sim.model import PlantModel


def test_same_seed_same_values_however_time_is_stepped() -> None:
    a = PlantModel(seed=42, faults=parse_faults("cavitation@5"))
    b = PlantModel(seed=42, faults=parse_faults("cavitation@5"))
    for _ in range(100):
        a.step(0.1)
    for _ in range(4):
        b.step(2.5)
    assert a.t == pytest.approx(10.0) and b.t == pytest.approx(10.0)
    assert a.values() == b.values()
    c = PlantModel(seed=42, faults=parse_faults("cavitation@5"))
    assert c.values_at(10.0) == a.values()


def test_going_back_in_time_replays_exactly_including_writes() -> None:
    m = PlantModel(seed=1)
    m.values_at(5.0)
    m.write("tank", "valve_setpoint", 90.0)
    at_20 = m.values_at(20.0)
    assert m.values_at(3.0)["tank"]["valve_setpoint"] == 50.0
    assert m.values_at(20.0) == at_20


def test_different_seeds_differ() -> None:
    assert PlantModel(seed=1).values_at(3.0) != PlantModel(seed=2).values_at(3.0)


def test_a_fault_on_one_device_leaves_other_devices_untouched() -> None:
    plain = PlantModel(seed=9).values_at(60.0)
    faulty = PlantModel(seed=9, faults=parse_faults("cavitation@10")).values_at(60.0)
    assert plain["vitals"] == faulty["vitals"] and plain["meter"] == faulty["meter"]
    assert plain["pump"] != faulty["pump"]


def _pump_window(trace, t0: float, t1: float, point: str) -> np.ndarray:
    mask = (trace.t >= t0) & (trace.t < t1)
    return trace.values["pump"][point][mask]


def test_cavitation_raises_both_vibration_channels_clearly() -> None:
    trace = PlantModel(seed=4, faults=parse_faults("cavitation@120+120")).run(300.0)
    for ch in ("accel1_rms", "accel2_rms"):
        before = _pump_window(trace, 0, 115, ch)
        during = _pump_window(trace, 140, 235, ch)
        after = _pump_window(trace, 270, 300, ch)
        shift = (during.mean() - before.mean()) / before.std()
        assert shift > 8, (ch, shift)
        assert abs(after.mean() - before.mean()) < 3 * before.std(), ch
    flow_before = _pump_window(trace, 0, 115, "flow").mean()
    flow_during = _pump_window(trace, 140, 235, "flow").mean()
    assert flow_during < flow_before - 3
    # vibration explains it best: its shift (in sigmas) beats every other channel's
    shifts = {}
    for ch in ("accel1_rms", "accel2_rms", "current", "voltage", "pressure", "temperature",
               "thermocouple", "flow"):
        before = _pump_window(trace, 0, 115, ch)
        shifts[ch] = abs(_pump_window(trace, 140, 235, ch).mean() - before.mean()) / before.std()
    assert max(shifts, key=shifts.get) in ("accel1_rms", "accel2_rms"), shifts


def test_normal_running_stays_within_normal_variability() -> None:
    """Ten minutes without faults: no profile limit is crossed (no nuisance alarms)."""
    from app.sim.demo import load_demo_profiles

    profiles = load_demo_profiles()
    trace = PlantModel(seed=11).run(600.0, every_s=0.5)
    for device, prof in profiles.items():
        for p in prof.points:
            if not p.has_limits:
                continue
            series = trace.values[device][p.name]
            lo = min(x for x in (p.lolo, p.lo) if x is not None) if (p.lo or p.lolo) else None
            hi = min(x for x in (p.hi, p.hihi) if x is not None) if (p.hi or p.hihi) else None
            if lo is not None:
                assert series.min() > lo, f"{device}.{p.name} fell to {series.min()} (lo {lo})"
            if hi is not None:
                assert series.max() < hi, f"{device}.{p.name} rose to {series.max()} (hi {hi})"


def test_stuck_valve_ignores_setpoint_and_the_tank_overflows() -> None:
    m = PlantModel(seed=2, faults=parse_faults("stuck_valve@10+200"))
    m.values_at(9.0)
    m.write("tank", "valve_setpoint", 20.0)
    v = m.values_at(60.0)["tank"]
    assert v["valve_setpoint"] == 20.0
    assert v["valve_position"] == 100.0  # failed wide open despite the setpoint
    v = m.values_at(200.0)["tank"]
    assert v["level"] > 95.0 and v["high_level_switch"] is True
    assert v["valve_deviation"] is True
    v = m.values_at(260.0)["tank"]  # fault over: the valve follows its setpoint again
    assert v["valve_position"] == pytest.approx(20.0)


def test_tank_setpoint_write_moves_valve_and_level() -> None:
    m = PlantModel(seed=3)
    start = m.values_at(5.0)["tank"]["level"]
    m.write("tank", "valve_setpoint", 100.0)
    v = m.values_at(30.0)["tank"]
    assert v["valve_position"] == 100.0
    assert v["level"] > start + 10
    m.write("tank", "pump_run", False)
    assert m.values_at(31.0)["tank"]["outflow"] == 0.0
    assert m.values_at(150.0)["tank"]["level"] > 95.0


def test_write_refuses_unknown_points_and_out_of_range_values() -> None:
    m = PlantModel()
    with pytest.raises(KeyError):
        m.write("tank", "level", 10.0)
    with pytest.raises(KeyError):
        m.write("boiler", "x", 1)
    with pytest.raises(ValueError):
        m.write("tank", "valve_setpoint", 120.0)
    with pytest.raises(ValueError):
        m.write("tank", "valve_setpoint", float("nan"))


def test_pump_stop_drops_flow_and_current() -> None:
    m = PlantModel(seed=5)
    m.values_at(2.0)
    m.write("pump", "run", False)
    v = m.values_at(20.0)["pump"]
    assert v["flow"] < 5 and v["current"] < 0.2 and v["running"] is False


def test_sensor_drift_moves_the_reading_not_the_process() -> None:
    plain = PlantModel(seed=6).values_at(100.0)
    drift = PlantModel(seed=6, faults=[FaultSpec("sensor_drift", "vitals", 0.0)]).values_at(100.0)
    assert drift["vitals"]["spo2"] == pytest.approx(plain["vitals"]["spo2"] - 10.0, abs=1e-6)
    assert drift["vitals"]["heart_rate"] == plain["vitals"]["heart_rate"]
    pump = PlantModel(seed=6, faults=parse_faults("sensor_drift@0")).values_at(100.0)["pump"]
    assert pump["thermocouple"] == pytest.approx(plain["pump"]["thermocouple"] + 5.0, abs=1e-6)


def test_dead_and_exception_faults_are_scheduled() -> None:
    m = PlantModel(faults=parse_faults("dead:vitals@45+30,exception:meter@20+10"))
    m.values_at(10.0)
    assert m.device_state("vitals") == "ok" and m.device_state("meter") == "ok"
    m.values_at(25.0)
    assert m.device_state("meter") == "exception"
    m.values_at(50.0)
    assert (m.device_state("vitals"), m.device_state("meter")) == ("dead", "ok")
    m.values_at(80.0)
    assert m.device_state("vitals") == "ok"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cavitation@60", FaultSpec("cavitation", "pump", 60.0, None)),
        ("stuck_valve@30+120", FaultSpec("stuck_valve", "tank", 30.0, 120.0)),
        ("sensor_drift@0", FaultSpec("sensor_drift", "pump", 0.0, None)),
        ("dead:vitals@45+30", FaultSpec("dead", "vitals", 45.0, 30.0)),
        ("exception:meter@20+10", FaultSpec("exception", "meter", 20.0, 10.0)),
        ("sensor_drift:tank", FaultSpec("sensor_drift", "tank", 0.0, None)),
    ],
)
def test_fault_entries_parse(text: str, expected: FaultSpec) -> None:
    assert parse_fault(text) == expected


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("boom@3", "unknown fault 'boom'"),
        ("dead@3", "needs a device"),
        ("cavitation:tank@3", "applies to pump"),
        ("dead:boiler", "not 'boiler'"),
        ("cavitation@soon", "start 'soon' is not a number"),
        ("cavitation@-5", "start must be"),
        ("cavitation@5+0", "duration must be"),
        ("Cavitation!", "expected name[:device]"),
    ],
)
def test_bad_fault_entries_are_refused_with_the_entry_named(text: str, needle: str) -> None:
    with pytest.raises(FaultSpecError) as e:
        parse_fault(text)
    assert needle in str(e.value)
    assert text in str(e.value)


def test_fault_list_accepts_commas_and_spaces() -> None:
    assert len(parse_faults("cavitation@60, stuck_valve@30+120 dead:vitals@45")) == 3
    assert parse_faults("") == [] and parse_faults(None) == []


#: measured once on SKAB's anomaly-free recording (9,405 rows at 1 Hz): mean, std per column.
#: Figures only - the data itself is GPL and stays out of this repository.
SKAB_NORMAL = {
    "Accelerometer1RMS": (0.2126, 0.0047),
    "Accelerometer2RMS": (0.2684, 0.0040),
    "Current": (2.403, 0.486),
    "Pressure": (0.111, 0.253),
    "Temperature": (89.47, 0.667),
    "Thermocouple": (28.47, 0.731),
    "Voltage": (228.6, 10.98),
    "Volume Flow RateRMS": (125.2, 1.605),
}


def test_pump_looks_like_skab_normal_running() -> None:
    """Channel by channel, the demo pump's mean lies within two SKAB standard deviations of the
    SKAB mean, and its spread is within a factor 3 of SKAB's (same units, same magnitudes)."""
    from app.sim.model import SKAB_COLUMNS

    trace = PlantModel(seed=21).run(1800.0, every_s=1.0)
    for column, (mean, std) in SKAB_NORMAL.items():
        series = trace.values["pump"][SKAB_COLUMNS[column]]
        assert abs(series.mean() - mean) < 2 * std, (column, series.mean())
        assert std / 3 < series.std() < std * 3, (column, series.std())
