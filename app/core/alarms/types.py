"""The vocabulary of the alarm engine: states, priorities, kinds, the legal-transition table and
the read-only view the UI and CLI receive.

Kept apart from the engine so that the UI, the CLI and the tests can speak about alarms without
pulling in the engine's machinery, and so that the one table saying which transitions ISA-18.2
allows lives in exactly one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from app.core.errors import VigilError
from app.core.model import Value


class AlarmError(VigilError):
    """A refused alarm action (unknown id, acknowledging a normal alarm, ...). The message is
    meant for the operator as it stands."""


class AlarmState(enum.StrEnum):
    """ISA-18.2 alarm states. The string values are what the journal and the state table store;
    never rename them."""

    NORMAL = "normal"
    UNACK_ACTIVE = "unack_active"
    ACK_ACTIVE = "ack_active"
    UNACK_RTN = "unack_rtn"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"  # suppressed by design
    OUT_OF_SERVICE = "out_of_service"

    @property
    def annunciating(self) -> bool:
        """True when the alarm belongs on the operator's alarm list."""
        return self in _ANNUNCIATING

    @property
    def needs_ack(self) -> bool:
        return self in (AlarmState.UNACK_ACTIVE, AlarmState.UNACK_RTN)

    @property
    def is_suppressed(self) -> bool:
        """Shelved, suppressed by design or out of service: the condition is tracked, never shown."""
        return self in SUPPRESSION_STATES


_ANNUNCIATING = frozenset({AlarmState.UNACK_ACTIVE, AlarmState.ACK_ACTIVE, AlarmState.UNACK_RTN})
SUPPRESSION_STATES = frozenset({AlarmState.SHELVED, AlarmState.SUPPRESSED, AlarmState.OUT_OF_SERVICE})
ALARM_STATES = frozenset({AlarmState.NORMAL}) | _ANNUNCIATING


def _legal() -> frozenset[tuple[AlarmState, AlarmState]]:
    s = AlarmState
    pairs = {
        (s.NORMAL, s.UNACK_ACTIVE),  # condition rises
        (s.UNACK_ACTIVE, s.ACK_ACTIVE),  # operator acknowledges
        (s.UNACK_ACTIVE, s.UNACK_RTN),  # condition clears before anyone acknowledged
        (s.ACK_ACTIVE, s.NORMAL),  # condition clears after acknowledgement
        (s.UNACK_RTN, s.NORMAL),  # operator acknowledges the return to normal
        (s.UNACK_RTN, s.UNACK_ACTIVE),  # condition rises again before acknowledgement
    }
    # Any alarm may be shelved, suppressed or taken out of service, and one suppression may give
    # way to another (e.g. a shelved alarm taken out of service). Leaving suppression re-evaluates
    # the condition from scratch (ISA-18.2: back through normal), so it lands in NORMAL or
    # UNACK_ACTIVE - an active alarm re-annunciates rather than hiding behind an old acknowledgement.
    for a in ALARM_STATES | SUPPRESSION_STATES:
        for b in SUPPRESSION_STATES:
            if a != b:
                pairs.add((a, b))
    for a in SUPPRESSION_STATES:
        pairs.add((a, s.NORMAL))
        pairs.add((a, s.UNACK_ACTIVE))
    return frozenset(pairs)


#: every (from, to) pair the engine may produce; property tests check the journal against it
LEGAL_TRANSITIONS: frozenset[tuple[AlarmState, AlarmState]] = _legal()


