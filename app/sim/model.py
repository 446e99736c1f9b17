"""The demo plant's physics: deterministic, seedable, and separate from any server.

Why a fixed internal tick: the same seed must give the same values at the same simulated time
whether a caller steps in 0.1 s increments (the Modbus server's timer), jumps straight to
``values_at(600)`` (a detector test), or steps irregularly. Every device advances in ticks of
``TICK_S`` and draws its noise from its own random stream, so adding a fault or a write on one
device never changes another device's noise.

Point names here are exactly the point names of the profiles in ``device_profiles/`` (the
server encodes these values with those profiles), so ``values[device][point]`` is the engineering
value a client should decode.

Devices (keys of ``values_at``):

- ``pump``: a centrifugal pump skid shaped after the SKAB test bed (channel magnitudes, noise
  and correlations measured from its anomaly-free recording).
- ``meter``: a three-phase energy meter serving the Eastron SDM630 register map.
- ``tank``: a tank whose level integrates inflow (inlet valve) minus outflow (outlet pump).
- ``vitals``: a bedside vital-signs monitor.
"""

from __future__ import annotations

import cmath
import math
import operator
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from app.sim.faults import DEVICES, FaultSpec

TICK_S = 0.1
Values = dict[str, float | int | bool | str]


class _OU:
    """An Ornstein-Uhlenbeck process with unit stationary variance: slow, mean-reverting wander.

    Real plant signals drift on minutes and fluctuate on seconds; white noise alone looks fake
    on a trend and is trivially easy for an anomaly detector.
    """

    __slots__ = ("a", "b", "x")

    def __init__(self, tau_s: float, x0: float = 0.0):
        self.a = math.exp(-TICK_S / tau_s)
        self.b = math.sqrt(1.0 - self.a * self.a)
        self.x = x0

    def step(self, n: float) -> float:
        self.x = self.a * self.x + self.b * n
        return self.x


def _approach(x: float, target: float, max_step: float) -> float:
    if x < target:
        return min(target, x + max_step)
    return max(target, x - max_step)


class _Device:
    """Base: one random stream, the faults that concern this device, current values."""

    key = ""
    #: writable point -> (lowest, highest) accepted by the physics (bools: None)
    writable: dict[str, tuple[float, float] | None] = {}

    def __init__(self, seed: int, faults: Sequence[FaultSpec]):
        self.rng = random.Random(f"vigil-sim:{seed}:{self.key}")
        self.faults = [f for f in faults if f.device == self.key]
        self.values: Values = {}

    def fault(self, name: str, t: float) -> FaultSpec | None:
        for f in self.faults:
            if f.name == name and f.active(t):
                return f
        return None

    def drift(self, t: float, rate_per_s: float) -> float:
        """The offset a drifting sensor has accumulated (0 when no drift fault is active)."""
        f = self.fault("sensor_drift", t)
        return rate_per_s * f.elapsed(t) if f else 0.0

    def write(self, point: str, value: float | bool) -> None:
        raise KeyError(point)

    def tick(self, t: float) -> None:
        raise NotImplementedError


#: SKAB CSV column -> demo pump point, for detectors trained on SKAB and run on the demo (and
#: back). Same units: g, A, bar, °C, °C, V, l/min.
SKAB_COLUMNS: dict[str, str] = {
    "Accelerometer1RMS": "accel1_rms",
    "Accelerometer2RMS": "accel2_rms",
    "Current": "current",
    "Pressure": "pressure",
    "Temperature": "temperature",
    "Thermocouple": "thermocouple",
    "Voltage": "voltage",
    "Volume Flow RateRMS": "flow",
}


