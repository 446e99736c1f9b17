"""The core's ports: the contracts a plugin implements and the errors it raises.

They live in the core because the core calls them (the runtime drives a `Driver`, the detector
engine a `Detector`, discovery a `DeviceType`); `app.sdk` re-exports them for plugin authors.
That keeps the dependency one way: plugins -> sdk -> core, never core -> sdk.
"""

from app.core.ports.detector import (
    DETECTOR_API_VERSION,
    AlarmLatch,
    Detector,
    DetectorError,
    DetectorState,
    Scores,
    check_batch,
    check_history,
    state_params,
    top_tags,
)
from app.core.ports.device_type import Decoder, DeviceType, DeviceTypeBase, DiscoveryError
from app.core.ports.driver import (
    CommError,
    DeviceException,
    Driver,
    DriverError,
    LinkConfig,
    MalformedReply,
    SerialSettings,
)

__all__ = [
    "DETECTOR_API_VERSION",
    "AlarmLatch",
    "CommError",
    "Decoder",
    "Detector",
    "DetectorError",
    "DetectorState",
    "DeviceException",
    "DeviceType",
    "DeviceTypeBase",
    "DiscoveryError",
    "Driver",
    "DriverError",
    "LinkConfig",
    "MalformedReply",
    "Scores",
    "SerialSettings",
    "check_batch",
    "check_history",
    "state_params",
    "top_tags",
]
