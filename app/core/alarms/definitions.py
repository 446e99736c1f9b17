"""Which alarms a plant has, derived from its device profiles.

One rule per source, chosen so an operator sees each cause once:
- every analog point with limits gets one alarm per limit (``tank.level:HI``, ``:HIHI``, ...);
- every bool point with ``alarm_state`` gets a discrete alarm (``pump.fault:STATE``);
- every point that has any of those also gets a bad-quality alarm (``tank.level:BAD``): losing
  the value of a point that protects something is worth telling; a bad value on an unalarmed
  point is already shown as bad on the screen and would only add noise;
- every enabled device gets one communication-loss alarm (``pump:COMM``). A dead link makes every
  point of the device BAD_COMM at once; that cause is announced once, by the device, never by
  each point.
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
    AlarmKind.ANOMALY: Priority.MEDIUM,
}

_LIMIT_KINDS = (AlarmKind.LOLO, AlarmKind.LO, AlarmKind.HI, AlarmKind.HIHI)
HIGH_KINDS = frozenset({AlarmKind.HI, AlarmKind.HIHI})


def alarm_id(source: str, kind: AlarmKind | str) -> str:
    """Alarm ids are ``<tag or device>:<KIND>`` (anomaly alarms: ``anomaly:<source id>``)."""
    if kind == AlarmKind.ANOMALY:
        return f"anomaly:{source}"
    return f"{source}:{kind}"


def point_alarms(device: str, point: Point) -> list[AlarmDefinition]:
    tag = tag_name(device, point.name)
    override = Priority.parse(point.priority) if point.priority else None
    label = point.description or point.name
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
                description=f"{label}: value cannot be trusted (alarms on it are blind)",
                unit=point.unit,
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
        for point in plant.profiles[dev.name].points:
            out.extend(point_alarms(dev.name, point))
    return out