class PumpSkid(_Device):
    """Centrifugal pump skid after SKAB: 2 vibration RMS, current, voltage, pressure, temperatures,
    flow.

    Measured on SKAB's anomaly-free run (1 Hz): accelerometers 0.213 / 0.268 g (std ~0.0045,
    slow), current 2.40 A (std 0.49, mostly white, correlated 0.47 with voltage), voltage
    229 V (std 11, white), pressure 0.11 bar (std 0.25, white), motor temperature 89.5 C,
    thermocouple 28.5 C, flow 125 l/min. A shared slow "operating point" drives accel1,
    thermocouple and flow up and accel2 and temperature down, as the recording's correlations
    (~ +/-0.7) show.
    """

    key = "pump"
    writable = {"run": None}

    def __init__(self, seed: int, faults: Sequence[FaultSpec]):
        super().__init__(seed, faults)
        self.op = _OU(300.0)
        self.run_cmd = True
        self.speed = 1.0  # 0 stopped .. 1 nominal
        self.cav = 0.0  # cavitation severity 0..1
        self.motor_temp = 89.47
        self.run_hours = 1234.5

    def write(self, point: str, value: float | bool) -> None:
        if point != "run":
            raise KeyError(point)
        self.run_cmd = bool(value)

    def tick(self, t: float) -> None:
        g = self.rng.gauss
        s = self.op.step(g(0, 1))
        self.speed = _approach(self.speed, 1.0 if self.run_cmd else 0.0, 0.25 * TICK_S)
        r = self.speed
        cav_on = self.fault("cavitation", t) is not None and r > 0.5
        # cavitation builds over ~8 s and dies away over ~4 s
        self.cav = _approach(self.cav, 1.0 if cav_on else 0.0, (0.125 if cav_on else 0.25) * TICK_S)
        c = self.cav
        target_temp = (89.47 - 0.75 * s) * r + 25.0 * (1 - r)
        self.motor_temp += (target_temp - self.motor_temp) * (TICK_S / 120.0)
        # SKAB voltage is bounded (201-253 V over 2.6 h, std 11): triangular, not gaussian
        voltage = 228.65 + self.rng.triangular(-26.0, 26.0)
        v = self.values
        v["accel1_rms"] = max(
            0.0, 0.012 + r * (0.2006 + 0.0033 * s) + c * (0.065 + 0.012 * g(0, 1)) + g(0, 0.0018)
        )
        v["accel2_rms"] = max(
            0.0, 0.012 + r * (0.2564 - 0.0028 * s) + c * (0.055 + 0.012 * g(0, 1)) + g(0, 0.0019)
        )
        v["current"] = max(
            0.0, r * (2.40 - 0.15 * c + 0.0208 * (voltage - 228.65)) + g(0, 0.43 * r + 0.005)
        )
        v["voltage"] = voltage
        v["pressure"] = r * (0.11 - 0.10 * c) + g(0, 0.25 * (1 + 0.6 * c) * max(r, 0.05))
        v["temperature"] = self.motor_temp + g(0, 0.17)
        v["thermocouple"] = 28.47 + 0.6 * s + 0.3 * c + g(0, 0.005) + self.drift(t, 0.05)
        v["flow"] = max(0.0, r * (125.2 + 1.2 * s - 7.0 * c + 3.0 * c * g(0, 1)) + g(0, 0.36))
        if r > 0:
            self.run_hours += TICK_S / 3600.0
        v["run_hours"] = self.run_hours
        v["run"] = self.run_cmd
        v["running"] = r > 0.5
        v["vibration_warning"] = max(float(v["accel1_rms"]), float(v["accel2_rms"])) > 0.30
        v["tag_label"] = "P-101 SKAB"


