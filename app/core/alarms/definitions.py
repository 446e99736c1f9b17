"""Which alarms a plant has, derived from its device profiles.

One rule per source, chosen so an operator sees each cause once:
- every analog point with limits gets one alarm per limit (``tank.level:HI``, ``:HIHI``, ...);
- every bool point with ``alarm_state`` gets a discrete alarm (``pump.fault:STATE``);
- every point that has any of those also gets a bad-quality alarm (``tank.level:BAD``): losing
  the value of a point that protects something is worth telling; a bad value on an unalarmed
  point is already shown as bad on the screen and would only add noise;
- every enabled device gets one communication-loss alarm (``pump:COMM``). A dead link makes every
  point of the device BAD_COMM at once; that cause is announced once, by the device, never by
  each point;
- every enabled device gets one device-fault alarm (``meter:DEVICE``): it answers, but with
  exception responses for everything it is asked. Its points' BAD alarms are suppressed by
  design meanwhile (see ``design.py``): one fault, one alarm;
- a writable point that names its ``feedback`` point gets a deviation alarm
  (``tank.valve_setpoint:FEEDBACK``) when the feedback stays away from the setpoint longer than
  ``feedback_time_s``: a read-back of the setpoint register proves nothing about the valve.
"""

from __future__ import annotations

from app.core.alarms.types import AlarmDefinition, AlarmKind, Priority
from app.core.model import tag_name
from app.core.plant import Plant
from app.core.profiles import Point

#: default priorities (a point's ``priority`` field overrides them for all of its alarms)
DEFAULT_PRIORITY: dict[AlarmKind, Priority] = {
    AlarmKind.HIHI: Priority.HIGH,
    AlarmKind.LOLO: Priority.HIGH,
    AlarmKind.HI: Priority.MEDIUM,
    AlarmKind.LO: Priority.MEDIUM,
    AlarmKind.STATE: Priority.MEDIUM,
    AlarmKind.BAD: Priority.LOW,
    AlarmKind.COMM: Priority.HIGH,
    AlarmKind.DEVICE: Priority.HIGH,
    AlarmKind.FEEDBACK: Priority.MEDIUM,
    AlarmKind.ANOMALY: Priority.MEDIUM,
    AlarmKind.SYSTEM: Priority.HIGH,
}

_LIMIT_KINDS = (AlarmKind.LOLO, AlarmKind.LO, AlarmKind.HI, AlarmKind.HIHI)
HIGH_KINDS = frozenset({AlarmKind.HI, AlarmKind.HIHI})


def alarm_id(source: str, kind: AlarmKind | str) -> str:
    """Alarm ids are ``<tag or device>:<KIND>`` (anomaly alarms: ``anomaly:<source id>``)."""
    if kind == AlarmKind.ANOMALY:
        return f"anomaly:{source}"
    return f"{source}:{kind}"


def register_detail(point: Point, word_order: str | None = None) -> str:
    """Where the value lives in the device: for diagnostics (tooltips, the CLI), never the
    alarm list's message."""
    where = f"{point.table} register {point.address} (0-based), {point.type}"
    if point.bit is not None:
        where += f", bit {point.bit}"
    if word_order and point.width > 1 and str(point.type) not in ("string", "bool"):
        where += f", word order {word_order}"
    return where


def feedback_tolerance(point: Point) -> float:
    """How far a setpoint's feedback may differ from it: the profile's ``feedback_tolerance``,
    else 5 % of the write range (0-100 when the range is open)."""
    if point.feedback_tolerance is not None:
        return float(point.feedback_tolerance)
    span = (point.max - point.min) if point.max is not None and point.min is not None else 100.0
    return max(abs(span) * 0.05, 1e-9)


