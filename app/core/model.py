"""The values that flow through Vigil: quality codes and samples.

A `Sample` is created once per point per poll and handed to every consumer (historian, alarm
engine, detectors, UI), so it is a light immutable tuple rather than a richer object.
"""

from __future__ import annotations

import enum
from typing import NamedTuple


class Quality(enum.IntEnum):
    """How far a value can be trusted. Only GOOD may be shown as a normal value.

    The integer codes are stored in the historian; never renumber them.
    """

    GOOD = 0
    UNCERTAIN = 1  # e.g. a value held at last known while a device reconnects
    BAD_COMM = 2  # no answer, connection refused, timeout, malformed reply
    BAD_CONFIG = 3  # the profile or plant file cannot produce this value
    BAD_DEVICE = 4  # the device answered with a Modbus exception response
    STALE = 5  # no fresh value within the expected interval

    @property
    def is_good(self) -> bool:
        return self is Quality.GOOD


Value = float | int | bool | str | None


class Sample(NamedTuple):
    """One value of one tag, stamped when the poll that produced it completed (source time).

    `t` is seconds since the Unix epoch (UTC). `value` is None when quality is bad and no value
    could be decoded.
    """

    tag: str
    value: Value
    quality: Quality
    t: float


def tag_name(device: str, point: str) -> str:
    """Tags are named ``device.point``; this is the only place that rule is written."""
    return f"{device}.{point}"