class EnergyMeter(_Device):
    """Three-phase 230/400 V meter on the plant's supply, serving the Eastron SDM630 map.

    Load wanders slowly (OU, 2 min), phases are a little unbalanced, power factor ~0.9
    inductive; energies integrate power so counters only ever rise.
    """

    key = "meter"
    _UNBALANCE = (1.0, 0.93, 1.07)
    _A = cmath.exp(-2j * math.pi / 3)  # 120 degree phase shift

    def __init__(self, seed: int, faults: Sequence[FaultSpec]):
        super().__init__(seed, faults)
        self.load = _OU(120.0)
        self.volt = [_OU(60.0) for _ in range(3)]
        self.pf = [_OU(90.0) for _ in range(3)]
        self.freq = _OU(30.0)
        self.import_kwh = 15234.75
        self.import_kvarh = 4120.5
        self.demand = 9500.0
        self.demand_max = 11200.0

    def tick(self, t: float) -> None:
        g = self.rng.gauss
        v = self.values
        base = 14.0 * (1.0 + 0.12 * self.load.step(g(0, 1)))
        drift = self.drift(t, 0.2)
        phasors_v, phasors_i = [], []
        p_tot = q_tot = s_tot = 0.0
        i_sum = 0.0
        for k, (ph, unb) in enumerate(zip(("l1", "l2", "l3"), self._UNBALANCE, strict=True)):
            volts = 230.0 + 1.5 * self.volt[k].step(g(0, 1)) + g(0, 0.15)
            amps = max(0.0, base * unb + g(0, 0.08))
            pf = min(0.999, 0.90 + 0.025 * self.pf[k].step(g(0, 1)))
            angle = math.acos(pf)
            va = volts * amps
            w = va * pf
            var = va * math.sin(angle)
            v[f"v_{ph}"] = volts + (drift if k == 0 else 0.0)
            v[f"i_{ph}"] = amps
            v[f"p_{ph}"] = w
            v[f"va_{ph}"] = va
            v[f"var_{ph}"] = var
            v[f"pf_{ph}"] = pf
            v[f"angle_{ph}"] = math.degrees(angle)
            rot = self._A**k
            phasors_v.append(volts * rot)
            phasors_i.append(amps * rot * cmath.exp(-1j * angle))
            p_tot += w
            q_tot += var
            s_tot += va
            i_sum += amps
        v["v_avg"] = (float(v["v_l1"]) + float(v["v_l2"]) + float(v["v_l3"])) / 3
        v["i_avg"] = i_sum / 3
        v["i_sum"] = i_sum
        v["p_total"] = p_tot
        v["va_total"] = s_tot
        v["var_total"] = q_tot
        v["pf_total"] = p_tot / s_tot if s_tot else 1.0
        v["angle_total"] = math.degrees(math.acos(min(1.0, float(v["pf_total"]))))
        v["frequency"] = 50.0 + 0.02 * self.freq.step(g(0, 1)) + g(0, 0.002)
        self.import_kwh += p_tot * TICK_S / 3_600_000.0
        self.import_kvarh += q_tot * TICK_S / 3_600_000.0
        v["import_kwh"] = self.import_kwh
        v["export_kwh"] = 0.0
        v["import_kvarh"] = self.import_kvarh
        v["export_kvarh"] = 0.0
        # demand: a sliding average over the demand period (exponential, 60 s here)
        self.demand += (p_tot - self.demand) * (TICK_S / 60.0)
        self.demand_max = max(self.demand_max, self.demand)
        v["p_demand"] = self.demand
        v["p_demand_max"] = self.demand_max
        v1, v2, v3 = phasors_v
        v["v_l1_l2"] = abs(v1 - v2)
        v["v_l2_l3"] = abs(v2 - v3)
        v["v_l3_l1"] = abs(v3 - v1)
        v["v_ll_avg"] = (float(v["v_l1_l2"]) + float(v["v_l2_l3"]) + float(v["v_l3_l1"])) / 3
        v["i_neutral"] = abs(sum(phasors_i))
        v["total_kwh"] = self.import_kwh
        v["total_kvarh"] = self.import_kvarh


