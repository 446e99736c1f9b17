"""Device-type discovery: ask a device-type plugin (e.g. SunSpec) for the register map of each
device that needs one, before polling starts, and keep asking for those it could not read.

A device whose discovery fails at start is journaled (``device.discovery_failed``) and listed
among the configuration problems; the rest of the plant runs. It is not forgotten: its COMM
alarm is raised (after its on-delay) while `DiscoveryRetry` tries again with a capped, jittered
backoff, and once its map is read the device is added to the running plant and polled.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.core.alarms import DEFAULT_PRIORITY, alarm_id
from app.core.alarms.types import AlarmDefinition, AlarmKind
from app.core.diagnostics import backoff_delay
from app.core.journal import Journal
from app.core.plant import DeviceConfig, Plant
from app.core.ports import Driver
from app.core.profiles import Profile
from app.plugin_host import PluginHost
from app.plugin_host.guard import GuardedDeviceType

log = logging.getLogger(__name__)


def discover_device_types(
    plant: Plant,
    plugins: PluginHost,
    driver_factory: Callable[[DeviceConfig], Driver],
    journal: Journal,
    problems: list[str],
) -> Plant:
    """The plant with every discoverable device's profile filled in; failures go to ``problems``
    (those devices are left out of the returned plant: `awaiting_discovery` lists them)."""
    pending = plant.pending_discovery()
    if not pending:
        return plant
    found: dict[str, Profile] = {}
    for dev in pending:
        if dev.device_type is None:  # pending_discovery() lists only devices that name one
            continue
        try:
            profile = discover_one(dev, plugins, driver_factory)
        except Exception as e:  # a plugin or a dead device must not stop the plant
            problems.append(failure_problem(dev, e))
            journal.append(
                "device.discovery_failed", "system",
                {"device": dev.name, "device_type": dev.device_type, "error": str(e)}, critical=True,
            )
            continue
        found[dev.name] = profile
        _journal_found(journal, dev, profile)
    return plant.with_discovered(found)


def awaiting_discovery(configured: Plant, running: Plant) -> list[DeviceConfig]:
    """Devices of the plant file whose register map discovery has not read yet."""
    return [d for d in configured.pending_discovery() if d.name not in running.profiles]


def failure_problem(dev: DeviceConfig, e: BaseException) -> str:
    return f"device '{dev.name}': {dev.device_type} discovery failed: {e} (retrying)"


def comm_alarm(dev: DeviceConfig) -> AlarmDefinition:
    """The COMM alarm of a device that has no register map yet (the same id it keeps later)."""
    return AlarmDefinition(
        id=alarm_id(dev.name, AlarmKind.COMM),
        kind=AlarmKind.COMM,
        priority=DEFAULT_PRIORITY[AlarmKind.COMM],
        source=dev.name,
        device=dev.name,
        description=f"{dev.description or dev.name}: communication lost",
    )


def discover_one(
    dev: DeviceConfig, plugins: PluginHost, driver_factory: Callable[[DeviceConfig], Driver]
) -> Profile:
    assert dev.device_type is not None
    device_type = plugins.device_type(dev.device_type)
    return asyncio.run(_discover_one(dev, device_type, driver_factory))


def _journal_found(journal: Journal, dev: DeviceConfig, profile: Profile) -> None:
    journal.append(
        "device.discovered", "system",
        {"device": dev.name, "device_type": dev.device_type, "profile": profile.device.id,
         "points": len(profile.points), "sha256": profile.sha256},
    )


async def _discover_one(
    dev: DeviceConfig, device_type: GuardedDeviceType, driver_factory: Callable[[DeviceConfig], Driver]
) -> Profile:
    driver = driver_factory(dev)
    try:
        await asyncio.wait_for(driver.connect(), dev.timeout_ms / 1000.0 * 3)
        await device_type.login(driver, dev.unit)
        return await device_type.discover(driver, dev.unit)
    finally:
        await driver.close()


@dataclass
class _Waiting:
    device: DeviceConfig
    failures: int
    next_try: float  # monotonic


class DiscoveryRetry:
    """A thread (``vigil-discovery``) that retries each awaiting device's discovery, waiting
    ``backoff_delay`` between tries (doubling from ``base_s`` up to the device's
    ``reconnect_max_ms``, jittered), and hands each found map to ``on_found``."""

    def __init__(
        self,
        awaiting: list[DeviceConfig],
        discover: Callable[[DeviceConfig], Profile],
        journal: Journal,
        on_found: Callable[[DeviceConfig, Profile], None],
        *,
        base_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._discover = discover
        self._journal = journal
        self._on_found = on_found
        self._base_s = base_s
        self._clock = clock
        now = clock()
        # the start-up try was the first failure
        self._waiting = {d.name: _Waiting(d, 1, now + self._delay(d, 0)) for d in awaiting}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="vigil-discovery", daemon=True)

    def _delay(self, dev: DeviceConfig, attempt: int) -> float:
        return backoff_delay(attempt, self._base_s, max(self._base_s, dev.reconnect_max_ms / 1000.0))

    @property
    def waiting(self) -> list[str]:
        return sorted(self._waiting)

    def start(self) -> None:
        if self._waiting:
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while self._waiting and not self._stop.is_set():
            due = min(w.next_try for w in self._waiting.values())
            if self._stop.wait(max(0.0, due - self._clock())):
                return
            self.try_due()

    def try_due(self) -> None:
        """Try every device whose wait is over (the thread's step; tests call it directly)."""
        now = self._clock()
        for name, w in list(self._waiting.items()):
            if w.next_try > now or self._stop.is_set():
                continue
            dev = w.device
            try:
                profile = self._discover(dev)
            except Exception as e:
                w.next_try = self._clock() + self._delay(dev, w.failures)
                w.failures += 1
                log.info("device %s: discovery try %d failed: %s", name, w.failures, e)
                continue
            del self._waiting[name]
            try:
                _journal_found(self._journal, dev, profile)
                self._on_found(dev, profile)
            except Exception:
                log.exception("device %s: discovered, but could not be added", name)
