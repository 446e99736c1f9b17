"""Sparkplug B payloads: building metrics from Vigil values and decoding received payloads into
plain values, over the protobuf code generated from the official sparkplug_b.proto.

Encoding rules (Sparkplug B 3.0, as Eclipse Tahu implements them): integers up to 32 bits go in
``int_value``, 64-bit ones and DateTime in ``long_value``, signed values as two's complement of
their width; Float in ``float_value``, Double in ``double_value``; a missing value is
``is_null`` with no value field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from app.core.model import Value
from app.core.sparkplug import sparkplug_b_pb2 as pb
from app.core.sparkplug.datatypes import (
    INT_VALUE_TYPES,
    LONG_VALUE_TYPES,
    SIGNED_BITS,
    STRING_VALUE_TYPES,
    SpDataType,
)

Payload = pb.Payload
Metric = pb.Payload.Metric

#: a metric or property value as Vigil handles it (bytes only for the Bytes datatype)
SpValue = Value | bytes
#: property values Vigil sends: (datatype, value)
PropertyItem = tuple[SpDataType, SpValue]

#: names of the node control and bdSeq metrics (Sparkplug B 3.0)
BDSEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
#: metric property names (those Ignition's MQTT Engine maps onto tag properties, plus Vigil's)
PROP_QUALITY = "Quality"
PROP_VIGIL_QUALITY = "vigilQuality"
PROP_ENG_UNIT = "engUnit"
PROP_ENG_LOW = "engLow"
PROP_ENG_HIGH = "engHigh"
PROP_DOCUMENTATION = "Documentation"
PROP_READ_ONLY = "readOnly"
PROP_WRITE_MIN = "writeMin"
PROP_WRITE_MAX = "writeMax"
PROP_ALARM_LOLO = "alarmLoLo"
PROP_ALARM_LO = "alarmLo"
PROP_ALARM_HI = "alarmHi"
PROP_ALARM_HIHI = "alarmHiHi"


class PayloadError(ValueError):
    """A payload that is not a Sparkplug B protobuf, or a value that does not fit its datatype."""


# ---------------------------------------------------------------------------- encoding
def to_ms(t: float) -> int:
    """Seconds since the epoch -> the milliseconds Sparkplug timestamps use."""
    return round(t * 1000.0)


def set_value(target: pb.Payload.Metric | pb.Payload.PropertyValue, datatype: SpDataType,
              value: SpValue) -> None:
    """Put ``value`` into ``target``'s value field for ``datatype`` (None: ``is_null``)."""
    if value is None:
        target.is_null = True
        return
    try:
        if datatype is SpDataType.Boolean:
            target.boolean_value = bool(value)
        elif datatype in INT_VALUE_TYPES:
            target.int_value = _unsigned(datatype, _as_int(value), 32)
        elif datatype in LONG_VALUE_TYPES:
            target.long_value = _unsigned(datatype, _as_int(value), 64)
        elif datatype is SpDataType.Float:
            target.float_value = float(value)
        elif datatype is SpDataType.Double:
            target.double_value = float(value)
        elif datatype in STRING_VALUE_TYPES:
            target.string_value = value if isinstance(value, str) else str(value)
        elif datatype is SpDataType.Bytes and isinstance(target, pb.Payload.Metric):
            target.bytes_value = value if isinstance(value, bytes) else str(value).encode()
        else:
            raise PayloadError(f"datatype {datatype.name} is not supported here")
    except (TypeError, ValueError, OverflowError) as e:
        raise PayloadError(f"{value!r} does not fit datatype {datatype.name}: {e}") from None


def value_field(datatype: SpDataType) -> tuple[str, Callable[[SpValue], object]]:
    """The Metric field a datatype's value goes in and the conversion to it, resolved once, for
    hot paths that fill many metrics of known datatypes (``setattr(metric, field, conv(v))``).
    The conversion raises PayloadError for a value that does not fit, as `set_value` does."""
    if datatype is SpDataType.Boolean:
        return "boolean_value", bool
    if datatype in (SpDataType.Float, SpDataType.Double):
        return ("float_value" if datatype is SpDataType.Float else "double_value"), _as_float
    if datatype in STRING_VALUE_TYPES:
        return "string_value", lambda v: v if isinstance(v, str) else str(v)
    if datatype in INT_VALUE_TYPES or datatype in LONG_VALUE_TYPES:
        field_bits = 32 if datatype in INT_VALUE_TYPES else 64

        def to_unsigned(v: SpValue) -> int:
            try:
                return _unsigned(datatype, _as_int(v), field_bits)
            except (TypeError, ValueError, OverflowError) as e:
                raise PayloadError(f"{v!r} does not fit datatype {datatype.name}: {e}") from None

        return ("int_value" if field_bits == 32 else "long_value"), to_unsigned
    raise PayloadError(f"datatype {datatype.name} is not supported here")


def _as_float(value: SpValue) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{value!r} is not a number")
    try:
        return float(value)
    except OverflowError:
        raise PayloadError(f"{value!r} is too large for a floating-point number") from None


def _as_int(value: SpValue) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return round(value)
    if isinstance(value, int):
        return value
    raise TypeError(f"{type(value).__name__} is not an integer")


def _unsigned(datatype: SpDataType, value: int, field_bits: int) -> int:
    bits = SIGNED_BITS.get(datatype)
    if bits is not None:
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise OverflowError(f"outside {datatype.name}")
        return value + (1 << bits) if value < 0 else value
    if not 0 <= value < (1 << field_bits):
        raise OverflowError(f"outside {datatype.name}")
    return value


