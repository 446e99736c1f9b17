"""The Core facade: one object that owns every core service and is what the UI and CLI use.

It wires the sample fan-out (runtime -> historian, alarm engine, detector engine, UI snapshot
buffer), resolves drivers through the plugin host, journals configuration and plugin loads, and
is the place where every operator action is checked against the logged-in user's role before it
touches the plant.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.errors import ConfigError, VigilError
from app.core.model import Sample
from app.core.paths import device_profiles_dir
from app.core.plant import Plant, load_plant, parse_plant
from app.core.profiles import ProfileLibrary
from app.core.snapshot import SnapshotBuffer
from app.core.users import OPERATOR_MAX_SHELVE_S, Authorizer, Session, UserStore

log = logging.getLogger(__name__)


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
    ):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.plant_path = Path(plant_path) if plant_path else None
        self.demo_faults = list(demo_faults)
        self.seed = seed
        self.demo_interval_ms = demo_interval_ms
        self.demo_speed = demo_speed
        # a protected signing key is unlocked from the argument or VIGIL_JOURNAL_PASSPHRASE
        self.journal_passphrase = journal_passphrase or os.environ.get("VIGIL_JOURNAL_PASSPHRASE") or None
        self.plugins_enabled = plugins_enabled
        self.session: Session | None = None
        self.simulator: Any = None
        self.snapshots = SnapshotBuffer()
        self.plant: Plant | None = None
        self.journal: Any = None
        self.historian: Any = None
        self.alarms: Any = None
        self.detectors: Any = None
        self.runtime: Any = None
        self.plugins: Any = None
        self.users: UserStore | None = None
        self.authz: Authorizer | None = None
        self.library = ProfileLibrary()
        self.profile_errors: list[ConfigError] = []
        #: human-readable configuration faults found at start (the UI lists them)
        self.config_problems: list[str] = []
        self._started = False
        self._housekeeping: threading.Thread | None = None
        self._housekeeping_stop = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        from app.core.journal import Journal

        self.journal = Journal.open(self.data_dir / "journal", passphrase=self.journal_passphrase)
        try:
            self._start_services()
        except BaseException:
            self._stop_services()
            raise
        self._started = True

    def _start_services(self) -> None:
        from app.core.alarms import AlarmEngine
        from app.core.historian import Historian

        self.users = UserStore(self.data_dir / "users.json", journal=self.journal)
        self.authz = Authorizer(self.journal)
        self._load_plugins()
        self.profile_errors = self.library.add_folder(device_profiles_dir())
        for err in self.profile_errors:
            self.journal.append("config.refused", "system", {"source": err.source, "problems": err.problems})
        self._add_plugin_profiles()
        self.plant = self._discover_device_types(self._load_plant())
        self._check_transports(self.plant)
        self.journal.append(
            "config.load",
            "system",
            {
                "plant": self.plant.path,
                "plant_sha256": self.plant.sha256,
                "profiles": {d: p.sha256 for d, p in sorted(self.plant.profiles.items())},
                "version": __version__,
            },
            critical=True,
        )
        self.historian = Historian(self.data_dir / "historian.sqlite")
        self.historian.start()
        self.alarms = AlarmEngine(self.journal, state_path=self.data_dir / "alarms.sqlite")
        self.alarms.configure(self.plant)
        self.detectors = self._make_detector_engine()
        self._restore_models()
        sinks: list[Any] = [self.historian, self.alarms, self.snapshots, self.detectors]
        from app.core.runtime import Runtime

        self.runtime = Runtime(
            self.plant, self._driver_factory, sinks=sinks, on_diagnostics=self._on_diagnostics
        )
        self.runtime.start()
        self._housekeeping_stop.clear()
        self._housekeeping = threading.Thread(
            target=self._housekeeping_loop, name="vigil-housekeeping", daemon=True
        )
        self._housekeeping.start()

    def stop(self) -> None:
        if self.session is not None and self.users is not None:
            self.users.logout(self.session, reason="shutdown")
            self.session = None
        self._stop_services()
        self._started = False

    # ------------------------------------------------------------------ housekeeping
    def dropped_counts(self) -> dict[str, int]:
        """Everything that had to be dropped so far because a bounded queue was full."""
        counts = {"ui_snapshots": self.snapshots.dropped}
        if self.historian is not None:
            counts["historian_samples"] = int(self.historian.stats().dropped)
        if self.alarms is not None:
            counts["alarm_store_rows"] = int(self.alarms.store_dropped)
        if self.detectors is not None:
            counts["detector_rows"] = sum(int(g.rows_dropped) for g in self.detectors.groups())
        return counts

    def _housekeeping_loop(self, period_s: float = 5.0) -> None:
        """Say in the journal when a bounded queue had to drop something (once per change),
        so a gap in history or scoring is never silent."""
        reported: dict[str, int] = {}
        while not self._housekeeping_stop.wait(period_s):
            self._report_drops(reported)
        self._report_drops(reported)

    def _report_drops(self, reported: dict[str, int]) -> None:
        try:
            counts = self.dropped_counts()
        except Exception:  # a service mid-shutdown; try again next period
            return
        new = {k: v - reported.get(k, 0) for k, v in counts.items() if v > reported.get(k, 0)}
        if new and self.journal is not None:
            self.journal.append("system.dropped", "system", {"new": new, "total": counts}, critical=True)
        reported.update(counts)

    def _stop_services(self) -> None:
        self._housekeeping_stop.set()
        if self._housekeeping is not None:
            self._housekeeping.join(timeout=10.0)
            self._housekeeping = None
        for name in ("runtime", "detectors", "historian"):
            svc = getattr(self, name)
            if svc is None:
                continue
            try:
                if name == "runtime":
                    svc.stop()
                elif hasattr(svc, "close"):
                    svc.close()
            except Exception:  # a failing service must not stop the others from closing
                log.exception("error while stopping %s", name)
        if self.alarms is not None and hasattr(self.alarms, "close"):
            try:
                self.alarms.close()
            except Exception:
                log.exception("error while stopping alarms")
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def __enter__(self) -> Core:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ wiring
    def _load_plant(self) -> Plant:
        if self.plant_path is not None:
            return load_plant(self.plant_path, self.library)
        from app.sim.faults import parse_faults
        from app.sim.server import SimulatorThread, demo_plant_toml

        faults = parse_faults(self.demo_faults)
        self.simulator = SimulatorThread(seed=self.seed, faults=faults, speed=self.demo_speed)
        port = self.simulator.start()
        text = demo_plant_toml(port)
        if self.demo_interval_ms is not None:
            import re

            text = re.sub(r"interval_ms\s*=\s*\d+", f"interval_ms = {self.demo_interval_ms}", text)
        self.journal.append(
            "sim.start", "system", {"port": port, "seed": self.seed, "faults": self.demo_faults}
        )
        return parse_plant(text.encode(), "<demo plant>", self.library)

    def _check_transports(self, plant: Plant) -> None:
        """Refuse a plant whose devices name a transport no driver provides, naming device and
        field, instead of polling it into a wall of BAD_CONFIG alarms."""
        known = set(self.plugins.transports())
        problems = [
            f"device '{d.name}' (devices[{i}]), field 'transport': no driver provides "
            f"'{d.transport}' (available: {', '.join(sorted(known)) or 'none'})"
            for i, d in enumerate(plant.devices)
            if d.enabled and d.transport not in known
        ]
        if problems:
            raise ConfigError(plant.path, problems)

    def inject_fault(self, spec: str) -> Any:
        """Demo plant only: schedule a simulator fault now (e.g. 'cavitation', 'dead:vitals+30'),
        for training and tests. Journaled, so a fault seen in the plant is never a mystery."""
        if self.simulator is None:
            raise VigilError("faults can only be injected into the built-in demo plant")
        from app.sim.faults import parse_fault

        fault = parse_fault(spec)
        applied = self.simulator.call(lambda sim: sim.model.add_fault(fault))
        self.journal.append(
            "sim.fault", self._session(None).user,
            {"fault": spec, "device": applied.device, "start_s": applied.start_s},
        )
        return applied

    def _discover_device_types(self, plant: Plant) -> Plant:
        """Ask device-type plugins (e.g. SunSpec) for the register map of devices that need
        discovery. A device whose discovery fails is left out, journaled and listed in
        ``config_problems`` with the reason; the rest of the plant runs."""
        pending = plant.pending_discovery()
        if not pending:
            return plant
        found: dict[str, Any] = {}
        for dev in pending:
            try:
                device_type = self.plugins.device_type(dev.device_type)
                profile = asyncio.run(self._discover_one(dev, device_type))
            except Exception as e:  # a plugin or a dead device must not stop the plant
                msg = f"device '{dev.name}': {dev.device_type} discovery failed: {e}"
                self.config_problems.append(msg)
                self.journal.append(
                    "device.discovery_failed", "system",
                    {"device": dev.name, "device_type": dev.device_type, "error": str(e)}, critical=True,
                )
                continue
            found[dev.name] = profile
            self.journal.append(
                "device.discovered", "system",
                {"device": dev.name, "device_type": dev.device_type, "profile": profile.device.id,
                 "points": len(profile.points), "sha256": profile.sha256},
            )
        return plant.with_discovered(found)

    async def _discover_one(self, dev: Any, device_type: Any) -> Any:
        driver = self._driver_factory(dev)
        try:
            await asyncio.wait_for(driver.connect(), dev.timeout_ms / 1000.0 * 3)
            if hasattr(device_type, "login"):
                await device_type.login(driver, dev.unit)
            return await device_type.discover(driver, dev.unit)
        finally:
            await driver.close()

    def _load_plugins(self) -> None:
        from app.plugin_host import PluginHost

        self.plugins = PluginHost.discover(
            data_dir=self.data_dir, journal=self.journal, builtins_only=not self.plugins_enabled
        )

    def _add_plugin_profiles(self) -> None:
        for err in self.plugins.add_profiles_to(self.library):
            self.profile_errors.append(err)
            self.journal.append("config.refused", "system", {"source": err.source, "problems": err.problems})

    def _driver_factory(self, device: Any) -> Any:
        return self.plugins.driver_factory(device.transport)(device.link_config())

    def _make_detector_engine(self) -> Any:
        from app.core.detection import DetectorEngine
        from app.core.detection.engine import tag_units

        return DetectorEngine(
            journal=self.journal,
            alarms=self.alarms,
            historian=self.historian,
            models_dir=self.data_dir / "models",
            plugins=self.plugins,
            units=tag_units(self.plant),
        )

    def _restore_models(self) -> None:
        """Put the newest trained model of each detector group back into service after a
        restart, but only models the journal vouches for; a refused file is journaled and
        listed in ``config_problems`` (the operator sees why detection is off)."""
        from app.core.detection.store import load_model

        models_dir = self.data_dir / "models"
        newest: dict[str, Path] = {}
        for path in sorted(models_dir.glob("*.npz"), key=lambda p: p.stat().st_mtime):
            try:
                loaded = load_model(path, self.detectors.provenance.vouches)
            except Exception as e:
                self.config_problems.append(str(e))
                self.journal.append("model.refused", "system", {"file": path.name, "error": str(e)},
                                    critical=True)
                continue
            group = loaded.meta.get("group")
            if isinstance(group, str):
                newest[group] = path
        for group, path in sorted(newest.items()):
            try:
                self.detectors.load_model(group, path)
            except Exception as e:  # e.g. its detector's plugin is gone or was renamed
                self.config_problems.append(f"detector group '{group}': {e}")
                self.journal.append(
                    "model.refused", "system",
                    {"group": group, "file": path.name, "error": str(e)}, critical=True,
                )

    def _on_diagnostics(self, diag: Any) -> None:
        if self.alarms is not None:
            ok = diag.state == "online"
            self.alarms.on_device_state(diag.device, ok, diag.last_error or diag.state)

    # ------------------------------------------------------------------ queries
    def diagnostics(self) -> dict[str, Any]:
        return self.runtime.diagnostics() if self.runtime is not None else {}

    def latest(self) -> dict[str, Sample]:
        return self.snapshots.latest()

    # ------------------------------------------------------------------ accounts
    def login(self, name: str, password: str) -> Session:
        assert self.users is not None
        session = self.users.authenticate(name, password)
        if self.session is not None and self.session.user != name:
            self.users.logout(self.session, reason=f"switch user to {name}")
        self.session = session
        return session

    def logout(self, reason: str = "logout") -> None:
        if self.session is not None and self.users is not None:
            self.users.logout(self.session, reason=reason)
        self.session = None

    def _session(self, session: Session | None) -> Session:
        """The session an action runs as. A logged-in session must still be one the user store
        issued and has not ended (logout, account disabled, role changed): forged or stale
        sessions are refused and journaled. Nobody logged in acts as an anonymous viewer."""
        s = session or self.session
        if s is None:
            from app.core.users import Role

            return Session("anonymous", Role.VIEWER, time.time())
        if self.users is not None:
            try:
                self.users.check_session(s)
            except VigilError:
                if s is self.session:
                    self.session = None
                raise
        return s

    # ------------------------------------------------------------------ actions (role-checked)
    def acknowledge(self, alarm_ids: Sequence[str], session: Session | None = None) -> None:
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "alarm.acknowledge", alarms=list(alarm_ids))
        if len(alarm_ids) == 1:
            self.alarms.acknowledge(alarm_ids[0], s.user)
        else:
            self.alarms.acknowledge_all(list(alarm_ids), s.user)

    def shelve(self, alarm_id: str, reason: str, until_ts: float, session: Session | None = None) -> None:
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "alarm.shelve", alarm=alarm_id)
        if until_ts - time.time() > OPERATOR_MAX_SHELVE_S:
            self.authz.require(s, "alarm.shelve_long", alarm=alarm_id, until=until_ts)
        self.alarms.shelve(alarm_id, s.user, reason, until_ts)

    def unshelve(self, alarm_id: str, session: Session | None = None) -> None:
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "alarm.shelve", alarm=alarm_id)
        self.alarms.unshelve(alarm_id, s.user)

    def set_out_of_service(
        self, alarm_id: str, on: bool, reason: str, session: Session | None = None
    ) -> None:
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "alarm.out_of_service", alarm=alarm_id)
        self.alarms.set_out_of_service(alarm_id, s.user, on, reason)

    def write_setpoint(self, device: str, point: str, value: Any, session: Session | None = None) -> Any:
        """Role-check, write with priority, read back, and journal old/new/read-back."""
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "setpoint.write", tag=f"{device}.{point}", value=value)
        try:
            result = self.runtime.write(device, point, value)
        except Exception as e:
            self.journal.append(
                "setpoint.failed",
                s.user,
                {"tag": f"{device}.{point}", "value": value, "error": str(e)},
                critical=True,
            )
            raise
        self.journal.append(
            "setpoint.write",
            s.user,
            {"tag": f"{device}.{point}", "old": result.old, "new": result.new, "readback": result.readback},
            critical=True,
        )
        return result

    def note(self, text: str, session: Session | None = None) -> None:
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "journal.note")
        self.journal.append("note", s.user, {"text": text})

    def train_detector(
        self, group: str, t0: float, t1: float, session: Session | None = None, **kw: Any
    ) -> Any:
        s = self._session(session)
        assert self.authz is not None
        self.authz.require(s, "detector.train", group=group)
        return self.detectors.learn_normal(group, t0, t1, actor=s.user, **kw)