class Tank(_Device):
    """A 2 m tank: level integrates inlet flow (valve) minus outlet flow (pump, ~sqrt(level)).

    With the valve at 50 % and the outlet pump running, the level settles at 1.0 m (50 %). The
    valve at 100 %, the outlet pump stopped, or the ``stuck_valve`` fault (valve fails wide
    open) drives the level up to the rim in one to two minutes: an overflow the hi/hihi limits
    and the high-level switch must catch.
    """

    key = "tank"
    writable = {"valve_setpoint": (0.0, 100.0), "pump_run": None}
    AREA_M2 = 1.0
    HEIGHT_M = 2.0
    Q_IN_MAX = 0.02  # m3/s at 100 % valve
    K_OUT = 0.01  # m3/s per sqrt(m) with the outlet pump running
    VALVE_SPEED = 10.0  # %/s

    def __init__(self, seed: int, faults: Sequence[FaultSpec]):
        super().__init__(seed, faults)
        self.setpoint = 50.0
        self.position = 50.0
        self.pump_on = True
        self.level = 1.0
        self.supply = _OU(45.0)
        self.temp = _OU(600.0)
        self.total_l = 872_340.0
        self.deviation_s = 0.0

    def write(self, point: str, value: float | bool) -> None:
        if point == "valve_setpoint":
            self.setpoint = min(100.0, max(0.0, float(value)))
        elif point == "pump_run":
            self.pump_on = bool(value)
        else:
            raise KeyError(point)

    def tick(self, t: float) -> None:
        g = self.rng.gauss
        target = 100.0 if self.fault("stuck_valve", t) else self.setpoint
        self.position = _approach(self.position, target, self.VALVE_SPEED * TICK_S)
        q_in = self.Q_IN_MAX * self.position / 100.0 * (1.0 + 0.04 * self.supply.step(g(0, 1)))
        q_in = max(0.0, q_in)
        q_out = self.K_OUT * math.sqrt(max(self.level, 0.0)) if self.pump_on else 0.0
        self.level = min(self.HEIGHT_M, max(0.0, self.level + (q_in - q_out) / self.AREA_M2 * TICK_S))
        self.total_l += q_in * 1000.0 * TICK_S
        off = abs(self.position - self.setpoint) > 5.0
        self.deviation_s = self.deviation_s + TICK_S if off else 0.0
        measured = self.level + g(0, 0.002) + self.drift(t, 0.001)
        v = self.values
        v["level"] = max(0.0, measured / self.HEIGHT_M * 100.0)
        v["level_m"] = max(0.0, measured)
        v["valve_setpoint"] = self.setpoint
        v["valve_position"] = self.position
        v["pump_run"] = self.pump_on
        v["pump_running"] = self.pump_on
        v["high_level_switch"] = self.level >= 0.95 * self.HEIGHT_M
        v["valve_deviation"] = self.deviation_s > 10.0
        v["inflow"] = q_in * 3600.0
        v["outflow"] = q_out * 3600.0
        v["water_temp"] = 14.0 + 0.8 * self.temp.step(g(0, 1))
        v["total_inflow"] = self.total_l / 1000.0
        v["tag_label"] = "TK-101"


class VitalsMonitor(_Device):
    """Bedside monitor of a stable adult patient: HR, SpO2, arterial BP, RR, glucose (CGM),
    temperature. ``sensor_drift`` here is an SpO2 probe slipping: the reading sinks ~0.1 %/s."""

    key = "vitals"

    def __init__(self, seed: int, faults: Sequence[FaultSpec]):
        super().__init__(seed, faults)
        self.hr = _OU(60.0)
        self.sat = _OU(120.0)
        self.bp = _OU(180.0)
        self.rr = _OU(90.0)
        self.glu = _OU(900.0)
        self.tmp = _OU(1800.0)

    def tick(self, t: float) -> None:
        g = self.rng.gauss
        v = self.values
        rr = 14.0 + 1.5 * self.rr.step(g(0, 1))
        rsa = 2.0 * math.sin(2 * math.pi * t * rr / 60.0)  # respiratory sinus arrhythmia
        v["heart_rate"] = 72.0 + 4.0 * self.hr.step(g(0, 1)) + rsa + g(0, 0.6)
        drift = self.drift(t, -0.1)
        true_sat = min(100.0, 97.5 + 0.6 * self.sat.step(g(0, 1)) + g(0, 0.2))
        v["spo2"] = max(0.0, true_sat + drift)
        b = self.bp.step(g(0, 1))
        sys_ = 118.0 + 6.0 * b + g(0, 1.5)
        dia = 76.0 + 4.0 * b + g(0, 1.0)
        v["bp_systolic"] = sys_
        v["bp_diastolic"] = dia
        v["bp_mean"] = dia + (sys_ - dia) / 3.0
        v["resp_rate"] = rr + g(0, 0.4)
        v["glucose"] = 105.0 + 10.0 * self.glu.step(g(0, 1)) + g(0, 1.0)
        v["temperature"] = 36.9 + 0.2 * self.tmp.step(g(0, 1)) + g(0, 0.02)
        v["monitoring"] = True
        v["probe_off"] = drift < -10.0
        v["bed_label"] = "ICU-3 BED 7"