def add_metric(
    payload: pb.Payload,
    datatype: SpDataType,
    value: SpValue,
    *,
    name: str | None = None,
    alias: int | None = None,
    timestamp_ms: int | None = None,
    properties: Iterable[tuple[str, PropertyItem]] = (),
    with_datatype: bool = True,
) -> pb.Payload.Metric:
    """Append one metric. Births give ``name`` and ``alias`` (and the datatype); DATA gives
    the alias only and, as Sparkplug 3.0 recommends, no datatype (``with_datatype=False``)."""
    m = payload.metrics.add()
    if name is not None:
        m.name = name
    if alias is not None:
        m.alias = alias
    if timestamp_ms is not None:
        m.timestamp = timestamp_ms
    if with_datatype:
        m.datatype = int(datatype)
    set_value(m, datatype, value)
    props = list(properties)
    if props:
        for key, (ptype, pvalue) in props:
            m.properties.keys.append(key)
            pv = m.properties.values.add()
            pv.type = int(ptype)
            set_value(pv, ptype, pvalue)
    return m


def new_payload(timestamp_ms: int, seq: int | None) -> pb.Payload:
    p = pb.Payload()
    p.timestamp = timestamp_ms
    if seq is not None:
        p.seq = seq
    return p


# ---------------------------------------------------------------------------- decoding
@dataclass(frozen=True)
class SpMetric:
    """One received metric as plain values. ``datatype`` is None in DATA/CMD messages that carry
    the alias only: look it up in the birth (`AliasTable`)."""

    name: str | None
    alias: int | None
    datatype: SpDataType | None
    value: SpValue
    timestamp_ms: int | None
    is_null: bool
    properties: Mapping[str, SpValue] = field(default_factory=dict)


@dataclass(frozen=True)
class SpPayload:
    timestamp_ms: int | None
    seq: int | None
    metrics: tuple[SpMetric, ...]

    def by_name(self) -> dict[str, SpMetric]:
        return {m.name: m for m in self.metrics if m.name is not None}


def decode_payload(data: bytes, datatypes: Mapping[int, SpDataType] | None = None) -> SpPayload:
    """Parse a Sparkplug B payload. ``datatypes`` (alias -> datatype, from the birth) types
    metrics that come without a datatype; without it such metrics are decoded from whichever
    value field is set (signed integers then read as unsigned). PayloadError when ``data`` is
    not a Sparkplug B protobuf."""
    p = pb.Payload()
    try:
        p.ParseFromString(data)
    except Exception as e:  # google.protobuf.message.DecodeError and friends
        raise PayloadError(f"not a Sparkplug B payload: {e}") from None
    metrics = []
    for m in p.metrics:
        alias = m.alias if m.HasField("alias") else None
        dtype: SpDataType | None = None
        if m.HasField("datatype"):
            dtype = _datatype(m.datatype)
        elif alias is not None and datatypes is not None:
            dtype = datatypes.get(alias)
        props: dict[str, SpValue] = {}
        if m.HasField("properties"):
            for key, pv in zip(m.properties.keys, m.properties.values, strict=False):
                props[key] = None if pv.is_null else _read_value(pv, _datatype(pv.type))
        metrics.append(SpMetric(
            name=m.name if m.HasField("name") else None,
            alias=alias,
            datatype=dtype,
            value=None if m.is_null else _read_value(m, dtype),
            timestamp_ms=m.timestamp if m.HasField("timestamp") else None,
            is_null=m.is_null,
            properties=props,
        ))
    return SpPayload(
        timestamp_ms=p.timestamp if p.HasField("timestamp") else None,
        seq=p.seq if p.HasField("seq") else None,
        metrics=tuple(metrics),
    )


def _datatype(code: int) -> SpDataType:
    try:
        return SpDataType(code)
    except ValueError:
        return SpDataType.Unknown


def _read_value(m: pb.Payload.Metric | pb.Payload.PropertyValue, dtype: SpDataType | None) -> SpValue:
    which = m.WhichOneof("value")
    if which is None:
        return None
    raw = getattr(m, which)
    if which in ("int_value", "long_value"):
        bits = SIGNED_BITS.get(dtype) if dtype is not None else None
        if bits is not None and raw >= 1 << (bits - 1):
            raw -= 1 << bits
        return int(raw)
    if which in ("float_value", "double_value"):
        return float(raw)
    if which == "boolean_value":
        return bool(raw)
    if which == "string_value":
        return str(raw)
    if which == "bytes_value":
        return bytes(raw)
    return None  # DataSet, Template, extensions: not used by Vigil


class AliasTable:
    """What a host learns from a birth: alias -> (name, datatype), so the DATA messages that
    follow, which carry aliases only, can be named and typed."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.datatypes: dict[int, SpDataType] = {}

    def learn(self, birth: SpPayload) -> None:
        """Replace what was known with ``birth`` (a birth always restates every metric)."""
        self.names.clear()
        self.datatypes.clear()
        for m in birth.metrics:
            if m.alias is not None and m.name is not None:
                self.names[m.alias] = m.name
                if m.datatype is not None:
                    self.datatypes[m.alias] = m.datatype

    def name_of(self, m: SpMetric) -> str | None:
        if m.name is not None:
            return m.name
        return self.names.get(m.alias) if m.alias is not None else None
