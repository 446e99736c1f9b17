"""The composition root: builds every service Vigil runs, fully typed, in one place.

`Core` is what the window, the CLI and headless mode start. ``start()`` builds the services in
dependency order (journal, accounts, plugins, profiles, plant, historian, alarms, detectors,
runtime, role-checked actions, housekeeping) and wires the sample fan-out (runtime -> historian,
alarm engine, detector engine, UI snapshot buffer); ``stop()`` takes them down in reverse. The
services are held in one frozen `Services` record, so after ``start()`` none of them is ever
None; before it (or after ``stop()``) asking for one raises `NotStarted`.

The core (``app.core``) is a library this module assembles: it never sees the plugin host, the
simulator or the UI. Operator actions live in `Actions`; this class keeps their names
(``acknowledge``, ``shelve``, ``write_setpoint``...) as thin delegations for its callers.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import __version__
from app.core import atrest
from app.core.alarms import AlarmEngine, plant_alarms
from app.core.alarms.definitions import vital_sign_devices
from app.core.alarms.store import last_repaired_seq, repair_history
from app.core.clockstep import ClockStepDetector
from app.core.detection import DetectorEngine, ModelInfo
from app.core.detection.engine import tag_units
from app.core.diagnostics import DeviceDiagnostics
from app.core.errors import ConfigError, VigilError
from app.core.historian import Historian, HistorianError
from app.core.journal import Journal, read_events
from app.core.model import Sample, Value
from app.core.paths import device_profiles_dir
from app.core.plant import DeviceConfig, Plant, load_plant
from app.core.ports import Driver
from app.core.private import secure_data_dir
from app.core.profiles import Profile, ProfileLibrary
from app.core.runtime import Runtime, SampleSink, WriteResult
from app.core.snapshot import SnapshotBuffer
from app.core.users import Authorizer, Session, UserStore, account_events
from app.plugin_host import PluginHost
from app.plugin_host.trust import journal_approvals
from app.sim.faults import FaultSpec
from app.sim.server import SimulatorThread
from app.station.actions import Actions
from app.station.demo import DemoPlant
from app.station.discovery import (
    DiscoveryRetry,
    awaiting_discovery,
    comm_alarm,
    discover_device_types,
    discover_one,
)
from app.station.encryption import encrypt_stores
from app.station.housekeeping import DiskWatch, DropReporter
from app.station.models import restore_models

log = logging.getLogger(__name__)


class NotStarted(VigilError):
    """A service was asked for before ``Core.start()`` (or after ``stop()``)."""


@dataclass(frozen=True)
class Services:
    """Every running service, none of them optional (the demo plant is absent for a real plant)."""

    journal: Journal
    users: UserStore
    plugins: PluginHost
    plant: Plant
    historian: Historian
    alarms: AlarmEngine
    detectors: DetectorEngine
    runtime: Runtime
    actions: Actions
    housekeeping: DropReporter
    demo: DemoPlant | None


class Core:
    """Everything Vigil runs, without Qt. ``start()`` brings it up, ``stop()`` takes it down
    cleanly (final journal checkpoint, historian flushed).

    With no ``plant_path`` the built-in demo simulator is started in-process on 127.0.0.1 and
    the demo plant is polled.
    """

    def __init__(
        self,
        data_dir: Path,
        plant_path: Path | None = None,
        *,
        demo_faults: Sequence[str] = (),
        seed: int = 0,
        demo_interval_ms: int | None = None,
        demo_speed: float = 1.0,
        plugins_enabled: bool = True,
        journal_passphrase: str | None = None,
        window: bool = True,
        extra_sinks: Sequence[SampleSink] = (),
    ):
        # 0700, owned by this account, files 0600, umask 077 from here on (patient data)
        self.data_dir = secure_data_dir(Path(data_dir))
        self.plant_path = Path(plant_path) if plant_path else None
        self.demo_faults = list(demo_faults)
        self.seed = seed
        self.demo_interval_ms = demo_interval_ms
        self.demo_speed = demo_speed
        # a protected signing key is unlocked from the argument or VIGIL_JOURNAL_PASSPHRASE
        self.journal_passphrase = journal_passphrase or os.environ.get("VIGIL_JOURNAL_PASSPHRASE") or None
        self.plugins_enabled = plugins_enabled
        #: the UI's bounded sample buffer (a sink like the others; replaceable before start);
        #: without a window (headless) nobody drains it, so it keeps only the latest values
        self.snapshots = SnapshotBuffer(keep_history=window)
        #: more consumers of the sample fan-out (a node's Sparkplug publisher), after the others
        self.extra_sinks = list(extra_sinks)
        #: called with every device state change, after the alarm engine (core thread: be quick)
        self.diagnostics_listeners: list[Callable[[DeviceDiagnostics], None]] = []
        self.library = ProfileLibrary()
        self.profile_errors: list[ConfigError] = []
        #: human-readable configuration faults found at start (the UI lists them)
        self.config_problems: list[str] = []
        self._services: Services | None = None
        self._stack = contextlib.ExitStack()
        #: after stop(): whether the journal committed ``app.stop`` (False on a full disk)
        self.stop_recorded: bool | None = None

    # ------------------------------------------------------------------ services
    @property
    def services(self) -> Services:
        if self._services is None:
            raise NotStarted("Vigil's services are not running (start() was not called, or stop() was)")
        return self._services

    @property
    def started(self) -> bool:
        return self._services is not None

    @property
    def journal(self) -> Journal:
        return self.services.journal

    @property
    def users(self) -> UserStore:
        return self.services.users

    @property
    def authz(self) -> Authorizer:
        return self.services.actions.authz

    @property
    def plugins(self) -> PluginHost:
        return self.services.plugins

    @property
    def plant(self) -> Plant:
        return self.services.plant

    @property
    def historian(self) -> Historian:
        return self.services.historian

    @property
    def alarms(self) -> AlarmEngine:
        return self.services.alarms

    @property
    def detectors(self) -> DetectorEngine:
        return self.services.detectors

    @property
    def runtime(self) -> Runtime:
        return self.services.runtime

    @property
    def actions(self) -> Actions:
        return self.services.actions

    @property
    def simulator(self) -> SimulatorThread | None:
        """The demo plant's `SimulatorThread` (None on a real plant)."""
        demo = self.services.demo
        return demo.simulator if demo is not None else None

    @property
    def session(self) -> Session | None:
        """Who is logged in at this console (None: nobody, view only)."""
        return self._services.actions.session if self._services is not None else None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._services is not None:
            return
        stack = contextlib.ExitStack()
        with stack:
            self._services = self._build(stack)
            self._stack = stack.pop_all()

    def _build(self, stack: contextlib.ExitStack) -> Services:
        """Build and start every service; each one's shutdown goes on ``stack`` as soon as it
        exists, so a failure half-way closes exactly what was opened, in reverse order."""
        journal = Journal.open(self.data_dir / "journal", passphrase=self.journal_passphrase)
        # integrity problems found at open (tampered tail, missing journal...) are shown with the
        # configuration problems; they are already journalled as critical events
        self.config_problems.extend(journal.problems)
        stack.callback(_quietly, "journal", lambda: self._close_journal(journal))
        users = UserStore(self.data_dir / "users.json", journal=journal)
        journal.flush(timeout=10.0)  # the start-up events (e.g. journal.continued) are readable
        users.reconcile(account_events(self.data_dir / "journal"))
        plugins = PluginHost.discover(
            data_dir=self.data_dir, journal=journal, builtins_only=not self.plugins_enabled,
            approvals=journal_approvals(self.data_dir / "journal"),  # not built in: approved only
        )
        if plugins.disabled.problem:  # shown on screen; plugins not built in stay off
            self.config_problems.append(plugins.disabled.problem)
        self.profile_errors = self.library.add_folder(device_profiles_dir())
        self.profile_errors.extend(plugins.add_profiles_to(self.library))
        for err in self.profile_errors:
            journal.append("config.refused", "system", {"source": err.source, "problems": err.problems})

        def driver_factory(device: DeviceConfig) -> Driver:
            return plugins.driver_factory(device.transport)(device.link_config())

        demo: DemoPlant | None = None
        if self.plant_path is not None:
            plant = load_plant(self.plant_path, self.library)
        else:
            demo = DemoPlant.start(
                self.library, journal, faults=self.demo_faults, seed=self.seed,
                speed=self.demo_speed, interval_ms=self.demo_interval_ms,
            )
            stack.callback(_quietly, "simulator", demo.stop)
            plant = demo.plant
        self.config_problems.extend(plant.warnings)
        configured = plant
        plant = discover_device_types(plant, plugins, driver_factory, journal, self.config_problems)
        awaiting = awaiting_discovery(configured, plant)
        _check_transports(plant, plugins)
        journal.append(
            "config.load",
            "system",
            {
                "plant": plant.path,
                "plant_sha256": plant.sha256,
                "profiles": {d: p.sha256 for d, p in sorted(plant.profiles.items())},
                "version": __version__,
                # whose values are patient data: `vigil history`/`alarms` reads fail closed on them
                "vital_sign_devices": sorted(vital_sign_devices(plant)),
            },
            critical=True,
        )
        retention = plant.historian.historian_kwargs()  # the plant file's [historian]
        encrypt_stores(self.data_dir, journal)  # historian and alarm store: SQLCipher, key outside
        historian = self._open_historian(journal, retention)
        historian.start()
        stack.callback(_quietly, "historian", historian.close)
        _repair_alarm_history(self.data_dir / "alarms.sqlite", journal, plant)
        alarms = AlarmEngine(journal, state_path=self.data_dir / "alarms.sqlite")
        stack.callback(_quietly, "alarms", alarms.close)
        alarms.set_private_devices(vital_sign_devices(plant))  # vital values stay out of the journal
        # a device still awaiting its register map has its COMM alarm meanwhile
        alarms.configure_definitions(plant_alarms(plant) + [comm_alarm(d) for d in awaiting])
        for d in awaiting:
            alarms.on_device_state(d.name, False, "register map not discovered yet")
        detectors = DetectorEngine(
            journal=journal, alarms=alarms, historian=historian,
            models_dir=self.data_dir / "models", plugins=plugins, units=tag_units(plant),
        )
        stack.callback(_quietly, "detectors", detectors.close)
        restore_models(self.data_dir / "models", detectors, journal, self.config_problems)
        sinks: list[SampleSink] = [historian, alarms, self.snapshots, detectors, *self.extra_sinks]

        def on_diagnostics(diag: DeviceDiagnostics) -> None:
            # comm health reaches the alarm engine as device state (one path: the runtime's view)
            alarms.on_device_state(diag.device, diag.state == "online", diag.last_error or diag.state)
            for listener in self.diagnostics_listeners:
                listener(diag)

        runtime = Runtime(plant, driver_factory, sinks=sinks, on_diagnostics=on_diagnostics)
        runtime.start()
        stack.callback(_quietly, "runtime", runtime.stop)

        def on_discovered(dev: DeviceConfig, profile: Profile) -> None:
            plant.profiles[dev.name] = profile
            plant.devices.append(dev)
            still = set(retry.waiting)
            alarms.configure_definitions(
                plant_alarms(plant) + [comm_alarm(d) for d in awaiting if d.name in still]
            )
            runtime.add_device(dev, profile)
            failed = f"device '{dev.name}': {dev.device_type} discovery failed"
            self.config_problems[:] = [p for p in self.config_problems if not p.startswith(failed)]

        retry = DiscoveryRetry(
            awaiting, lambda d: discover_one(d, plugins, driver_factory), journal, on_discovered
        )
        retry.start()
        stack.callback(_quietly, "discovery", retry.stop)
        actions = Actions(
            journal=journal, users=users, alarms=alarms, runtime=runtime, detectors=detectors,
            plant=plant,
        )
        clock_watch = ClockStepWatch(journal, self.config_problems)
        disk_watch = DiskWatch(
            self.data_dir, alarms, journal, self.config_problems,
            lambda: _storage_losses(historian, alarms, journal),
            min_free_mb=plant.station.disk_alarm_free_mb,
            held=lambda: _storage_held(alarms, journal),
        )
        disk_watch.check()  # a disk already full (or almost) is alarmed from the first moment

        def periodic_checks() -> None:
            clock_watch.check()
            disk_watch.check()

        housekeeping = DropReporter(
            lambda: _dropped_counts(self.snapshots, historian, alarms, detectors), journal,
            also=periodic_checks,
        )
        housekeeping.start()
        stack.callback(_quietly, "housekeeping", housekeeping.stop)
        return Services(
            journal=journal, users=users, plugins=plugins, plant=plant, historian=historian,
            alarms=alarms, detectors=detectors, runtime=runtime, actions=actions,
            housekeeping=housekeeping, demo=demo,
        )

    def _open_historian(self, journal: Journal, retention: dict[str, Any]) -> Historian:
        """The historian; a damaged file (SQLite: corrupt, or not a database) is moved aside
        with a loud problem and a fresh one started, so the plant stays watched (the damaged
        file is kept for recovery, never deleted). Any other fault still stops the start."""
        path = self.data_dir / "historian.sqlite"
        try:
            return Historian(path, **retention)
        except HistorianError as e:
            if not _is_corruption(e.__cause__):
                raise
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            for suffix in ("", "-wal", "-shm"):
                src = path.with_name(path.name + suffix)
                if src.exists():
                    src.rename(aside.with_name(aside.name + suffix))
            problem = (
                f"{path}: the historian database was damaged ({e.__cause__}); it was moved to "
                f"{aside.name} and a new, empty historian started: trends before now are in that file"
            )
            self.config_problems.append(problem)
            journal.append(
                "historian.quarantined", "system",
                {"path": str(path), "moved_to": str(aside), "error": str(e.__cause__)}, critical=True,
            )
            log.error("%s", problem)
            return Historian(path, **retention)

    def _close_journal(self, journal: Journal) -> None:
        self.stop_recorded = False  # stays so if close raises
        self.stop_recorded = journal.close()
        if not self.stop_recorded:
            log.error("%s: the stop record (app.stop) could not be written: %s",
                      journal.dir, journal.stats().last_error or "journal writer did not finish")

    def stop(self) -> None:
        services = self._services
        if services is None:
            return
        if services.actions.session is not None:
            services.actions.logout(reason="shutdown")
        self._services = None
        self._stack.close()

    def __enter__(self) -> Core:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ queries
    def dropped_counts(self) -> dict[str, int]:
        """Everything that had to be dropped so far because a bounded queue was full."""
        s = self._services
        if s is None:
            return {"ui_snapshots": self.snapshots.dropped}
        return _dropped_counts(self.snapshots, s.historian, s.alarms, s.detectors)

    def diagnostics(self) -> dict[str, DeviceDiagnostics]:
        return self._services.runtime.diagnostics() if self._services is not None else {}

    def latest(self) -> dict[str, Sample]:
        return self.snapshots.latest()

    # ------------------------------------------------------------------ accounts and actions
    def login(self, name: str, password: str) -> Session:
        return self.actions.login(name, password)

    def logout(self, reason: str = "logout") -> None:
        if self._services is not None:
            self._services.actions.logout(reason)

    def _session(self, session: Session | None) -> Session:
        return self.actions.resolve(session)

    def acknowledge(self, alarm_ids: Sequence[str], session: Session | None = None) -> None:
        self.actions.acknowledge(alarm_ids, session)

    def shelve(self, alarm_id: str, reason: str, until_ts: float, session: Session | None = None) -> None:
        self.actions.shelve(alarm_id, reason, until_ts, session)

    def unshelve(self, alarm_id: str, session: Session | None = None) -> None:
        self.actions.unshelve(alarm_id, session)

    def set_out_of_service(
        self, alarm_id: str, on: bool, reason: str, session: Session | None = None
    ) -> None:
        self.actions.set_out_of_service(alarm_id, on, reason, session)

    def write_setpoint(
        self, device: str, point: str, value: Value, session: Session | None = None
    ) -> WriteResult:
        return self.actions.write_setpoint(device, point, value, session)

    def note(self, text: str, session: Session | None = None) -> None:
        self.actions.note(text, session)

    def record_access(self, kind: str, scope: str, session: Session | None = None, *,
                      station: str | None = None) -> None:
        self.actions.record_access(kind, scope, session, station=station)

    def silence(self, sounding: Sequence[str], until_ts: float, *, audio: str,
                session: Session | None = None) -> None:
        self.actions.silence(sounding, until_ts, audio=audio, session=session)

    def set_off_delay(self, alarm_id: str, seconds: float, session: Session | None = None) -> None:
        self.actions.set_off_delay(alarm_id, seconds, session)

    def authorize_close(self, session: Session | None = None) -> str:
        return self.actions.authorize_close(session)

    def train_detector(
        self, group: str, t0: float, t1: float, session: Session | None = None, **kw: Any
    ) -> ModelInfo:
        return self.actions.train_detector(group, t0, t1, session, **kw)

    def inject_fault(self, spec: str, session: Session | None = None) -> FaultSpec:
        """Demo plant only: schedule a simulator fault now (engineer and above, like any other
        change to what the plant does); journaled as ``sim.fault``."""
        demo = self.services.demo
        if demo is None:
            raise VigilError("faults can only be injected into the built-in demo plant")
        s = self.actions.resolve(session)
        self.actions.authz.require(s, "demo.fault", fault=spec)
        return demo.inject_fault(spec, s.user)


