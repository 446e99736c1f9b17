"""Suppression by design (ISA-18.2): which alarms hide which, when the cause is known.

The rules are few and fixed, so an operator can predict them:

- a point's BAD alarm, and a setpoint's FEEDBACK alarm, are suppressed while its device has a
  COMM (not answering) or DEVICE (answering with exceptions) alarm: one fault, one alarm;
- HI is suppressed while HIHI of the same tag is active, LO while LOLO is.

A suppressed alarm keeps its condition tracked and stays visible in the suppressed view and in
the history; when its cause clears it returns through normal (or straight to unacknowledged
active if its own condition still holds).
"""

from __future__ import annotations

from collections.abc import Iterable

from app.core.alarms.definitions import alarm_id
from app.core.alarms.types import AlarmDefinition, AlarmKind


def suppressors(d: AlarmDefinition) -> tuple[str, ...]:
    """Ids of the alarms whose active condition suppresses ``d``."""
    if d.kind in (AlarmKind.BAD, AlarmKind.FEEDBACK):
        return alarm_id(d.device, AlarmKind.COMM), alarm_id(d.device, AlarmKind.DEVICE)
    if d.kind is AlarmKind.HI:
        return (alarm_id(d.source, AlarmKind.HIHI),)
    if d.kind is AlarmKind.LO:
        return (alarm_id(d.source, AlarmKind.LOLO),)
    return ()


def dependents(definitions: Iterable[AlarmDefinition]) -> dict[str, list[str]]:
    """cause alarm id -> ids of the alarms it suppresses (only causes that exist)."""
    defs = list(definitions)
    known = {d.id for d in defs}
    out: dict[str, list[str]] = {}
    for d in defs:
        for cause in suppressors(d):
            if cause in known:
                out.setdefault(cause, []).append(d.id)
    return out


def reason(cause: AlarmDefinition) -> str:
    """The suppression reason recorded (journal, history, suppressed view), in plant words."""
    if cause.kind is AlarmKind.COMM:
        return f"by design: {cause.device} is not answering ({cause.id})"
    if cause.kind is AlarmKind.DEVICE:
        return f"by design: {cause.device} reports a device fault ({cause.id})"
    return f"by design: {cause.id} is active"
