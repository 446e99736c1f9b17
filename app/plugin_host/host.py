"""`PluginHost`: the one object the Core, the UI and the CLI ask for plugin contributions.

It discovers plugins (manifests only), indexes what they contribute, and imports a plugin's code
the first time one of its contributions is asked for. Every way plugin code can go wrong -
failing to import, raising, hanging past a time budget, returning the wrong kind of object - is
contained here: the plugin is marked FAILED with a reason a person can read, the change is
journaled, subscribers (the UI) are told, and the caller gets `PluginUnavailable`, a normal
`VigilError` it can show as a message.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from app.core import paths
from app.core.errors import ConfigError, VigilError
from app.core.plant import DeviceConfig
from app.core.ports.detector import DetectorError
from app.core.ports.driver import LinkConfig
from app.core.profiles import Profile, ProfileLibrary, load_profile
from app.plugin_host.disabled import DisabledList
from app.plugin_host.discovery import resolve, scan_entry_points, scan_folder, scan_plugin_folder
from app.plugin_host.guard import (
    GuardedDetector,
    GuardedDeviceType,
    GuardedDriver,
    PluginFault,
    call_contained,
    call_with_budget,
)
from app.plugin_host.loader import fingerprint, import_object
from app.plugin_host.manifest import Manifest
from app.plugin_host.records import PluginRecord, PluginState, Source
from app.plugin_host.trust import APPROVED, needs_approval, unapproved_reason
from app.sdk import API_VERSION

_UNSET: Any = object()
_FAULT_WARNINGS_KEPT = 5


class JournalLike(Protocol):
    def append(self, kind: str, actor: str, body: dict[str, Any], *, critical: bool = False) -> None: ...


class PluginUnavailable(VigilError):
    """No usable plugin provides the asked-for contribution (unknown name, or its plugin is
    disabled or failed: the message says which and why)."""


class PluginHost:
    """Discovers plugins and hands out their contributions lazily and safely.

    Folders are given explicitly in tests; by default they come from `app.core.paths`.
    ``VIGIL_NO_PLUGINS=1`` (or ``builtins_only=True``) scans built-in plugins only.
    """

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        journal: JournalLike | None = None,
        builtin_dir: Path | None = _UNSET,
        user_dir: Path | None = _UNSET,
        frozen_dir: Path | None = _UNSET,
        plugin_dirs: Sequence[Path] = (),
        entry_points: bool = True,
        builtins_only: bool = False,
        import_budget_s: float = 10.0,
        call_budget_s: float = 5.0,
        driver_call_budget_s: float | None = None,
        api_version: str = API_VERSION,
        approvals: Mapping[str, str] | None = None,
    ):
        self.builtin_dir = paths.builtin_plugins_dir() if builtin_dir is _UNSET else builtin_dir
        self.user_dir = paths.user_plugins_dir() if user_dir is _UNSET else user_dir
        self.frozen_dir = paths.frozen_plugins_dir() if frozen_dir is _UNSET else frozen_dir
        #: individual plugin folders (tests, development), scanned as user plugins after user_dir
        self.plugin_dirs = [Path(p) for p in plugin_dirs]
        self.use_entry_points = entry_points
        env_off = os.environ.get("VIGIL_NO_PLUGINS", "").strip() not in ("", "0")
        self.builtins_only = builtins_only or env_off
        self.import_budget_s = import_budget_s
        self.call_budget_s = call_budget_s
        #: None: each driver call gets its link's timeout x 2 + 1 s
        self.driver_call_budget_s = driver_call_budget_s
        self.api_version = api_version
        self.journal = journal
        #: plugin id -> approved SHA-256 (`app.plugin_host.trust`); None: no approval needed
        #: (a library user's or a test's host). The station always passes the journal's.
        self.approvals = dict(approvals) if approvals is not None else None
        self.disabled = DisabledList(data_dir)
        self._lock = threading.RLock()
        self._records: list[PluginRecord] | None = None
        # kind -> contribution name -> candidates in discovery order: (record, 'module:attr')
        self._index: dict[str, dict[str, list[tuple[PluginRecord, str]]]] = {}
        self._objects: dict[tuple[str, str], Any] = {}
        self._subscribers: list[Callable[[PluginRecord], None]] = []
        self._profiles: list[tuple[PluginRecord, Profile]] | None = None
        self._profile_errors: list[ConfigError] = []

    # ---------------------------------------------------------------- discovery

    @classmethod
    def discover(cls, **kwargs: Any) -> PluginHost:
        """Make a host (same keywords as the constructor) and scan every source at once."""
        host = cls(**kwargs)
        host.scan()
        return host

    def scan(self) -> list[PluginRecord]:
        """Scan every source once (manifests only; imports nothing) and return the records."""
        with self._lock:
            if self._records is not None:
                return self._records
            found: list[PluginRecord] = []
            if self.builtin_dir is not None:
                found += scan_folder(Path(self.builtin_dir), Source.BUILTIN)
            if not self.builtins_only:
                if self.user_dir is not None:
                    found += scan_folder(Path(self.user_dir), Source.USER)
                found += [scan_plugin_folder(p, Source.USER) for p in self.plugin_dirs]
                if self.frozen_dir is not None:
                    found += scan_folder(Path(self.frozen_dir), Source.FROZEN)
                if self.use_entry_points:
                    found += scan_entry_points()
            self._records = resolve(found, self.api_version, self.disabled.ids, self.builtins_only)
            if self.disabled.problem:
                self._fail_closed(self._records)
            if self.approvals is not None:
                self._hold_unapproved(self._records, self.approvals)
            self._build_index()
            for rec in self._records:
                if rec.state is PluginState.REJECTED:
                    self._journal("plugin.rejected", rec, {"reason": rec.reason}, critical=False)
            return self._records

    def _fail_closed(self, records: list[PluginRecord]) -> None:
        """The disabled list cannot be read, so which plugins an administrator switched off is
        unknown: every plugin that is not built in stays off for this run (never silently
        re-enabled), and the reason names the file to fix."""
        for rec in records:
            if rec.source is not Source.BUILTIN and rec.state is PluginState.AVAILABLE:
                rec.state = PluginState.DISABLED
                rec.reason = (f"not loaded: {self.disabled.problem} (until then no plugin that is not "
                              "built in is loaded)")
                self._journal("plugin.disabled", rec, {"by": "system", "reason": rec.reason},
                              critical=True)

    def _hold_unapproved(self, records: list[PluginRecord], approvals: Mapping[str, str]) -> None:
        """A plugin that is not built in stays off until its id and current file digest are
        approved; nothing of it is imported. A changed digest is journaled as critical."""
        for rec in records:
            if not needs_approval(rec) or rec.state is not PluginState.AVAILABLE:
                continue
            try:
                digest, _ = fingerprint(rec.location)
            except OSError as e:
                digest = ""
                reason = f"awaiting approval: its files cannot be read ({e})"
            approved = approvals.get(rec.id)
            if digest and digest == approved:
                continue
            rec.state = PluginState.DISABLED
            rec.sha256 = digest
            rec.reason = unapproved_reason(rec.id, digest, approved) if digest else reason
            changed = approved is not None
            self._journal("plugin.changed" if changed else "plugin.unapproved", rec,
                          {"sha256": digest, "approved_sha256": approved, "reason": rec.reason},
                          critical=changed)

    def approve(self, plugin_id: str, actor: str) -> str:
        """Record ``actor``'s approval of ``plugin_id`` as it is on disk now (its SHA-256 and
        per-file digests) in the journal, as a critical event; returns the digest. Takes effect
        at the next start. Raises `PluginUnavailable` for an unknown, built-in or broken
        plugin, and whatever the journal raises (nothing is approved without it)."""
        rec = self.record(plugin_id)
        if rec is None:
            raise PluginUnavailable(f"no plugin with id '{plugin_id}' was found")
        if not needs_approval(rec):
            raise PluginUnavailable(f"'{plugin_id}' is built in: it needs no approval")
        if rec.state is PluginState.REJECTED or rec.manifest is None:
            raise PluginUnavailable(f"'{plugin_id}' cannot be approved: {rec.reason}")
        if self.journal is None:
            raise PluginUnavailable("no journal to record the approval in; nothing approved")
        try:
            digest, files = fingerprint(rec.location)
        except OSError as e:
            raise PluginUnavailable(f"cannot read plugin files in {rec.location}: {e}") from None
        self.journal.append(
            APPROVED, actor,
            {"plugin": rec.id, "sha256": digest, "files": files, "version": rec.version,
             "source": str(rec.source), "location": str(rec.location)},
            critical=True,
        )
        return digest

    def _build_index(self) -> None:
        assert self._records is not None
        self._index = {"driver": {}, "detector": {}, "device_type": {}, "widget": {}}
        for rec in self._records:
            if rec.manifest is None or rec.state is PluginState.REJECTED:
                continue
            for kind, name, ref in rec.manifest.object_refs():
                candidates = self._index[kind].setdefault(name, [])
                if candidates and rec.state is not PluginState.DISABLED:
                    first = candidates[0][0]
                    rec.warnings.append(
                        f"{kind} '{name}' is also provided by '{first.id}' ({first.source}), "
                        "which comes first; this one is used only if that one is unavailable"
                    )
                candidates.append((rec, ref))

    def records(self) -> list[PluginRecord]:
        return list(self.scan())

    def record(self, plugin_id: str) -> PluginRecord | None:
        return next((r for r in self.scan() if r.id == plugin_id), None)

    def problems(self) -> list[str]:
        """Every reason a plugin is not in use other than the user's choice: for a banner."""
        return [
            f"{r.id}: {r.reason}"
            for r in self.scan()
            if r.state in (PluginState.FAILED, PluginState.REJECTED)
        ]

    def subscribe(self, callback: Callable[[PluginRecord], None]) -> None:
        """``callback(record)`` is called (on whichever thread caused it) when a plugin is
        loaded or fails. Keep it quick: the UI should just queue a refresh."""
        self._subscribers.append(callback)

    def names(self, kind: str) -> list[str]:
        """Contribution names of ``kind`` ('driver', 'detector', 'device_type', 'widget') that
        some usable plugin offers."""
        self.scan()
        return sorted(n for n, cands in self._index[kind].items() if any(r.usable for r, _ in cands))

    def owner(self, kind: str, name: str) -> str | None:
        """Id of the plugin that serves contribution ``name`` of ``kind`` (the first usable
        provider), e.g. so the UI can `fail` the right plugin when a widget raises."""
        self.scan()
        return next((r.id for r, _ in self._index[kind].get(name, []) if r.usable), None)

    def transports(self) -> list[str]:
        return self.names("driver")

    def detector_names(self) -> list[str]:
        return self.names("detector")

    def device_type_names(self) -> list[str]:
        return self.names("device_type")

    # ------------------------------------------------------------- contributions

    def driver_factory(self, transport: str) -> Callable[[LinkConfig], GuardedDriver]:
        """``make(link) -> Driver`` for ``transport``. The returned drivers are `GuardedDriver`s:
        the runtime only ever sees CommError / MalformedReply / DeviceException from them."""
        rec, factory = self._resolve_callable("driver", transport)

        def make(link: LinkConfig) -> GuardedDriver:
            try:
                driver = call_contained(factory, link, what=f"driver factory '{transport}'")
                _check_driver(driver, transport)
            except PluginFault as e:
                self._fail(rec, e)
                raise PluginUnavailable(f"driver '{transport}': plugin '{rec.id}' {e}") from None
            budget = self.driver_call_budget_s or (link.timeout_s * 2 + 1.0)
            return GuardedDriver(driver, rec.id, budget, on_fault=lambda msg: self.report_fault(rec.id, msg))

        return make

    def runtime_driver_factory(self) -> Callable[[DeviceConfig], GuardedDriver]:
        """The ``driver_factory(device_config) -> Driver`` that `app.core.runtime.Runtime` takes."""

        def make(device_config: DeviceConfig) -> GuardedDriver:
            link = device_config.link_config()
            return self.driver_factory(link.transport)(link)

        return make

    def detector_class(self, name: str) -> Any:
        """The imported detector factory itself (usually a class), e.g. for ``from_state``."""
        return self._resolve_callable("detector", name)[1]

    def detector_factory(self, name: str) -> Callable[..., GuardedDetector]:
        """``make(**params) -> Detector``; construction runs with the call budget and the result
        is checked to have ``fit``, ``score`` and ``get_state``. The detector comes back as a
        `GuardedDetector`: whatever its methods raise reaches the caller as a `DetectorError`
        naming it, and counts as a fault of its plugin (as a driver's would).

        A factory refusing its parameters with the SDK's `DetectorError` ("alpha must be in
        (0, 1]") is the caller's mistake, not the plugin's: that error is passed on as it is and
        the plugin stays in service. Anything else it raises disables the plugin."""
        rec, factory = self._resolve_callable("detector", name)

        def make(**params: Any) -> GuardedDetector:
            try:
                det = call_with_budget(
                    factory, self.call_budget_s, what=f"detector factory '{name}'", **params
                )
                _check_methods(det, ("fit", "score", "get_state"), f"detector factory '{name}'")
            except PluginFault as e:
                if isinstance(e.__cause__, DetectorError):
                    msg = str(e.__cause__)
                    named = msg if msg.startswith(name) else f"detector '{name}': {msg}"
                    raise DetectorError(named) from None
                self._fail(rec, e)
                raise PluginUnavailable(f"detector '{name}': plugin '{rec.id}' {e}") from None
            return GuardedDetector(det, name, rec.id, on_fault=lambda msg: self.report_fault(rec.id, msg))

        return make

    def device_type(self, name: str) -> GuardedDeviceType:
        """A ready device-type object (factory called with no arguments), guarded so that
        ``discover`` raising or hanging becomes a `DiscoveryError` instead of a crash."""
        rec, factory = self._resolve_callable("device_type", name)
        try:
            obj = call_with_budget(factory, self.call_budget_s, what=f"device type factory '{name}'")
            _check_methods(obj, ("discover",), f"device type factory '{name}'", coroutines=("discover",))
        except PluginFault as e:
            self._fail(rec, e)
            raise PluginUnavailable(f"device type '{name}': plugin '{rec.id}' {e}") from None
        return GuardedDeviceType(
            obj, rec.id, self.call_budget_s, on_fault=lambda msg: self.report_fault(rec.id, msg)
        )

    def widget_factory(self, name: str) -> Any:
        """The imported widget class/callable (only the UI calls this; it constructs it)."""
        return self._resolve_callable("widget", name)[1]

    def profiles(self) -> tuple[list[Profile], list[ConfigError]]:
        """Profiles contributed by usable plugins, and every problem found loading them.

        Profiles are data, so loading them imports no code; a broken file is reported (naming
        the plugin and the file) and the rest still load.
        """
        with self._lock:
            if self._profiles is None:
                self._profiles, self._profile_errors = [], []
                for rec, manifest in self._profile_plugins():
                    for entry in manifest.profiles:
                        folder = rec.location / entry.path
                        if not folder.is_dir():
                            self._profile_errors.append(
                                ConfigError(
                                    str(rec.manifest_path),
                                    [f"plugin '{rec.id}': profiles folder '{entry.path}' does not exist"],
                                )
                            )
                            continue
                        for f in sorted(folder.glob("*.toml")):
                            try:
                                self._profiles.append((rec, load_profile(f)))
                            except ConfigError as e:
                                self._profile_errors.append(
                                    ConfigError(f"{e.source} (plugin '{rec.id}')", e.problems)
                                )
            return [p for _, p in self._profiles], list(self._profile_errors)

    def _profile_plugins(self) -> Iterator[tuple[PluginRecord, Manifest]]:
        """Usable plugins that contribute profiles, each marked loaded (its file hashes
        journaled) before its profiles are read; one that cannot be is disabled and skipped."""
        for rec in self.scan():
            if not rec.usable or rec.manifest is None or not rec.manifest.profiles:
                continue
            try:
                self._mark_loaded(rec)
            except PluginFault as e:
                self._fail(rec, e)
                continue
            yield rec, rec.manifest

    def profile_folders(self) -> list[Path]:
        """The existing profile folders of usable plugins, in discovery order (for
        ``ProfileLibrary.add_folder``). Marks those plugins loaded and journals their hashes."""
        folders: list[Path] = []
        for rec, manifest in self._profile_plugins():
            folders += [
                rec.location / e.path for e in manifest.profiles if (rec.location / e.path).is_dir()
            ]
        return folders

    def add_profiles_to(self, library: ProfileLibrary) -> list[ConfigError]:
        """Add every plugin profile to ``library``; returns the problems (duplicates included)."""
        found, errors = self.profiles()
        for prof in found:
            try:
                library.add(prof)
            except ConfigError as e:
                errors.append(e)
        return errors

    # ------------------------------------------------------------ state changes

    def set_enabled(self, plugin_id: str, enabled: bool, actor: str = "system") -> None:
        """Persist the user's choice (takes effect at the next start; a plugin already imported
        in this process cannot be un-imported). Journaled with ``actor``."""
        self.disabled.set(plugin_id, not enabled)
        rec = self.record(plugin_id)
        self._journal(
            "plugin.enabled" if enabled else "plugin.disabled",
            rec,
            {"by": "user"},
            critical=not enabled,
            plugin_id=plugin_id,
            actor=actor,
        )

    def fail(self, plugin_id: str, reason: str) -> None:
        """Disable a plugin for this run with ``reason`` (e.g. the detector engine found its
        ``score`` returning garbage)."""
        rec = self.record(plugin_id)
        if rec is not None:
            self._fail(rec, PluginFault("garbage", reason))

    def report_fault(self, plugin_id: str, message: str) -> None:
        """A contained, non-fatal fault in running plugin code (a driver raising a wrong
        exception type). Counted and shown; journaled the first time per run."""
        rec = self.record(plugin_id)
        if rec is None:
            return
        with self._lock:
            first = not any(w.startswith("fault: ") for w in rec.warnings)
            rec.warnings.append(f"fault: {message}")
            faults = [w for w in rec.warnings if w.startswith("fault: ")]
            if len(faults) > _FAULT_WARNINGS_KEPT:
                rec.warnings.remove(faults[0])
        if first:
            self._journal("plugin.fault", rec, {"message": message}, critical=False)
        self._notify(rec)

    # ---------------------------------------------------------------- internals

    def _resolve_callable(self, kind: str, name: str) -> tuple[PluginRecord, Any]:
        self.scan()
        with self._lock:
            candidates = self._index[kind].get(name)
            if not candidates:
                known = ", ".join(self.names(kind)) or "none"
                raise PluginUnavailable(
                    f"no plugin provides {kind.replace('_', ' ')} '{name}' (available: {known})"
                )
            reasons = []
            for rec, ref in candidates:
                if not rec.usable:
                    reasons.append(f"plugin '{rec.id}' is {rec.state}: {rec.reason}")
                    continue
                key = (rec.id, ref)
                if key in self._objects:
                    return rec, self._objects[key]
                try:
                    self._mark_loaded(rec)
                    obj = import_object(rec, ref, self.import_budget_s)
                    if not callable(obj):
                        raise PluginFault(
                            "garbage", f"'{ref}' is a {type(obj).__name__}, not a factory (class or function)"
                        )
                except PluginFault as e:
                    self._fail(rec, e)
                    reasons.append(f"plugin '{rec.id}' failed: {rec.reason}")
                    continue
                self._objects[key] = obj
                return rec, obj
            raise PluginUnavailable(
                f"{kind.replace('_', ' ')} '{name}' is unavailable: " + "; ".join(reasons)
            )

    def _mark_loaded(self, rec: PluginRecord) -> None:
        """First use of a plugin: fingerprint its files and journal ``plugin.load``."""
        if rec.state is PluginState.LOADED:
            return
        t0 = time.perf_counter()
        try:
            digest, files = fingerprint(rec.location)
        except OSError as e:
            raise PluginFault("import", f"cannot read plugin files in {rec.location}: {e}") from None
        if self.approvals is not None and needs_approval(rec) and self.approvals.get(rec.id) != digest:
            raise PluginFault("untrusted", f"its files changed after start-up (SHA-256 {digest[:16]}... is "
                              "not the approved one); not imported")
        rec.sha256 = digest
        rec.state = PluginState.LOADED
        self._journal(
            "plugin.load",
            rec,
            {"sha256": digest, "files": files, "hash_ms": round((time.perf_counter() - t0) * 1000, 1)},
            critical=False,
        )
        self._notify(rec)

    def _fail(self, rec: PluginRecord, fault: PluginFault) -> None:
        with self._lock:
            if rec.state is PluginState.FAILED:
                return
            rec.state = PluginState.FAILED
            rec.reason = f"{fault.kind}: {fault}"
        self._journal("plugin.disabled", rec, {"reason": rec.reason, "fault": fault.kind}, critical=True)
        self._notify(rec)

    def _notify(self, rec: PluginRecord) -> None:
        for cb in list(self._subscribers):
            with contextlib.suppress(Exception):  # a broken UI callback must not break plugin loading
                cb(rec)

    def _journal(
        self,
        kind: str,
        rec: PluginRecord | None,
        extra: dict[str, Any],
        *,
        critical: bool,
        plugin_id: str = "",
        actor: str = "system",
    ) -> None:
        if self.journal is None:
            return
        body: dict[str, Any] = {"plugin": rec.id if rec else plugin_id}
        if rec is not None:
            body.update(version=rec.version, source=str(rec.source), location=str(rec.location))
        body.update(extra)
        with contextlib.suppress(Exception):  # the journal reports its own faults; plugin handling must go on
            self.journal.append(kind, actor, body, critical=critical)


def _check_methods(obj: Any, names: tuple[str, ...], what: str, coroutines: tuple[str, ...] = ()) -> None:
    """Raise PluginFault('garbage') unless ``obj`` has callable ``names`` (looked up statically,
    so a property that raises cannot fool or break the check)."""
    missing = []
    for n in names:
        try:
            attr = inspect.getattr_static(obj, n)
        except AttributeError:
            missing.append(n)
            continue
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        if not callable(attr):
            missing.append(n)
        elif n in coroutines and not inspect.iscoroutinefunction(attr):
            missing.append(f"{n} (must be async)")
    if missing:
        raise PluginFault("garbage", f"{what} returned a {type(obj).__name__} lacking {', '.join(missing)}")


def _check_driver(obj: Any, transport: str) -> None:
    _check_methods(
        obj,
        ("connect", "close", "read", "write"),
        f"driver factory '{transport}'",
        coroutines=("connect", "close", "read", "write"),
    )
    try:
        inspect.getattr_static(obj, "connected")
    except AttributeError:
        raise PluginFault(
            "garbage", f"driver factory '{transport}' returned a {type(obj).__name__} lacking 'connected'"
        ) from None