class ClockStepWatch:
    """Journals a wall-clock step (``system.clock_step``) and lists it with the configuration
    problems, so the jump in the time stamps around it is explained where people look."""

    def __init__(self, journal: Journal, problems: list[str],
                 detector: ClockStepDetector | None = None) -> None:
        self._journal = journal
        self._problems = problems
        self._detector = detector or ClockStepDetector()

    def check(self) -> None:
        step = self._detector.check()
        if step is None:
            return
        when = _iso(step.wall_after)
        try:
            self._journal.append(
                "system.clock_step", "system",
                {"step_s": round(step.step_s, 3), "before": step.wall_before, "after": step.wall_after},
                critical=True,
            )
        except Exception:
            log.exception("could not journal a clock step")
        self._problems.append(
            f"the system clock stepped {step.step_s:+.0f} s at {when}: time stamps around it jump; "
            "alarm delays, timers and shelves are measured on a steady clock and are unaffected"
        )


def _is_corruption(e: BaseException | None) -> bool:
    """SQLite says the file itself is bad (SQLITE_CORRUPT, SQLITE_NOTADB), not the disk."""
    database_errors = (sqlite3.DatabaseError, atrest.dbapi.DatabaseError)
    code = getattr(e, "sqlite_errorcode", None) if isinstance(e, database_errors) else None
    return isinstance(code, int) and code & 0xFF in (11, 26)


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _check_transports(plant: Plant, plugins: PluginHost) -> None:
    """Refuse a plant whose devices name a transport no driver provides, naming device and
    field, instead of polling it into a wall of BAD_CONFIG alarms."""
    known: set[str] = set(plugins.transports())
    problems = [
        f"device '{d.name}' (devices[{i}]), field 'transport': no driver provides "
        f"'{d.transport}' (available: {', '.join(sorted(known)) or 'none'})"
        for i, d in enumerate(plant.devices)
        if d.enabled and d.transport not in known
    ]
    if problems:
        raise ConfigError(plant.path, problems)


