"""The public plugin SDK: everything a plugin may import from Vigil, and nothing else.

Versioned with ``API_VERSION`` ("MAJOR.MINOR"). A plugin declares the version it targets in its
``plugin.toml``; it loads when the MAJOR matches and its MINOR is not newer than the host's.
Changes that break plugins bump MAJOR; additions bump MINOR.
"""

from app.core.model import Quality, Sample
from app.sdk.driver import (
    CommError,
    DeviceException,
    Driver,
    DriverError,
    LinkConfig,
    MalformedReply,
    SerialSettings,
)

API_VERSION = "1.0"

__all__ = [
    "API_VERSION",
    "CommError",
    "DeviceException",
    "Driver",
    "DriverError",
    "LinkConfig",
    "MalformedReply",
    "Quality",
    "Sample",
    "SerialSettings",
]
