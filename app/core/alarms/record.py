"""One alarm's mutable state, and its two outward forms: the immutable view handed to the UI and
the row stored in the state table (and read back at restart).

Kept out of the engine so the engine file is about decisions (conditions, transitions, timers),
and so the stored form and its validation on restore sit next to each other.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

from app.core.alarms.types import AlarmDefinition, AlarmState, AlarmView
from app.core.model import Value

S = AlarmState

#: the actor recorded for suppression by design (the engine's own rules, not an operator)
SYSTEM = "system"


class Chatter(NamedTuple):
    """An alarm that activated more than ``times`` times within ``window_s`` is chattering."""

    times: int
    window_s: float


@dataclass(frozen=True, slots=True)
class Shelf:
    """Who shelved an alarm, why, until when (epoch s), and when they did."""

    by: str
    reason: str
    until: float
    at: float | None = None


@dataclass(frozen=True, slots=True)
class Suppression:
    """Who took an alarm away from the list (out of service, or suppressed) and why. ``rule``
    names the alarm whose condition suppresses it by design (the engine's own rules, see
    ``design.py``); None when a person did it."""

    by: str
    reason: str
    rule: str | None = None

    @property
    def by_design(self) -> bool:
        return self.rule is not None


def jsonable(v: object) -> Value:
    """Values as the journal accepts them: NaN/Infinity become strings, odd types their repr."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    return str(v)


