"""Sparkplug B datatypes and qualities, and how Vigil's values and qualities map onto them.

The numbers are the ``DataType`` enum of sparkplug_b.proto; `SpDataType` repeats them as a
typed enum so the rest of Vigil does not handle the generated module's plain ints.
"""

from __future__ import annotations

import enum

from app.core.model import Quality
from app.core.profiles import DataType, Point


class SpDataType(enum.IntEnum):
    """The scalar datatypes of sparkplug_b.proto that Vigil publishes or reads."""

    Unknown = 0
    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14
    UUID = 15
    Bytes = 17


#: signed integer types and their width in bits (sent as two's complement in an unsigned field)
SIGNED_BITS = {SpDataType.Int8: 8, SpDataType.Int16: 16, SpDataType.Int32: 32, SpDataType.Int64: 64}
#: datatypes carried in ``int_value`` (uint32) and in ``long_value`` (uint64)
INT_VALUE_TYPES = frozenset(
    {SpDataType.Int8, SpDataType.Int16, SpDataType.Int32,
     SpDataType.UInt8, SpDataType.UInt16, SpDataType.UInt32}
)
LONG_VALUE_TYPES = frozenset({SpDataType.Int64, SpDataType.UInt64, SpDataType.DateTime})
STRING_VALUE_TYPES = frozenset({SpDataType.String, SpDataType.Text, SpDataType.UUID})

_FROM_PROFILE = {
    DataType.BOOL: SpDataType.Boolean,
    DataType.INT16: SpDataType.Int16,
    DataType.UINT16: SpDataType.UInt16,
    DataType.INT32: SpDataType.Int32,
    DataType.UINT32: SpDataType.UInt32,
    DataType.INT64: SpDataType.Int64,
    DataType.UINT64: SpDataType.UInt64,
    DataType.FLOAT32: SpDataType.Float,
    DataType.FLOAT64: SpDataType.Double,
    DataType.STRING: SpDataType.String,
}


def datatype_for_point(point: Point) -> SpDataType:
    """The Sparkplug datatype of a point's engineering value: the register type, except that a
    scaled or offset integer becomes a Double (0.1 x an int16 is no longer an integer)."""
    scaled = point.scale != 1.0 or point.offset != 0.0
    if scaled and point.type not in (DataType.BOOL, DataType.STRING):
        return SpDataType.Double
    return _FROM_PROFILE[point.type]


# ---------------------------------------------------------------------------- quality
#: the Sparkplug ``Quality`` metric property (as Ignition reads it)
SP_QUALITY_BAD = 0
SP_QUALITY_GOOD = 192
SP_QUALITY_STALE = 500


def sparkplug_quality(q: Quality) -> int:
    """Vigil's quality as the Sparkplug ``Quality`` property: GOOD 192, STALE 500, else BAD 0
    (UNCERTAIN is not GOOD: nothing is shown as good when it is not). The finer Vigil quality
    travels beside it as the string property ``vigilQuality``."""
    if q is Quality.GOOD:
        return SP_QUALITY_GOOD
    if q is Quality.STALE:
        return SP_QUALITY_STALE
    return SP_QUALITY_BAD


def vigil_quality(sp_quality: int | None, vigil_name: str | None = None) -> Quality:
    """The Vigil quality of a received metric: the exact one when a Vigil node sent its name,
    else the nearest to the Sparkplug code (missing = GOOD, as the specification defaults)."""
    if vigil_name:
        try:
            return Quality[vigil_name]
        except KeyError:
            pass
    if sp_quality is None or sp_quality == SP_QUALITY_GOOD:
        return Quality.GOOD
    if sp_quality == SP_QUALITY_STALE:
        return Quality.STALE
    return Quality.BAD_COMM