def point_alarms(device: str, point: Point, word_order: str | None = None) -> list[AlarmDefinition]:
    tag = tag_name(device, point.name)
    override = Priority.parse(point.priority) if point.priority else None
    label = point.description or point.name
    detail = register_detail(point, word_order)
    out: list[AlarmDefinition] = []
    for kind in _LIMIT_KINDS:
        limit = getattr(point, kind.lower())
        if limit is None:
            continue
        word = {"LOLO": "low-low", "LO": "low", "HI": "high", "HIHI": "high-high"}[kind]
        out.append(
            AlarmDefinition(
                id=alarm_id(tag, kind),
                kind=kind,
                priority=override or DEFAULT_PRIORITY[kind],
                source=tag,
                device=device,
                description=f"{label} {word}",
                unit=point.unit,
                limit=float(limit),
                deadband=point.deadband,
                on_delay_s=point.on_delay_s,
                off_delay_s=point.off_delay_s,
                detail=detail,
            )
        )
    if point.alarm_state is not None:
        out.append(
            AlarmDefinition(
                id=alarm_id(tag, AlarmKind.STATE),
                kind=AlarmKind.STATE,
                priority=override or DEFAULT_PRIORITY[AlarmKind.STATE],
                source=tag,
                device=device,
                description=f"{label} is {'on' if point.alarm_state else 'off'}",
                unit=point.unit,
                limit=point.alarm_state,
                on_delay_s=point.on_delay_s,
                off_delay_s=point.off_delay_s,
                detail=detail,
            )
        )
    if out:
        out.append(
            AlarmDefinition(
                id=alarm_id(tag, AlarmKind.BAD),
                kind=AlarmKind.BAD,
                priority=DEFAULT_PRIORITY[AlarmKind.BAD],
                source=tag,
                device=device,
                description=f"{label}: no usable reading (its alarms cannot see)",
                unit=point.unit,
                detail=detail,
            )
        )
    if point.feedback is not None:
        tolerance = feedback_tolerance(point)
        out.append(
            AlarmDefinition(
                id=alarm_id(tag, AlarmKind.FEEDBACK),
                kind=AlarmKind.FEEDBACK,
                priority=override or DEFAULT_PRIORITY[AlarmKind.FEEDBACK],
                source=tag,
                device=device,
                description=f"{label} does not follow its setpoint",
                unit=point.unit,
                limit=float(tolerance),
                on_delay_s=point.feedback_time_s,
                feedback=tag_name(device, point.feedback),
                detail=f"feedback {tag_name(device, point.feedback)} must come within "
                       f"{tolerance:g} {point.unit} in {point.feedback_time_s:g} s".strip(),
            )
        )
    return out


def plant_alarms(plant: Plant) -> list[AlarmDefinition]:
    """Every alarm of every enabled device, in plant order."""
    out: list[AlarmDefinition] = []
    for dev in plant.enabled_devices():
        out.append(
            AlarmDefinition(
                id=alarm_id(dev.name, AlarmKind.COMM),
                kind=AlarmKind.COMM,
                priority=DEFAULT_PRIORITY[AlarmKind.COMM],
                source=dev.name,
                device=dev.name,
                description=f"{dev.description or dev.name}: communication lost",
            )
        )
        out.append(
            AlarmDefinition(
                id=alarm_id(dev.name, AlarmKind.DEVICE),
                kind=AlarmKind.DEVICE,
                priority=DEFAULT_PRIORITY[AlarmKind.DEVICE],
                source=dev.name,
                device=dev.name,
                description=f"{dev.description or dev.name}: device fault, it refuses to give values",
            )
        )
        profile = plant.profiles[dev.name]
        for point in profile.points:
            out.extend(point_alarms(dev.name, point, profile.word_order(point)))
    return out


def vital_sign_devices(plant: Plant) -> frozenset[str]:
    """The devices whose values are patient data: their profile says ``alarm_signals =
    "medical"`` (bedside monitors). Their values stay out of the journal."""
    return frozenset(name for name, profile in plant.profiles.items()
                     if profile.device.alarm_signals == "medical")