class AlarmRecord:
    """Mutable state of one alarm. Only the engine touches it, under its lock; everyone else
    gets an immutable :class:`AlarmView` from :meth:`view`."""

    __slots__ = (
        "acked_at",
        "acked_by",
        "activations",
        "active_since",
        "condition",
        "d",
        "episode_start",
        "explanation",
        "last_change",
        "off_delay_override",
        "off_pending_since",
        "oos",
        "pending_since",
        "shelved",
        "state",
        "suppressed",
        "value",
    )

    def __init__(self, d: AlarmDefinition):
        self.d = d
        self.state = S.NORMAL
        self.condition = False
        self.value: Value = None
        self.pending_since: float | None = None  # on-delay running since
        self.active_since: float | None = None  # condition present since
        self.last_change: float | None = None
        self.acked_by: str | None = None
        self.acked_at: float | None = None
        self.off_pending_since: float | None = None  # off-delay running since
        self.shelved: Shelf | None = None
        self.oos: Suppression | None = None
        self.suppressed: Suppression | None = None
        self.explanation: str | None = None
        self.episode_start: float | None = None  # left normal at (first-out time)
        #: recent activation times, for the chattering flag (bounded)
        self.activations: deque[float] = deque(maxlen=32)
        #: an off-delay set from the window (engineer), overriding the profile's
        self.off_delay_override: float | None = None

    @property
    def off_delay_s(self) -> float:
        o = self.off_delay_override
        return self.d.off_delay_s if o is None else o

    def recent_activations(self, now: float, window_s: float) -> int:
        return sum(1 for t in self.activations if t > now - window_s)

    def suppression(self) -> AlarmState | None:
        """Out of service wins, then an operator's suppression, then a shelf (an operator's
        own decision stays what the list shows), then suppression by design."""
        if self.oos is not None:
            return S.OUT_OF_SERVICE
        if self.suppressed is not None and not self.suppressed.by_design:
            return S.SUPPRESSED
        if self.shelved is not None:
            return S.SHELVED
        if self.suppressed is not None:
            return S.SUPPRESSED
        return None

    def view(self, chatter: Chatter | None = None) -> AlarmView:
        """``chatter``: flag the alarm when it activated more than ``chatter.times`` times
        within the last ``chatter.window_s`` (measured from its last activation)."""
        d = self.d
        recent = 0
        if chatter is not None and self.activations:
            recent = self.recent_activations(self.activations[-1] + 1e-9, chatter.window_s)
        return AlarmView(
            id=d.id,
            kind=str(d.kind),
            priority=d.priority.label,
            state=self.state,
            condition=self.condition,
            source=d.source,
            device=d.device,
            description=d.description,
            unit=d.unit,
            value=self.value,
            limit=d.limit,
            activated_at=self.active_since,
            last_change=self.last_change,
            acked_by=self.acked_by,
            acked_at=self.acked_at,
            shelved_by=self.shelved.by if self.shelved else None,
            shelve_reason=self.shelved.reason if self.shelved else None,
            shelved_until=self.shelved.until if self.shelved else None,
            out_of_service_by=self.oos.by if self.oos else None,
            out_of_service_reason=self.oos.reason if self.oos else None,
            suppressed_reason=self.suppressed.reason if self.suppressed else None,
            explanation=self.explanation,
            first_out=self.episode_start,
            suppressed_by=self.suppressed.by if self.suppressed else None,
            suppressed_rule=self.suppressed.rule if self.suppressed else None,
            shelved_at=self.shelved.at if self.shelved else None,
            chattering=chatter is not None and recent > chatter.times,
            activations_recent=recent,
            off_delay_s=self.off_delay_s,
            detail=d.detail,
        )

    def to_row(self) -> dict[str, Any]:
        """The state-table document: enough to restore, and to list without the plant."""
        d = self.d
        return {
            "kind": str(d.kind),
            "priority": d.priority.label,
            "source": d.source,
            "device": d.device,
            "description": d.description,
            "unit": d.unit,
            "limit": jsonable(d.limit),
            "state": str(self.state),
            "condition": self.condition,
            "value": jsonable(self.value),
            "active_since": self.active_since,
            "last_change": self.last_change,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at,
            "shelved": [self.shelved.by, self.shelved.reason, self.shelved.until, self.shelved.at]
            if self.shelved else None,
            "oos": [self.oos.by, self.oos.reason] if self.oos else None,
            "suppressed": [self.suppressed.by, self.suppressed.reason, self.suppressed.rule]
            if self.suppressed else None,
            "explanation": self.explanation,
            "first_out": self.episode_start,
            "off_delay_override": self.off_delay_override,
        }

    def restore(self, row: dict[str, Any]) -> None:
        """Take state from a stored row; raises ValueError/TypeError/KeyError if it is malformed."""
        state = AlarmState(row["state"])
        shelved = row.get("shelved")
        oos = row.get("oos")
        sup = row.get("suppressed")
        self.shelved = (
            Shelf(str(shelved[0]), str(shelved[1]), float(shelved[2]),
                  float(shelved[3]) if len(shelved) > 3 and shelved[3] is not None else None)
            if shelved else None
        )
        self.oos = Suppression(str(oos[0]), str(oos[1])) if oos else None
        self.suppressed = (
            Suppression(str(sup[0]), str(sup[1]), str(sup[2]) if len(sup) > 2 and sup[2] else None)
            if sup else None
        )
        expected = self.suppression()
        if state.is_suppressed != (expected is not None) or (expected and state != expected):
            raise ValueError(f"state '{state}' contradicts its shelve/suppress/service fields")
        condition = bool(row.get("condition", False))
        if not state.is_suppressed and condition != (state in (S.UNACK_ACTIVE, S.ACK_ACTIVE)):
            raise ValueError(f"state '{state}' contradicts condition={condition}")
        self.state = state
        self.condition = condition
        self.value = row.get("value")
        self.active_since = row.get("active_since")
        self.last_change = row.get("last_change")
        self.acked_by = row.get("acked_by")
        self.acked_at = row.get("acked_at")
        self.explanation = row.get("explanation")
        first = row.get("first_out")
        self.episode_start = float(first) if isinstance(first, (int, float)) else (
            self.last_change if state is not S.NORMAL else None)
        od = row.get("off_delay_override")
        self.off_delay_override = float(od) if isinstance(od, (int, float)) else None
