"""Read what the UI needs from an alarm view (`app.core.alarms.types.AlarmView`), in one place.

Widgets ask these helpers rather than poking at attributes, so the ISA-18.2 reading of a state
("does it belong on the list?", "is it acknowledged?") is written once and agrees everywhere.
"""

from __future__ import annotations

from typing import Any

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
    return v.activated_at if v.activated_at is not None else v.last_change


def state_label(v: Any) -> str:
    return {
        "unack_active": "ACTIVE, unacked",
        "ack_active": "active, acked",
        "unack_rtn": "cleared, unacked",
        "shelved": "shelved",
        "suppressed": "suppressed",
        "out_of_service": "out of service",
        "normal": "normal",
    }.get(state(v), state(v))


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
