"""The `Driver` contract and its failure kinds, for plugin authors (defined in `app.core.ports`)."""

from app.core.ports.driver import (
    CommError,
    DeviceException,
    Driver,
    DriverError,
    LinkConfig,
    MalformedReply,
    SerialSettings,
    TableName,
)

__all__ = [
    "CommError",
    "DeviceException",
    "Driver",
    "DriverError",
    "LinkConfig",
    "MalformedReply",
    "SerialSettings",
    "TableName",
]