_DEVICE_CLASSES: dict[str, type[_Device]] = {
    "pump": PumpSkid,
    "meter": EnergyMeter,
    "tank": Tank,
    "vitals": VitalsMonitor,
}
assert tuple(_DEVICE_CLASSES) == DEVICES


@dataclass
class Trace:
    """A recorded run: ``t`` (simulated seconds) and ``values[device][point]`` as float arrays
    (bools as 0/1; text points left out). What detector tests feed on."""

    t: np.ndarray
    values: dict[str, dict[str, np.ndarray]]

    def matrix(self, device: str, points: Sequence[str]) -> np.ndarray:
        """Rows = samples, columns = ``points``: the shape scikit-learn wants."""
        return np.column_stack([self.values[device][p] for p in points])


class PlantModel:
    """The four demo devices advanced together on a fixed 0.1 s tick.

    ``PlantModel(seed, faults)`` with the same arguments and the same writes at the same
    simulated times always produces the same values. Writes are logged with their tick, so
    going back in time (``values_at`` an earlier ``t``) replays from zero and stays exact.
    """

    def __init__(self, seed: int = 0, faults: Iterable[FaultSpec] = ()):
        self.seed = int(seed)
        self.faults: tuple[FaultSpec, ...] = tuple(faults)
        self._writes: list[tuple[int, str, str, float | bool]] = []
        self._reset()

    def _reset(self) -> None:
        self._devices = {k: cls(self.seed, self.faults) for k, cls in _DEVICE_CLASSES.items()}
        self._tick = 0
        self._time = 0.0
        self._write_idx = 0
        self._compute_tick()

    @property
    def t(self) -> float:
        """Simulated seconds of the current values (a multiple of ``TICK_S``)."""
        return self._tick * TICK_S

    @property
    def version(self) -> tuple[int, int]:
        """Changes whenever the values may have (a tick, a write): what a cache of encoded
        values compares. Replay is exact, so an equal version means equal values."""
        return (self._tick, len(self._writes))

    def _compute_tick(self) -> None:
        """Tick every device at the current tick; a write logged at this tick lands right
        after it was computed, exactly as it did live."""
        t = self._tick * TICK_S
        for d in self._devices.values():
            d.tick(t)
        writes = self._writes
        while self._write_idx < len(writes) and writes[self._write_idx][0] <= self._tick:
            _, dev, point, value = writes[self._write_idx]
            self._apply_write(dev, point, value)
            self._write_idx += 1

    def _advance_ticks(self, target_tick: int) -> None:
        while self._tick < target_tick:
            self._tick += 1
            self._compute_tick()

    def _apply_write(self, device: str, point: str, value: float | bool) -> None:
        dev = self._devices[device]
        dev.write(point, value)
        dev.values[point] = bool(value) if dev.writable[point] is None else float(value)

    def step(self, dt: float = TICK_S) -> dict[str, Values]:
        """Advance simulated time by ``dt`` seconds and return the values now."""
        if not math.isfinite(dt) or dt < 0:
            raise ValueError(f"dt must be a finite number of seconds >= 0, got {dt!r}")
        self._time += dt
        target = math.floor(self._time / TICK_S + 1e-6)
        if target > self._tick:
            self._advance_ticks(target)
        return self.values()

    def values_at(self, t: float) -> dict[str, Values]:
        """Values at simulated time ``t`` (seconds from start); going back replays from zero."""
        if not math.isfinite(t) or t < 0:
            raise ValueError(f"t must be a finite number of seconds >= 0, got {t!r}")
        target = math.floor(t / TICK_S + 1e-6)
        if target < self._tick:
            self._reset()
        self._time = t
        if target > self._tick:
            self._advance_ticks(target)
        return self.values()

    def values(self) -> dict[str, Values]:
        """A copy of the current values: ``{device: {point: engineering value}}``."""
        return {k: dict(d.values) for k, d in self._devices.items()}

    def write(self, device: str, point: str, value: float | bool) -> None:
        """Apply an operator/client write (e.g. tank valve setpoint) from the current tick on.

        Raises KeyError for a point that is not writable in the physics, ValueError for a value
        outside what it accepts.
        """
        dev = self._devices.get(device)
        if dev is None:
            raise KeyError(f"unknown device '{device}'")
        if point not in dev.writable:
            raise KeyError(f"{device}.{point} is not writable")
        limits = dev.writable[point]
        if limits is not None:
            if isinstance(value, bool) or not math.isfinite(float(value)):
                raise ValueError(f"{device}.{point}: expected a finite number, got {value!r}")
            lo, hi = limits
            if not lo <= float(value) <= hi:
                raise ValueError(f"{device}.{point}: {value} outside [{lo:g}, {hi:g}]")
        self._writes.append((self._tick, device, point, value))
        self._write_idx += 1
        self._apply_write(device, point, value)

    def add_fault(self, spec: FaultSpec) -> FaultSpec:
        """Schedule a fault while running (operator training, tests). A fault that would start
        in the simulated past starts now instead, so replaying from zero stays exact."""
        if spec.start_s < self.t:
            spec = FaultSpec(spec.name, spec.device, self.t, spec.duration_s)
        self.faults = (*self.faults, spec)
        self._devices[spec.device].faults.append(spec)
        return spec

    def device_state(self, device: str) -> str:
        """'ok', 'dead' (does not answer) or 'exception' (answers with exception responses)."""
        t = self.t
        for f in self.faults:
            if f.device == device and f.name in ("dead", "exception") and f.active(t):
                return f.name
        return "ok"

    def active_faults(self) -> list[FaultSpec]:
        return [f for f in self.faults if f.active(self.t)]

    def run(self, duration_s: float, every_s: float = TICK_S) -> Trace:
        """Step forward ``duration_s`` seconds, recording every ``every_s`` seconds.

        10 minutes at 10 Hz is 6,000 rows; see tests/benchmarks/sim.py for the cost.
        """
        if every_s <= 0 or duration_s < 0:
            raise ValueError("duration_s must be >= 0 and every_s > 0")
        n = round(duration_s / every_s)
        first = self.values()
        keys = {
            dev: [p for p, x in vals.items() if not isinstance(x, str)] for dev, vals in first.items()
        }
        # itemgetter pulls a device's numeric values out as one tuple in C: recording costs
        # less than the physics instead of twice as much
        getters = {dev: operator.itemgetter(*ps) for dev, ps in keys.items()}
        rows: dict[str, list[tuple[float | bool, ...]]] = {dev: [] for dev in keys}
        times: list[float] = []
        start = self._time
        for i in range(1, n + 1):
            self._time = start + i * every_s
            self._advance_ticks(math.floor(self._time / TICK_S + 1e-6))  # no per-row copies
            times.append(self.t)
            for dev, d in self._devices.items():
                rows[dev].append(getters[dev](d.values))
        values: dict[str, dict[str, np.ndarray]] = {}
        for dev, ps in keys.items():
            table = np.asarray(rows[dev], dtype=float).reshape(len(rows[dev]), len(ps))
            values[dev] = {p: table[:, j].copy() for j, p in enumerate(ps)}
        return Trace(np.asarray(times), values)
