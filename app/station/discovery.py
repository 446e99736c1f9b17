"""Device-type discovery at start-up: ask a device-type plugin (e.g. SunSpec) for the register
map of each device that needs one, before polling starts.

A device whose discovery fails is left out, journaled (``device.discovery_failed``) and listed
among the configuration problems with the reason; the rest of the plant runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.core.journal import Journal
from app.core.plant import DeviceConfig, Plant
from app.core.ports import Driver
from app.core.profiles import Profile
from app.plugin_host import PluginHost
from app.plugin_host.guard import GuardedDeviceType


def discover_device_types(
    plant: Plant,
    plugins: PluginHost,
    driver_factory: Callable[[DeviceConfig], Driver],
    journal: Journal,
    problems: list[str],
) -> Plant:
    """The plant with every discoverable device's profile filled in; failures go to ``problems``."""
    pending = plant.pending_discovery()
    if not pending:
        return plant
    found: dict[str, Profile] = {}
    for dev in pending:
        if dev.device_type is None:  # pending_discovery() lists only devices that name one
            continue
        try:
            device_type = plugins.device_type(dev.device_type)
            profile = asyncio.run(_discover_one(dev, device_type, driver_factory))
        except Exception as e:  # a plugin or a dead device must not stop the plant
            problems.append(f"device '{dev.name}': {dev.device_type} discovery failed: {e}")
            journal.append(
                "device.discovery_failed", "system",
                {"device": dev.name, "device_type": dev.device_type, "error": str(e)}, critical=True,
            )
            continue
        found[dev.name] = profile
        journal.append(
            "device.discovered", "system",
            {"device": dev.name, "device_type": dev.device_type, "profile": profile.device.id,
             "points": len(profile.points), "sha256": profile.sha256},
        )
    return plant.with_discovered(found)


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