class Priority(enum.IntEnum):
    """Alarm priority; higher is more urgent. Names match the profile field ``priority``."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    URGENT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | Priority) -> Priority:
        if isinstance(text, Priority):
            return text
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            known = ", ".join(p.label for p in cls)
            raise AlarmError(f"unknown priority '{text}' (known: {known})") from None


class AlarmKind(enum.StrEnum):
    """What raises the alarm; also the suffix of its id (``tank.level:HIHI``)."""

    LOLO = "LOLO"
    LO = "LO"
    HI = "HI"
    HIHI = "HIHI"
    STATE = "STATE"  # a bool point in its abnormal state
    BAD = "BAD"  # a point that has limits or an abnormal state cannot be read (not comm loss)
    COMM = "COMM"  # a device does not answer
    DEVICE = "DEVICE"  # a device answers, but refuses every read (Modbus exception responses)
    FEEDBACK = "FEEDBACK"  # a setpoint's process value does not follow it (valve stuck, ...)
    ANOMALY = "ANOMALY"  # a detector says the plant behaves unlike its training data
    SYSTEM = "SYSTEM"  # the station itself is in trouble (disk almost full, repeated log-in failures)


@dataclass(frozen=True, slots=True)
class AlarmDefinition:
    """What an alarm watches and how it is shown. Built once by ``configure``."""

    id: str
    kind: AlarmKind
    priority: Priority
    source: str  # the tag, the device, or (anomaly) the tag-or-device named by the detector
    device: str
    description: str = ""
    unit: str = ""
    limit: float | bool | None = None
    deadband: float = 0.0
    #: the condition must hold this long before the alarm activates. None: the kind's default
    #: (0 for point alarms; for COMM, the engine's ``comm_on_delay_s``) - so one lost reply
    #: does not annunciate a communication loss
    on_delay_s: float | None = None
    #: the condition must stay absent this long before the alarm clears (against chattering)
    off_delay_s: float = 0.0
    #: FEEDBACK alarms: the tag whose value must follow ``source`` (``limit`` is the tolerance)
    feedback: str | None = None
    #: register internals (address, word order, status bit) for diagnostics, never the list
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AlarmView:
    """A snapshot of one alarm as the UI and the CLI see it (immutable, safe across threads)."""

    id: str
    kind: str
    priority: str
    state: AlarmState
    condition: bool  # is the abnormal condition present right now (tracked even when shelved)
    source: str
    device: str
    description: str
    unit: str
    value: Value  # the value that last changed the condition (live values: the snapshot buffer)
    limit: float | bool | None
    activated_at: float | None  # when the condition became present (None while it is not)
    last_change: float | None
    acked_by: str | None = None
    acked_at: float | None = None
    shelved_by: str | None = None
    shelve_reason: str | None = None
    shelved_until: float | None = None
    out_of_service_by: str | None = None
    out_of_service_reason: str | None = None
    suppressed_reason: str | None = None
    explanation: str | None = None  # anomaly alarms: which tags contributed
    #: when this episode began: the alarm left normal (kept through ack and return to normal,
    #: so the row does not jump while the operator works it)
    first_out: float | None = None
    suppressed_by: str | None = None
    #: suppressed by design: the alarm whose condition hides this one (``design.py``)
    suppressed_rule: str | None = None
    shelved_at: float | None = None
    #: re-activated more often than the chattering limit within its window
    chattering: bool = False
    activations_recent: int = 0
    off_delay_s: float = 0.0
    detail: str = ""

    @property
    def annunciating(self) -> bool:
        return self.state.annunciating

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "priority": self.priority,
            "state": str(self.state),
            "condition": self.condition,
            "source": self.source,
            "device": self.device,
            "description": self.description,
            "unit": self.unit,
            "value": self.value,
            "limit": self.limit,
            "activated_at": self.activated_at,
            "last_change": self.last_change,
            "acked_by": self.acked_by,
            "acked_at": self.acked_at,
            "shelved_by": self.shelved_by,
            "shelve_reason": self.shelve_reason,
            "shelved_until": self.shelved_until,
            "out_of_service_by": self.out_of_service_by,
            "out_of_service_reason": self.out_of_service_reason,
            "suppressed_reason": self.suppressed_reason,
            "explanation": self.explanation,
            "first_out": self.first_out,
            "suppressed_by": self.suppressed_by,
            "suppressed_rule": self.suppressed_rule,
            "shelved_at": self.shelved_at,
            "chattering": self.chattering,
            "activations_recent": self.activations_recent,
            "off_delay_s": self.off_delay_s,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AlarmQuery:
    """Filters for the alarm history. Every field is optional; ``tag`` matches the alarm's
    source tag or device exactly, or its id; ``state`` matches the state an event led to."""

    since: float | None = None
    until: float | None = None
    tag: str | None = None
    priority: str | None = None
    state: str | None = None
    actor: str | None = None
    alarm_id: str | None = None
    limit: int = 10_000
    kinds: tuple[str, ...] = field(default=())  # event kinds, e.g. ("transition", "ack")
    #: part of an alarm id, tag, device or actor, case-insensitive (the window's search box)
    text: str | None = None
