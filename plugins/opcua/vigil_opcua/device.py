"""The ``opcua`` device type: the profile of an OPC UA device, read from its driver.

The register map of an OPC UA device is not a file: it follows from the plant file's points and
from the data types the server reports. The driver builds it when it connects and serves it as
compressed JSON in its input table (see `vigil_opcua.layout`); discovery reads it through the ordinary
Driver contract, so it works through the plugin host's guard like any other read.
"""

from __future__ import annotations

import hashlib
import json

from app.sdk import DeviceTypeBase, DiscoveryError, Driver, DriverError, Profile
from vigil_opcua.layout import catalogue_from_words

MAX_READ = 125


class OpcUaDeviceType(DeviceTypeBase):
    async def discover(self, driver: Driver, unit: int) -> Profile:
        try:
            (length,) = await driver.read(unit, "input", 0, 1)
        except DriverError as e:
            raise DiscoveryError(
                f"no OPC UA catalogue at input register 0 ({e}); is the transport 'opcua'?"
            ) from None
        n = (int(length) + 1) // 2
        if not 0 < n <= 65534:
            raise DiscoveryError(
                f"input register 0 says the catalogue is {length} bytes; not an OPC UA driver"
            )
        words: list[int] = []
        address = 1
        while len(words) < n:
            chunk = min(MAX_READ, n - len(words))
            words += [int(w) for w in await driver.read(unit, "input", address, chunk)]
            address += chunk
        try:
            catalogue = catalogue_from_words(words, int(length))
            text = json.dumps(catalogue, sort_keys=True).encode()
            return Profile.model_validate(
                {
                    **catalogue,
                    "path": f"opcua: {catalogue['device']['model']}",
                    "sha256": hashlib.sha256(text).hexdigest(),
                }
            )
        except Exception as e:  # a catalogue the profile model refuses: say so, never crash
            raise DiscoveryError(f"OPC UA catalogue is not a valid profile: {e}") from None
