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
            pair = (AlarmState(str(frm)), AlarmState(str(to)))
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


_FLAG_ACTIONS = {
    "alarm.shelve": ("shelved", True),
    "alarm.unshelve": ("shelved", False),
    "alarm.out_of_service": ("oos", True),
    "alarm.return_to_service": ("oos", False),
    "alarm.suppress": ("suppressed", True),
    "alarm.unsuppress": ("suppressed", False),
}


def rebuild_rows(events: Iterable[tuple[int, str, str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """State-table rows (the fields the engine restores) rebuilt from journal events
    ``(seq, kind, actor, body)``. Used at start when the state table and the journal disagree:
    the journal is the authority. The condition of an alarm that was suppressed is not journaled
    (it never annunciated), so it comes back unknown (False) and the next sample settles it."""
    rows: dict[str, dict[str, Any]] = {}
    for _seq, kind, actor, body in events:
        if not kind.startswith("alarm.") or "alarm" not in body:
            continue
        aid = str(body["alarm"])
        row = rows.get(aid)
        if row is None:
            row = rows[aid] = {
                "state": str(AlarmState.NORMAL), "condition": False, "value": None,
                "active_since": None, "last_change": None, "acked_by": None, "acked_at": None,
                "shelved": None, "oos": None, "suppressed": None, "explanation": None,
                "kind": "ANOMALY" if aid.startswith("anomaly:") else None,
                "priority": body.get("priority"), "source": body.get("source"),
            }
        t = body.get("t")
        if kind == "alarm.transition":
            to = AlarmState(body["to"]) if body.get("to") in AlarmState._value2member_map_ else None
            if to is None:
                continue
            row["state"] = str(to)
            row["last_change"] = t
            row["value"] = body.get("value")
            if to is AlarmState.UNACK_ACTIVE:
                row["acked_by"] = row["acked_at"] = None
                if not row["condition"]:
                    row["active_since"] = t
                row["condition"] = True
            elif to is AlarmState.ACK_ACTIVE:
                row["condition"] = True
            elif to in (AlarmState.NORMAL, AlarmState.UNACK_RTN):
                row["condition"] = False
                row["active_since"] = None
        elif kind == "alarm.ack":
            row["acked_by"], row["acked_at"] = actor, t
        elif kind in _FLAG_ACTIONS:
            name, on = _FLAG_ACTIONS[kind]
            reason = str(body.get("reason", ""))
            if not on:
                row[name] = None
            elif name == "shelved":
                row[name] = [actor, reason, float(body.get("until", 0.0)), t]
            elif name == "suppressed":
                row[name] = [actor, reason, body.get("by_design")]
            else:
                row[name] = [actor, reason]
    return rows
