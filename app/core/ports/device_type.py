"""The device-type contract: for devices that need more than a static register map.

Most devices are fully described by a profile (TOML). Some are not: SunSpec inverters say at
run time which models they carry and where, some devices need a login sequence before they
answer, some use a vendor's own number encoding. A device-type plugin handles that *once per
connection*, then hands the core an ordinary `Profile`, so polling, decoding, alarms and the
historian stay the same for every device.

Call order used by the core for a device whose plant entry names a device type
(``device_type = "sunspec"``):

1. the driver is connected (any transport),
2. ``await login(driver, unit)`` (optional hook),
3. ``profile = await discover(driver, unit)`` -> a validated `Profile`,
4. polling uses that profile; for each point ``decoder(profile, point)`` (optional hook) may
   return a custom decoder, or None for the standard codec.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from app.core.model import Value
from app.core.ports.driver import Driver
from app.core.profiles import Point, Profile

#: ``decode(block, start) -> value``: ``block`` is the words (or bits) of one block read and
#: ``start`` the point's index inside it. Return None for "no value" (e.g. "not implemented").
Decoder = Callable[[Sequence[int] | Sequence[bool], int], Value]


class DiscoveryError(Exception):
    """The device does not look like this device type (wrong marker, broken model chain).

    Raise it with a message naming the address and what was found; the core shows it as the
    device's configuration fault instead of polling garbage.
    """


@runtime_checkable
class DeviceType(Protocol):
    """What a ``[[device_types]]`` factory must return (called with no arguments)."""

    async def discover(self, driver: Driver, unit: int) -> Profile:
        """Read what the device says about itself and return the profile to poll it with.

        Raise `DiscoveryError` when the device is not of this type, or a `DriverError` when
        the link fails. Must finish within the device's timeout budget (a few reads).
        """
        ...


class DeviceTypeBase:
    """Convenience base with the optional hooks as no-ops; subclass and write ``discover``."""

    async def login(self, driver: Driver, unit: int) -> None:
        """Run a login or unlock sequence after each (re)connect. Default: nothing to do."""

    def decoder(self, profile: Profile, point: Point) -> Decoder | None:
        """A custom decoder for ``point``, or None to use the standard codec."""
        return None

    async def discover(self, driver: Driver, unit: int) -> Profile:
        raise NotImplementedError
