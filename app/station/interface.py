"""The `Station` interface: everything the window and the CLI need from a running Vigil.

The window talks to a `Station` alone. Today's implementation (`LocalStation`) runs the services
in the same process; a remote one (a workstation attached to a Vigil node over MQTT) implements
the same methods. So every argument and result here is a value: numbers, strings, frozen
dataclasses and NamedTuples of plain values (`Sample`, `AlarmView`, `DeviceDiagnostics`,
`GroupStatus`, `ModelInfo`, `WriteResult`, `Session`...), the plant configuration (`Plant`, built
from TOML; a `Plant` is never changed in place, a connected station replaces it when a node
joins, see `plant_version`) and a historian `Series` (arrays). No method hands out
a live service (journal, historian, alarm engine, runtime) and nothing here imports Qt.

Every action runs as the session logged in at this station and is checked and journaled by the
station's side, never by the screen: a refusal raises `PermissionDenied` (a `VigilError`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

from app.core.alarms.types import AlarmQuery, AlarmView
from app.core.detection import GroupStatus, ModelInfo
from app.core.detection.candidate import CandidateReport
from app.core.diagnostics import DeviceDiagnostics
from app.core.historian import Series
from app.core.journal import VerifyResult
from app.core.model import Sample, Value
from app.core.plant import Plant
from app.core.runtime import WriteResult
from app.core.staleness import StaleRule
from app.core.users import Role, Session

__all__ = [
    "AlarmQuery",
    "AlarmView",
    "ConfigProblem",
    "DeviceDiagnostics",
    "GroupStatus",
    "JournalFilter",
    "ModelInfo",
    "PluginRow",
    "SampleNotifier",
    "Series",
    "Session",
    "StaleRule",
    "Station",
    "UserRow",
    "VerifyResult",
    "WriteResult",
]


class PluginRow(NamedTuple):
    """One plugin the station found, as text (Help → Plugins…, ``vigil plugins list``)."""

    id: str
    version: str
    source: str
    state: str
    reason: str
    #: the digest of its files now, for a plugin awaiting approval ('' otherwise)
    sha256: str = ""

    @property
    def awaiting_approval(self) -> bool:
        return bool(self.sha256) and self.reason.startswith("awaiting approval")

    @property
    def usable(self) -> bool:
        return self.state not in ("failed", "rejected")


class ConfigProblem(NamedTuple):
    """Something the station runs without, and why (a plugin, a profile, a device, a model)."""

    kind: str  # "plugin", "device profile", "configuration"
    what: str  # plugin id, profile file... ('' when the reason names it already)
    reason: str


class UserRow(NamedTuple):
    """One account as an administrator sees it (never a password or a hash)."""

    name: str
    role: str
    disabled: bool
    locked: bool
    created: float


@dataclass(frozen=True)
class JournalFilter:
    """Which journal events to show: ``kind`` is a prefix ("alarm" matches "alarm.*"); ``actor``
    and ``text`` match case-insensitively inside the actor and the body; newest ``limit`` kept."""

    kind: str | None = None
    actor: str | None = None
    text: str | None = None
    limit: int = 500


class Station(Protocol):
    """A running Vigil as a screen or a command sees it."""

    # ------------------------------------------------------------------ configuration
    @property
    def plant(self) -> Plant:
        """The plant being supervised (devices, their profiles, points and limits)."""
        ...

    @property
    def plant_version(self) -> int:
        """A number that grows whenever `plant` is replaced (a node of the group joined or
        changed its plant; never for an embedded station). A screen compares it now and then
        and rebuilds what it made from the plant only when it moved: cheap to read, no Qt."""
        ...

    @property
    def data_dir(self) -> Path:
        """This station's own data folder (its UI settings live there)."""
        ...

    def display_folders(self) -> list[tuple[str, Path]]:
        """Folders of process displays contributed by usable plugins: (plugin id, folder)."""
        ...

    def stale_rule(self) -> StaleRule:
        """When a GOOD value stops being current (the core's rule, applied by every screen)."""
        ...

    @property
    def embedded(self) -> bool:
        """True when the plant runs in this process, so closing the window stops polling,
        alarms and recording; False for a workstation attached to nodes (closing stops nothing)."""
        ...

    # ------------------------------------------------------------------ live data
    def drain_samples(self) -> list[Sample]:
        """Every sample since the last drain, oldest first (bounded: see `samples_dropped`)."""
        ...

    def samples_dropped(self) -> int:
        """Samples this screen's buffer had to drop so far (the latest value per tag never is)."""
        ...

    def latest(self) -> dict[str, Sample]:
        """The newest sample of every tag seen so far."""
        ...

    def diagnostics(self) -> dict[str, DeviceDiagnostics]:
        """Communication health per device."""
        ...

    def alarms(self) -> list[AlarmView]:
        """The current state of every configured alarm."""
        ...

    def subscribe_alarms(self, callback: Callable[[AlarmView], None]) -> Callable[[], None]:
        """Call ``callback`` (on a station thread: enqueue only) with each alarm that changes;
        returns the function that unsubscribes."""
        ...

    def in_flood(self) -> bool:
        """More alarms arriving than an operator can handle (ISA-18.2 flood)."""
        ...

    def detector_status(self) -> list[GroupStatus]:
        """Each anomaly detector group: its score, threshold and last explanation."""
        ...

    # ------------------------------------------------------------------ history and journal
    def history(self, tags: Sequence[str], t0: float, t1: float, max_points: int) -> dict[str, Series]:
        """Stored samples of ``tags`` in [t0, t1], min/max-downsampled to about ``max_points``."""
        ...

    def alarm_history(self, query: AlarmQuery) -> list[dict[str, Any]]:
        """Past alarm events matching ``query``, newest first."""
        ...

    def journal_events(self, query: JournalFilter) -> list[dict[str, Any]]:
        """Journal events (seq, ts, kind, actor, body...), oldest first."""
        ...

    def record_access(self, kind: str, scope: str) -> None:
        """Journal that the logged-in user read or exported data (``access.<kind>``: e.g.
        ``display_opened`` with the patient's devices, ``history_export`` with tags and range),
        with the scope and never the values. `alarm_history` records its own."""
        ...

    def verify_journal(self) -> VerifyResult:
        """Check the journal's hash chain and signatures (everything appended so far)."""
        ...

    def export_journal_head(self) -> dict[str, Any]:
        """The last signed checkpoint, to be kept on other media."""
        ...

    # ------------------------------------------------------------------ actions (role-checked)
    def acknowledge(self, alarm_ids: Sequence[str]) -> None: ...

    def shelve(self, alarm_id: str, reason: str, until_ts: float) -> None: ...

    def unshelve(self, alarm_id: str) -> None: ...

    def set_out_of_service(self, alarm_id: str, on: bool, reason: str) -> None: ...

    def write_setpoint(self, device: str, point: str, value: Value) -> WriteResult:
        """Write, read back, and journal old/new/read-back."""
        ...

    def note(self, text: str) -> None:
        """A shift-log entry in the journal."""
        ...

    def record_console_setting(self, name: str, value: float) -> None:
        """A security-relevant console setting (the idle lock) as it takes effect: journaled as
        ``settings.changed`` with the previous value whenever it differs from the last one
        journaled, so an edited settings.json cannot quietly lengthen the lock."""
        ...

    def silence(self, sounding: Sequence[str], until_ts: float, *, audio: str) -> None:
        """Silence the alarm sound until ``until_ts`` (journaled, with whether audio existed)."""
        ...

    def set_off_delay(self, alarm_id: str, seconds: float) -> None:
        """Give a chattering alarm an off-delay (engineer)."""
        ...

    def authorize_close(self) -> str:
        """May the logged-in user stop this embedded station? Returns the user or raises."""
        ...

    def alarm_kpis(self) -> dict[str, Any]:
        """Alarm-system KPIs over the last day: rates, floods, chattering, bad actors."""
        ...

    def preview_normal(self, group: str, t0: float, t1: float) -> CandidateReport:
        """What "learn normal" would build from [t0, t1]: coverage warnings and a backtest on
        recent history, before anything is enabled (slow: call from a worker)."""
        ...

    def train_detector(self, group: str, t0: float, t1: float) -> ModelInfo:
        """"Learn normal" for ``group`` from history in [t0, t1] (slow: call from a worker)."""
        ...

    # ------------------------------------------------------------------ sessions and accounts
    @property
    def session(self) -> Session | None:
        """Who is logged in at this station (None: nobody, view only)."""
        ...

    def login(self, name: str, password: str) -> Session: ...

    def logout(self, reason: str = "logout") -> None: ...

    def has_accounts(self) -> bool:
        """False until the first administrator is created (the window then offers to)."""
        ...

    def create_administrator(self, name: str, password: str) -> Session:
        """First start only: create the first account (an administrator) and log it in."""
        ...

    def users(self) -> list[UserRow]: ...

    def add_user(self, name: str, password: str, role: Role) -> None: ...

    def set_user_disabled(self, name: str, disabled: bool) -> None: ...

    def set_user_password(self, name: str, password: str) -> None: ...

    # ------------------------------------------------------------------ what is missing
    def plugins(self) -> list[PluginRow] | None:
        """Every plugin found, whatever its state; None when this station has no plugin host."""
        ...

    def problems(self) -> list[ConfigProblem]:
        """Failed or rejected plugins, refused profiles, then other configuration problems."""
        ...

    def approve_plugin(self, plugin_id: str, sha256: str) -> str:
        """Approve a plugin that is not built in, as the person at the console (the same
        role-checked action as ``vigil plugins approve``: an administrator's), only if its files
        still have the digest ``sha256`` they were shown with. Returns who approved it; raises
        (journaled) when refused. It loads from the next start."""
        ...

    def dropped_counts(self) -> dict[str, int]:
        """Everything a bounded queue had to drop so far, by queue."""
        ...


@runtime_checkable
class SampleNotifier(Protocol):
    """A station that says when samples start waiting to be drained (``LocalStation``): the
    window then drains only when there is something to drain, instead of on a free-running
    timer. A station without it is drained on a timer."""

    def notify_samples(self, waiting: Callable[[], None] | None) -> None:
        """Call ``waiting()`` (on a station thread: post a wake-up only) whenever samples start
        waiting in this screen's buffer after a drain emptied it; None stops it."""
        ...
