"""ISA-18.2 alarm management: limit, discrete, bad-quality, comm-loss and anomaly alarms, their
state model, shelving, suppression, flood detection, KPIs and history - all journaled.

Use :class:`AlarmEngine`; the rest are the types it speaks in.
"""

from app.core.alarms.definitions import DEFAULT_PRIORITY, alarm_id, plant_alarms
from app.core.alarms.engine import AlarmEngine, JournalLike
from app.core.alarms.replay import Replay, compare_with_table, replay_transitions
from app.core.alarms.store import StoreError, query_events, read_states
from app.core.alarms.types import (
    LEGAL_TRANSITIONS,
    AlarmDefinition,
    AlarmError,
    AlarmKind,
    AlarmQuery,
    AlarmState,
    AlarmView,
    Priority,
)

__all__ = [
    "DEFAULT_PRIORITY",
    "LEGAL_TRANSITIONS",
    "AlarmDefinition",
    "AlarmEngine",
    "AlarmError",
    "AlarmKind",
    "AlarmQuery",
    "AlarmState",
    "AlarmView",
    "JournalLike",
    "Priority",
    "Replay",
    "StoreError",
    "alarm_id",
    "compare_with_table",
    "plant_alarms",
    "query_events",
    "read_states",
    "replay_transitions",
]
