"""Read what the UI needs from an alarm view (`app.core.alarms.types.AlarmView`), in one place.

Widgets ask these helpers rather than poking at attributes, so the ISA-18.2 reading of a state
("does it belong on the list?", "is it acknowledged?") is written once and agrees everywhere.
"""

from __future__ import annotations

import re
import time
from typing import Any

from app.ui.formatting import format_value

PRIORITY_RANK = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
_ACTIVE = {"unack_active", "ack_active"}
_NEEDS_ACK = {"unack_active", "unack_rtn"}


def alarm_id(v: Any) -> str:
    return str(v.id)


def alarm_source(v: Any) -> str:
    """The tag (or, for communication alarms, the device) the alarm is about."""
    return str(v.source)


def priority(v: Any) -> str:
    p = v.priority
    return str(getattr(p, "label", p)).lower()


def priority_rank(v: Any) -> int:
    return PRIORITY_RANK.get(priority(v), 9)


def state(v: Any) -> str:
    return str(v.state)


def is_active(v: Any) -> bool:
    return state(v) in _ACTIVE


def is_acked(v: Any) -> bool:
    return state(v) not in _NEEDS_ACK


def is_shelved(v: Any) -> bool:
    return state(v) == "shelved"


def needs_attention(v: Any) -> bool:
    """On the operator's alarm list: active, or cleared but not yet acknowledged."""
    return state(v) in _ACTIVE | _NEEDS_ACK


def kind(v: Any) -> str:
    return str(v.kind)


def message(v: Any) -> str:
    text = v.description or ""
    if kind(v) == "ANOMALY" and getattr(v, "explanation", None):
        text = f"{text} — {v.explanation}" if text else str(v.explanation)
    return text


def time_of(v: Any) -> float | None:
    """When this episode began (first out): stays put while the alarm is worked, so rows do
    not jump; older views without it fall back to the activation, then the last change."""
    first = getattr(v, "first_out", None)
    if first is not None:
        return float(first)
    return v.activated_at if v.activated_at is not None else v.last_change


def last_change(v: Any) -> float | None:
    return v.last_change


def is_chattering(v: Any) -> bool:
    return bool(getattr(v, "chattering", False))


def shelve_text(v: Any) -> str:
    """Who shelved it, until when and why - for the list, the shelved view and tooltips."""
    if not is_shelved(v) and getattr(v, "shelved_by", None) is None:
        return ""
    until = getattr(v, "shelved_until", None)
    when = time.strftime("%H:%M", time.localtime(until)) if until else "?"
    return f"shelved by {v.shelved_by} until {when}: {v.shelve_reason or ''}".rstrip(": ")


def suppression_text(v: Any) -> str:
    """Why an alarm is off the list (suppressed by design, out of service), in words."""
    s = state(v)
    if s == "out_of_service":
        return f"out of service ({v.out_of_service_by}): {v.out_of_service_reason or ''}"
    if s == "suppressed":
        reason = getattr(v, "suppressed_reason", None) or ""
        return reason if reason.startswith("by design") else f"suppressed ({v.suppressed_by}): {reason}"
    if s == "shelved":
        return shelve_text(v)
    return ""


def state_label(v: Any) -> str:
    return {
        "unack_active": "ACTIVE, unacked",
        "ack_active": "active, acked",
        "unack_rtn": "cleared, unacked",
        "shelved": "shelved",
        "suppressed": "suppressed by design" if getattr(v, "suppressed_rule", None) else "suppressed",
        "out_of_service": "out of service",
        "normal": "normal",
    }.get(state(v), state(v))


#: how a BAD alarm's value (the quality name the engine recorded) reads to an operator
_BAD_CAUSE = {
    "BAD_DEVICE": "device error",
    "BAD_COMM": "no answer",
    "BAD_CONFIG": "config error",
    "STALE": "stale",
    "UNCERTAIN": "uncertain",
}
_EXCEPTION_CODE = re.compile(r"exception code (\d+)")
_SCORE_RATIO = re.compile(r"score ([\d.]+)x threshold")
_SEVERITY = re.compile(r"(?:peak )?severity (\d+)")  # the detectors' 0-100 figure, alarm at 50


def readable_cause(text: str) -> str:
    """A short operator's reading of a communication or device error text, e.g. "modbus tcp
    127.0.0.1:502: unit 2 answered exception code 4" -> "device error 4". The raw text starts
    with the link address, so cut to the column it is useless; the tooltip keeps it whole."""
    low = text.lower()
    code = _EXCEPTION_CODE.search(low)
    if code:
        return f"device error {code.group(1)}"
    if "no answer" in low or "timed out" in low or "timeout" in low:
        return "no answer"
    if "refused" in low:
        return "connection refused"
    if "not connected" in low or "connect" in low:
        return "not connected"
    if low.startswith("unusable value"):
        return "unusable value"
    tail = text.rsplit(": ", 1)[-1]
    return tail if len(tail) <= 24 else tail[:23] + "…"


def readable_value(v: Any, device_error: str | None = None) -> str:
    """The alarm list's Value cell: the value with its unit for limit, state and anomaly
    alarms; for BAD and COMM alarms a short cause ("no answer", "device error 4") rather than
    the engine's raw text. ``device_error`` is the device's last error from the runtime's
    diagnostics, which names the exception code a BAD_DEVICE quality alone does not."""
    k = kind(v)
    value = v.value
    if value is None:
        return "—"
    if k == "BAD":
        name = str(value)
        if name == "BAD_DEVICE" and device_error:
            cause = readable_cause(device_error)
            if cause.startswith("device error"):
                return cause
        return _BAD_CAUSE.get(name) or readable_cause(name)
    if k == "COMM":
        return readable_cause(str(value))
    if k == "DEVICE":
        if device_error and state(v) in _ACTIVE:
            cause = readable_cause(device_error)
            if cause.startswith("device error"):
                return cause
        return "device fault" if state(v) in _ACTIVE else readable_cause(str(value))
    if k == "ANOMALY" and isinstance(value, str):
        # the detector's explanation: the column shows its severity (older text: the ratio)
        sev = _SEVERITY.search(value)
        if sev is not None:
            return f"severity {sev.group(1)}"
        ratio = _SCORE_RATIO.search(value)
        if ratio is None:
            return readable_cause(value)
        r = float(ratio.group(1))
        return f"{r:,.1f}× threshold" if r < 100 else f"{r:,.0f}× threshold"
    unit = getattr(v, "unit", "") or ""
    return format_value(value) + (f" {unit}" if unit else "")


def full_value(v: Any, device_error: str | None = None) -> str:
    """Everything known about the value, for the tooltip: the raw text the cell shortened."""
    parts = [str(v.value) if v.value is not None else "no value"]
    if kind(v) in ("BAD", "DEVICE") and device_error:
        parts.append(f"device: {device_error}")
    if getattr(v, "detail", ""):
        parts.append(str(v.detail))  # register internals: diagnostics, not the list
    return "\n".join(parts)


_STATE_RANK = {"unack_active": 0, "ack_active": 1, "unack_rtn": 2}


def importance(v: Any) -> tuple[int, int]:
    """Sort key, most important first: priority, then an unacknowledged active alarm before an
    acknowledged one before one that has cleared."""
    return priority_rank(v), _STATE_RANK.get(state(v), 3)


def cell_label(v: Any) -> str:
    """What the tag table's Alarm cell says: the kind (HI, BAD, COMM...) and the state. The
    priority is carried by the colour only: "low: ACTIVE" beside a voltage read as a LOW
    voltage alarm when it was a low-priority BAD-value alarm."""
    return f"{kind(v)}: {state_label(v)}"
