"""The `DeviceType` contract, for plugin authors (defined in `app.core.ports`)."""

from app.core.ports.device_type import Decoder, DeviceType, DeviceTypeBase, DiscoveryError

__all__ = ["Decoder", "DeviceType", "DeviceTypeBase", "DiscoveryError"]