def _dropped_counts(
    snapshots: SnapshotBuffer, historian: Historian, alarms: AlarmEngine, detectors: DetectorEngine
) -> dict[str, int]:
    return {
        "ui_snapshots": snapshots.dropped,
        "historian_samples": int(historian.stats().dropped),
        "alarm_store_rows": int(alarms.store_dropped),
        "detector_rows": sum(int(g.rows_dropped) for g in detectors.groups()),
    }


def _repair_alarm_history(path: Path, journal: Journal, plant: Plant) -> None:
    """Re-derive from the journal the alarm-history rows whose writes were lost (a full disk
    that outlasted what the store holds in memory, a process that died holding them), before
    the alarm engine writes anything; journaled as ``alarm.history_repaired``."""
    if not path.exists():
        return
    devices = {d.id: d.device for d in plant_alarms(plant)}
    try:
        journal.flush(timeout=10.0)
        events = read_events(journal.dir, kind="alarm.transition", after_seq=last_repaired_seq(path))
        n = repair_history(path, [(e.seq, e.actor, e.body) for e in events],
                           lambda aid, source: devices.get(aid) or source.split(".")[0])
    except (sqlite3.Error, atrest.dbapi.Error, VigilError, OSError) as e:
        # the store's own open reports a bad file; a full disk: checked at the next start
        log.warning("%s: alarm history not checked against the journal: %s", path, e)
        return
    if n:
        journal.append("alarm.history_repaired", "system", {"rows": n, "file": str(path)})


def _storage_losses(historian: Historian, alarms: AlarmEngine, journal: Journal) -> dict[str, int]:
    """Data the disk refused so far, by kind (the disk watch journals each episode's share)."""
    return {
        "historian_samples": int(historian.stats().failed),
        "alarm_store_rows": int(alarms.store_dropped),
        "journal_events": int(journal.stats().dropped),
    }


def _storage_held(alarms: AlarmEngine, journal: Journal) -> dict[str, int]:
    """Writes the disk refused that are kept in memory until it takes them, by kind."""
    j = journal.stats()
    return {
        "journal_events": j.queued if j.held_since is not None else 0,
        "alarm_store_rows": alarms.store_held,
    }


def _quietly(name: str, close: Callable[[], object]) -> None:
    """Run one service's shutdown; a failing service must not stop the others from closing."""
    try:
        close()
    except Exception:
        log.exception("error while stopping %s", name)
