"""The public plugin SDK: everything a plugin may import from Vigil, and nothing else.

Versioned with ``API_VERSION`` ("MAJOR.MINOR"). A plugin declares the version it targets in its
``plugin.toml``; it loads when the MAJOR matches and its MINOR is not newer than the host's.
Changes that break plugins bump MAJOR; additions bump MINOR.

Contents: the `Driver` contract and its failure kinds (drivers), the `Detector` contract and its
helpers (detectors), the `DeviceType` contract (devices needing discovery, a login or odd
encodings), and the profile types a device type builds (`Profile`, `Point`, `DeviceInfo`...), and
`ProfileLibrary`, which a plugin's tests use to check the profiles it contributes.
Test fixtures for plugin authors live in `app.plugin_testing` (a pytest plugin outside the SDK,
which imports the plugin host and pymodbus; the SDK itself imports nothing but the core).
"""

from app.core.codec import make_decoder, registers_to_bytes
from app.core.errors import ConfigError
from app.core.model import Quality, Sample, Value
from app.core.profiles import (
    DataType,
    DeviceInfo,
    Point,
    Profile,
    ProfileLibrary,
    Table,
    parse_profile,
)
from app.sdk.detector import (
    DETECTOR_API_VERSION,
    AlarmLatch,
    Detector,
    DetectorError,
    DetectorState,
    ParamSpec,
    Scores,
    check_batch,
    check_detector_params,
    check_history,
    check_params,
    state_params,
    top_tags,
)
from app.sdk.device_type import Decoder, DeviceType, DeviceTypeBase, DiscoveryError
from app.sdk.driver import (
    CommError,
    DeviceException,
    Driver,
    DriverError,
    LinkConfig,
    MalformedReply,
    SerialSettings,
)

#: 1.1 added ProfileLibrary (plugin tests check contributed profiles with it)
#: 1.2 added ParamSpec / param_specs (detectors declare parameter ranges; the host checks them)
API_VERSION = "1.2"

__all__ = [
    "API_VERSION",
    "DETECTOR_API_VERSION",
    "AlarmLatch",
    "CommError",
    "ConfigError",
    "DataType",
    "Decoder",
    "Detector",
    "DetectorError",
    "DetectorState",
    "DeviceException",
    "DeviceInfo",
    "DeviceType",
    "DeviceTypeBase",
    "DiscoveryError",
    "Driver",
    "DriverError",
    "LinkConfig",
    "MalformedReply",
    "ParamSpec",
    "Point",
    "Profile",
    "ProfileLibrary",
    "Quality",
    "Sample",
    "Scores",
    "SerialSettings",
    "Table",
    "Value",
    "check_batch",
    "check_detector_params",
    "check_history",
    "check_params",
    "make_decoder",
    "parse_profile",
    "registers_to_bytes",
    "state_params",
    "top_tags",
]
