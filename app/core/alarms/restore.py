"""Restore the previous run's alarm states at start: the state table, checked against the journal.

The state table is a cache written by its own thread; the journal is signed. So every alarm's
row is compared with what the journal's alarm events say, and where they disagree the journal
wins and the disagreement is journaled as critical. Anomaly alarms come back even though no
plant profile defines them (their detectors raise them again).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from app.core.alarms.definitions import DEFAULT_PRIORITY
from app.core.alarms.machine import AlarmMachine
from app.core.alarms.record import AlarmRecord
from app.core.alarms.replay import rebuild_rows
from app.core.alarms.types import AlarmDefinition, AlarmError, AlarmKind, AlarmState, Priority

S = AlarmState
#: a stored state-table row, as JSON decoded it
Row = dict[str, Any]


def restore_states(machine: AlarmMachine, now: float) -> None:
    """Take the previous run's states into ``machine``'s alarms (configured already) and journal
    ``alarm.restored`` saying what came back, what did not, and who was trusted."""
    store = machine.store
    table = store.load_states()
    from_journal, journal_note = _journal_rows(machine)
    rows: dict[str, Row] = {}
    disagree: list[str] = []
    journal_won: set[str] = set()
    for aid in sorted(set(table) | set(from_journal or {})):
        t = table.get(aid)
        if from_journal is None:
            if t is not None:
                rows[aid] = t
            continue
        j = from_journal.get(aid)
        t_key = restore_key(t)
        j_key = restore_key(j)
        if t is not None and t_key == j_key:
            rows[aid] = t
        else:
            disagree.append(f"{aid}: table {t_key}, journal {j_key}")
            journal_won.add(aid)
            rows[aid] = {**(t or {}), **(j or {"state": str(S.NORMAL), "condition": False})}
    restored: Counter[str] = Counter()
    problems: list[str] = []
    unknown: list[str] = []
    alarms = machine.alarms
    for aid, row in rows.items():
        a = alarms.get(aid)
        if a is None and row.get("kind") in (AlarmKind.ANOMALY, AlarmKind.SYSTEM):
            a = alarms[aid] = AlarmRecord(anomaly_definition(aid, row))
        if a is None:
            if row.get("state", str(S.NORMAL)) != S.NORMAL or aid in table:
                unknown.append(aid)
            if aid in table:
                store.delete_state(aid)
            continue
        try:
            a.restore(row)
        except (ValueError, TypeError, KeyError, IndexError) as e:
            problems.append(f"{aid}: {e}")
            a.__init__(a.d)  # type: ignore[misc]  # in place: the evaluator's watches hold it
            continue
        restored[str(a.state)] += 1
        if aid in journal_won:
            store.put_state(aid, a.to_row())
        if a.shelved:
            machine.push_shelf(a.shelved.until, aid, now)
    machine.stats.seed(store.recent_activations(now - 24 * 3600.0))
    machine.journal_append(
        "alarm.restored",
        "system",
        {
            "from": str(store.path),
            "alarms": len(alarms),
            "restored": sum(restored.values()),
            "states": dict(sorted(restored.items())),
            "vouched_by_journal": from_journal is not None and not disagree,
            "journal_wins": disagree[:100],
            "journal_unavailable": journal_note,
            "no_longer_configured": sorted(unknown)[:100],
            "unreadable": problems[:100],
            "t": now,
        },
        critical=bool(problems or disagree or journal_note),
    )


def restore_key(row: Row | None) -> str:
    """What must agree between the state table and the journal: the state and which
    suppressions are on."""
    if row is None:
        return "normal"
    flags = [n for n in ("shelved", "oos", "suppressed") if row.get(n)]
    return "+".join([str(row.get("state", "?")), *flags])


def anomaly_definition(aid: str, row: Row) -> AlarmDefinition:
    """The definition of an alarm the plant does not define (a detector's anomaly alarm, a
    station alarm), known only from its stored row."""
    kind = AlarmKind.SYSTEM if row.get("kind") == AlarmKind.SYSTEM else AlarmKind.ANOMALY
    try:
        priority = Priority.parse(row.get("priority", "medium"))
    except AlarmError:
        priority = DEFAULT_PRIORITY[kind]
    return AlarmDefinition(
        id=aid,
        kind=kind,
        priority=priority,
        source=str(row.get("source", "")),
        device=str(row.get("device", "")),
        description=str(row.get("description", "")),
    )


def _journal_rows(machine: AlarmMachine) -> tuple[dict[str, Row] | None, str | None]:
    """Alarm states rebuilt from the journal, or (None, why) if it cannot be read."""
    folder = getattr(machine.journal, "dir", None)  # a journal kept elsewhere (tests) has none
    if not isinstance(folder, (str, os.PathLike)):
        return None, "the journal does not say where it lives; state table trusted as is"
    try:
        from app.core.journal import read_events

        events = read_events(folder, kind="alarm.*")
    except Exception as e:
        return None, f"cannot read the journal to check the state table: {e}"
    return rebuild_rows((e.seq, e.kind, e.actor, e.body) for e in events), None
