"""The in-process `Station`: the window and the services in one process (Vigil's default).

A thin adapter over the composition root (`Core`): every method answers with values copied out
of the services, so the window could as well be talking to a remote node.

A window can outlive its station by a moment (a timer or a finished worker task after
``Core.stop()``): the passive queries it polls then answer "nothing" (no alarms, no detectors,
view only) instead of raising; actions still raise `NotStarted`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.core.alarms.types import AlarmQuery, AlarmView
from app.core.detection import GroupStatus, ModelInfo
from app.core.detection.candidate import CandidateReport
from app.core.diagnostics import DeviceDiagnostics
from app.core.historian import Series
from app.core.journal import VerifyResult, export_head, read_events, verify
from app.core.model import Sample, Value
from app.core.plant import Plant
from app.core.runtime import WriteResult
from app.core.staleness import StaleRule, stale_rule
from app.core.users import Role, Session
from app.station.engine import Core
from app.station.interface import ConfigProblem, JournalFilter, PluginRow, UserRow

#: how far back a journal search with actor/text filters looks before filtering
_JOURNAL_SCAN = 5000


class LocalStation:
    """`Station` over a started `Core` in this process."""

    def __init__(self, core: Core):
        self.core = core
        self._stale_rule: StaleRule | None = None

    # ------------------------------------------------------------------ configuration
    @property
    def plant(self) -> Plant:
        return self.core.plant

    @property
    def plant_version(self) -> int:
        return 0  # the plant is read once at start and never replaced in this process

    @property
    def data_dir(self) -> Path:
        return self.core.data_dir

    @property
    def embedded(self) -> bool:
        return True

    def display_folders(self) -> list[tuple[str, Path]]:
        if not self.core.started:
            return []
        out: list[tuple[str, Path]] = []
        for rec in self.core.plugins.records():
            if rec.usable and rec.manifest is not None:
                out.extend((rec.id, rec.location / e.path) for e in rec.manifest.displays)
        return out

    def stale_rule(self) -> StaleRule:
        if self._stale_rule is None:
            self._stale_rule = stale_rule(self.core.plant)
        return self._stale_rule

    # ------------------------------------------------------------------ live data
    def drain_samples(self) -> list[Sample]:
        return self.core.snapshots.drain()

    def notify_samples(self, waiting: Callable[[], None] | None) -> None:
        self.core.snapshots.notify(waiting)

    def samples_dropped(self) -> int:
        return int(self.core.snapshots.dropped)

    def latest(self) -> dict[str, Sample]:
        return self.core.latest()

    def diagnostics(self) -> dict[str, DeviceDiagnostics]:
        return self.core.diagnostics()

    def alarms(self) -> list[AlarmView]:
        return list(self.core.alarms.alarms()) if self.core.started else []

    def subscribe_alarms(self, callback: Callable[[AlarmView], None]) -> Callable[[], None]:
        return self.core.alarms.subscribe(callback)

    def in_flood(self) -> bool:
        return bool(self.core.alarms.in_flood) if self.core.started else False

    def detector_status(self) -> list[GroupStatus]:
        return self.core.detectors.groups() if self.core.started else []

    # ------------------------------------------------------------------ history and journal
    def history(self, tags: Sequence[str], t0: float, t1: float, max_points: int) -> dict[str, Series]:
        return self.core.historian.query(tags, t0, t1, max_points=max_points)

    def alarm_history(self, query: AlarmQuery) -> list[dict[str, Any]]:
        rows = self.core.alarms.history(query)
        scope = {k: v for k, v in dataclasses.asdict(query).items() if v not in (None, (), "")}
        self.core.record_access("alarm_history", json.dumps(scope, sort_keys=True, default=str))
        return rows

    def record_access(self, kind: str, scope: str) -> None:
        self.core.record_access(kind, scope)

    def journal_events(self, query: JournalFilter) -> list[dict[str, Any]]:
        if self.core.started:  # show what was appended so far, not only what is committed
            self.core.journal.flush(timeout=5.0)
        filtered = bool(query.actor or query.text)
        events = read_events(
            self.core.data_dir / "journal",
            kind=f"{query.kind}.*" if query.kind else None,
            limit=_JOURNAL_SCAN if filtered else query.limit,
            newest_first=True,
        )
        actor = (query.actor or "").lower()
        text = (query.text or "").lower()
        out = []
        for e in reversed(events):
            d = e.to_dict()
            if actor and actor not in str(d["actor"]).lower():
                continue
            if text and text not in json.dumps(d["body"], ensure_ascii=False).lower():
                continue
            out.append(d)
        return out[-query.limit :]

    def verify_journal(self) -> VerifyResult:
        self.core.journal.flush(timeout=5.0)
        return verify(self.core.data_dir / "journal")

    def export_journal_head(self) -> dict[str, Any]:
        self.core.journal.flush(timeout=5.0)
        return export_head(self.core.data_dir / "journal")

    # ------------------------------------------------------------------ actions
    def acknowledge(self, alarm_ids: Sequence[str]) -> None:
        self.core.acknowledge(list(alarm_ids))

    def shelve(self, alarm_id: str, reason: str, until_ts: float) -> None:
        self.core.shelve(alarm_id, reason, until_ts)

    def unshelve(self, alarm_id: str) -> None:
        self.core.unshelve(alarm_id)

    def set_out_of_service(self, alarm_id: str, on: bool, reason: str) -> None:
        self.core.set_out_of_service(alarm_id, on, reason)

    def write_setpoint(self, device: str, point: str, value: Value) -> WriteResult:
        return self.core.write_setpoint(device, point, value)

    def note(self, text: str) -> None:
        self.core.note(text)

    def record_console_setting(self, name: str, value: float) -> None:
        from app.core.journal import read_events

        journal = self.core.journal
        journal.flush()
        previous = None
        for e in read_events(self.core.data_dir / "journal", kind="settings.changed", newest_first=True):
            if e.body.get("setting") == name:
                previous = e.body.get("new")
                break
        if previous != value:
            journal.append("settings.changed", "system", {"setting": name, "old": previous, "new": value},
                           critical=True)

    def silence(self, sounding: Sequence[str], until_ts: float, *, audio: str) -> None:
        self.core.silence(sounding, until_ts, audio=audio)

    def set_off_delay(self, alarm_id: str, seconds: float) -> None:
        self.core.set_off_delay(alarm_id, seconds)

    def authorize_close(self) -> str:
        return self.core.authorize_close()

    def alarm_kpis(self) -> dict[str, Any]:
        return self.core.alarms.kpis()

    def preview_normal(self, group: str, t0: float, t1: float) -> CandidateReport:
        return self.core.detectors.preview_normal(group, t0, t1)

    def train_detector(self, group: str, t0: float, t1: float) -> ModelInfo:
        return self.core.train_detector(group, t0, t1)

    # ------------------------------------------------------------------ sessions and accounts
    @property
    def session(self) -> Session | None:
        return self.core.session

    def login(self, name: str, password: str) -> Session:
        return self.core.login(name, password)

    def logout(self, reason: str = "logout") -> None:
        self.core.logout(reason)

    def has_accounts(self) -> bool:
        # a stopped station offers no first-start account creation
        return not self.core.users.is_empty() if self.core.started else True

    def create_administrator(self, name: str, password: str) -> Session:
        self.core.users.add(None, name, password, Role.ADMINISTRATOR)
        return self.core.login(name, password)

    def users(self) -> list[UserRow]:
        return [
            UserRow(
                str(u["name"]), str(u["role"]), bool(u["disabled"]), bool(u["locked"]), float(u["created"])
            )
            for u in self.core.users.list()
        ]

    def add_user(self, name: str, password: str, role: Role) -> None:
        self.core.users.add(self._acting(), name, password, role)

    def set_user_disabled(self, name: str, disabled: bool) -> None:
        self.core.users.set_disabled(self._acting(), name, disabled)

    def set_user_password(self, name: str, password: str) -> None:
        self.core.users.set_password(self._acting(), name, password)

    def _acting(self) -> Session:
        """Account changes need a logged-in administrator; the user store checks and journals
        the role, so an absent session acts as an anonymous viewer (and is refused)."""
        return self.core.actions.resolve(None)

    # ------------------------------------------------------------------ what is missing
    def plugins(self) -> list[PluginRow] | None:
        if not self.core.started:
            return None
        rows = []
        for rec in self.core.plugins.records():
            d = rec.as_dict()
            rows.append(PluginRow(*(str(d.get(k, "") or "") for k in PluginRow._fields)))
        return rows

    def approve_plugin(self, plugin_id: str, sha256: str) -> str:
        import getpass

        from app.station.plugin_admin import approve_plugin

        core = self.core
        try:
            commissioning = getpass.getuser()  # before any account exists, as the CLI does
        except Exception:
            commissioning = "system"
        actor, _digest = approve_plugin(
            core.plugins, core.services.users, core.actions.authz, core.actions.session, plugin_id,
            core.journal, commissioning_actor=commissioning, expected_sha256=sha256)
        return actor

    def problems(self) -> list[ConfigProblem]:
        out = [
            ConfigProblem("plugin", r.id, r.reason or r.state) for r in (self.plugins() or []) if not r.usable
        ]
        for err in self.core.profile_errors:
            reason = "; ".join(str(p) for p in err.problems) if err.problems else str(err)
            out.append(ConfigProblem("device profile", str(err.source), reason))
        out.extend(ConfigProblem("configuration", "", str(text)) for text in self.core.config_problems)
        return out

    def dropped_counts(self) -> dict[str, int]:
        return self.core.dropped_counts()
