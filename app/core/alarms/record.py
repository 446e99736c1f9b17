"""One alarm's mutable state, and its two outward forms: the immutable view handed to the UI and
the row stored in the state table (and read back at restart).

Kept out of the engine so the engine file is about decisions (conditions, transitions, timers),
and so the stored form and its validation on restore sit next to each other.
"""

from __future__ import annotations

import math
from typing import Any

from app.core.alarms.types import AlarmDefinition, AlarmState, AlarmView

S = AlarmState


def jsonable(v: Any) -> Any:
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
        "active_since",
        "condition",
        "d",
        "explanation",
        "last_change",
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
        self.value: Any = None
        self.pending_since: float | None = None  # on-delay running since
        self.active_since: float | None = None  # condition present since
        self.last_change: float | None = None
        self.acked_by: str | None = None
        self.acked_at: float | None = None
        self.shelved: tuple[str, str, float] | None = None  # (by, reason, until)
        self.oos: tuple[str, str] | None = None  # (by, reason)
        self.suppressed: tuple[str, str] | None = None  # (by, reason)
        self.explanation: str | None = None

    def suppression(self) -> AlarmState | None:
        if self.oos is not None:
            return S.OUT_OF_SERVICE
        if self.suppressed is not None:
            return S.SUPPRESSED
        if self.shelved is not None:
            return S.SHELVED
        return None

    def view(self) -> AlarmView:
        d = self.d
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
            shelved_by=self.shelved[0] if self.shelved else None,
            shelve_reason=self.shelved[1] if self.shelved else None,
            shelved_until=self.shelved[2] if self.shelved else None,
            out_of_service_by=self.oos[0] if self.oos else None,
            out_of_service_reason=self.oos[1] if self.oos else None,
            suppressed_reason=self.suppressed[1] if self.suppressed else None,
            explanation=self.explanation,
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
            "shelved": list(self.shelved) if self.shelved else None,
            "oos": list(self.oos) if self.oos else None,
            "suppressed": list(self.suppressed) if self.suppressed else None,
            "explanation": self.explanation,
        }

    def restore(self, row: dict[str, Any]) -> None:
        """Take state from a stored row; raises ValueError/TypeError/KeyError if it is malformed."""
        state = AlarmState(row["state"])
        shelved = row.get("shelved")
        oos = row.get("oos")
        sup = row.get("suppressed")
        self.shelved = (str(shelved[0]), str(shelved[1]), float(shelved[2])) if shelved else None
        self.oos = (str(oos[0]), str(oos[1])) if oos else None
        self.suppressed = (str(sup[0]), str(sup[1])) if sup else None
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
