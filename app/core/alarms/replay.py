"""Derive alarm states from the journal alone.

The state table in ``alarms.sqlite`` is a convenience; the journal is the record. This replays
``alarm.transition`` events and checks that they form an unbroken ISA-18.2 path per alarm (each
event starts where the previous one ended, and every step is a legal one), so the state table
can be compared with - and if need be rebuilt from - what the journal vouches for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.core.alarms.types import LEGAL_TRANSITIONS, AlarmState


@dataclass
class Replay:
    states: dict[str, str] = field(default_factory=dict)  # alarm id -> last state
    transitions: int = 0
    problems: list[str] = field(default_factory=list)  # empty when the journal's path is sound


def replay_transitions(events: Iterable[tuple[int, str, Mapping[str, Any]]]) -> Replay:
    """``events``: (seq, kind, body) in journal order; other kinds are skipped."""
    r = Replay()
    for seq, kind, body in events:
        if kind != "alarm.transition":
            continue
        r.transitions += 1
        aid = str(body.get("alarm"))
        frm, to = body.get("from"), body.get("to")
        try:
            pair = (AlarmState(frm), AlarmState(to))
        except ValueError:
            r.problems.append(f"seq {seq}: {aid}: unknown state in {frm!r} -> {to!r}")
            continue
        if pair not in LEGAL_TRANSITIONS:
            r.problems.append(f"seq {seq}: {aid}: illegal transition {frm} -> {to}")
        prev = r.states.get(aid, str(AlarmState.NORMAL))
        if prev != frm:
            r.problems.append(f"seq {seq}: {aid}: starts from {frm} but the journal left it {prev}")
        r.states[aid] = str(to)
    return r


def compare_with_table(replay: Replay, table: Mapping[str, str]) -> list[str]:
    """Differences between journal-derived states and the state table (alarm id -> state).
    Alarms the journal never mentions must be normal in the table."""
    out = []
    for aid in sorted(set(replay.states) | set(table)):
        j = replay.states.get(aid, str(AlarmState.NORMAL))
        t = table.get(aid, str(AlarmState.NORMAL))
        if j != t:
            out.append(f"{aid}: journal says {j}, state table says {t}")
    return out
