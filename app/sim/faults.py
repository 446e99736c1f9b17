"""Scheduled faults for the demo plant: parsing ``name[:device][@start_s][+duration_s]``.

Kept apart from the physics so the CLI can validate ``--faults`` before anything starts, and so
the server can ask "is this device dead / answering with exceptions now?" without knowing any
physics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.errors import VigilError

DEVICES: tuple[str, ...] = ("pump", "meter", "tank", "vitals")

#: fault name -> (what it does, default device or None when a device must be named,
#: devices it applies to)
FAULTS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "cavitation": (
        "pump cavitates: both vibration channels rise clearly, flow and pressure drop and flutter",
        "pump",
        ("pump",),
    ),
    "stuck_valve": (
        "tank inlet valve fails wide open and ignores its setpoint (the tank can overflow)",
        "tank",
        ("tank",),
    ),
    "sensor_drift": (
        "one sensor drifts away from the truth (pump thermocouple, meter L1 voltage, "
        "tank level, vitals SpO2)",
        "pump",
        DEVICES,
    ),
    "dead": ("the device stops answering Modbus requests entirely", None, DEVICES),
    "exception": (
        "the device answers every request with Modbus exception 4 (server device failure)",
        None,
        DEVICES,
    ),
}

_SPEC_RE = re.compile(
    r"^(?P<name>[a-z_]+)(?::(?P<device>[a-z_]+))?(?:@(?P<start>[^+]+))?(?:\+(?P<dur>.+))?$"
)


class FaultSpecError(VigilError):
    """A ``--faults`` entry that cannot be understood; the message names the entry and why."""


@dataclass(frozen=True)
class FaultSpec:
    """One scheduled fault. ``duration_s`` None means "until the simulation ends"."""

    name: str
    device: str
    start_s: float = 0.0
    duration_s: float | None = None

    def __post_init__(self) -> None:
        problem = _check(self.name, self.device, self.start_s, self.duration_s)
        if problem:
            raise FaultSpecError(f"fault '{self}': {problem}")

    def active(self, t: float) -> bool:
        """True while simulated time ``t`` lies in [start, start + duration)."""
        if t < self.start_s:
            return False
        return self.duration_s is None or t < self.start_s + self.duration_s

    def elapsed(self, t: float) -> float:
        """Seconds since the fault started (0 before it)."""
        return max(0.0, t - self.start_s)

    def __str__(self) -> str:
        s = f"{self.name}:{self.device}@{self.start_s:g}"
        return s if self.duration_s is None else f"{s}+{self.duration_s:g}"


def _check(name: str, device: str, start: float, duration: float | None) -> str | None:
    if name not in FAULTS:
        return f"unknown fault '{name}' (known: {', '.join(sorted(FAULTS))})"
    allowed = FAULTS[name][2]
    if device not in allowed:
        return f"fault '{name}' applies to {', '.join(allowed)}, not '{device}'"
    if not math.isfinite(start) or start < 0:
        return "start must be a number of seconds >= 0"
    if duration is not None and (not math.isfinite(duration) or duration <= 0):
        return "duration must be a number of seconds > 0"
    return None


def _seconds(text: str, what: str, entry: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(
            f"fault '{entry}': {what} '{text}' is not a number of seconds"
        ) from None
    return value


def parse_fault(entry: str) -> FaultSpec:
    """Parse one entry such as ``cavitation@60``, ``stuck_valve@30+120``, ``dead:vitals@45+30``.

    The device may be omitted for faults that have a natural home (cavitation -> pump,
    stuck_valve -> tank, sensor_drift -> pump); ``dead`` and ``exception`` must name one.
    """
    text = entry.strip()
    m = _SPEC_RE.match(text)
    if not m:
        raise FaultSpecError(
            f"fault '{entry}': expected name[:device][@start_s][+duration_s], "
            "e.g. cavitation@60 or dead:vitals@45+30"
        )
    name = m["name"]
    if name not in FAULTS:
        raise FaultSpecError(f"fault '{entry}': unknown fault '{name}' (known: {', '.join(sorted(FAULTS))})")
    device = m["device"] or FAULTS[name][1]
    if device is None:
        raise FaultSpecError(
            f"fault '{entry}': '{name}' needs a device, e.g. {name}:meter@20+10 "
            f"(devices: {', '.join(DEVICES)})"
        )
    start = _seconds(m["start"], "start", entry) if m["start"] is not None else 0.0
    duration = _seconds(m["dur"], "duration", entry) if m["dur"] is not None else None
    problem = _check(name, device, start, duration)
    if problem:
        raise FaultSpecError(f"fault '{entry}': {problem}")
    return FaultSpec(name, device, start, duration)


def parse_faults(text: str | Iterable[str] | None) -> list[FaultSpec]:
    """Parse a comma- (or space-) separated list, or an iterable of entries. Empty -> []."""
    if text is None:
        return []
    entries = re.split(r"[,\s]+", text) if isinstance(text, str) else list(text)
    return [parse_fault(e) for e in entries if e and e.strip()]


def describe_faults() -> str:
    """Human help text for ``vigil sim --help``."""
    return "; ".join(f"{name}: {info[0]}" for name, info in FAULTS.items())
