"""A hand-written encoder for the one message a node sends many times a second: a DATA payload
whose metrics carry alias, timestamp and value only.

Why not protobuf here: building a DDATA through the generated classes costs a message object,
a field assignment and a conversion per metric; writing the protobuf wire format directly, with
each metric's alias field encoded once, is a few times faster on the node's hot path. Everything
else (births, deaths, commands, a metric with properties) is still built with the generated
classes, and a DATA metric that is not a plain value can be added here as a protobuf `Metric`.

The bytes are exactly those protobuf would write for the same message (fields in number order:
payload ``timestamp`` 1, ``metrics`` 2, ``seq`` 3; metric ``alias`` 2, ``timestamp`` 3,
``is_null`` 7 or the value field), so the receiving side, and tests, decode them with
protobuf's own parser. The conversions and range checks are those of `payload.value_field`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from itertools import chain, compress, repeat
from operator import getitem, itemgetter, ne
from typing import NamedTuple, TypeVar, cast

from app.core.sparkplug import sparkplug_b_pb2 as pb
from app.core.sparkplug.datatypes import (
    INT_VALUE_TYPES,
    LONG_VALUE_TYPES,
    SIGNED_BITS,
    STRING_VALUE_TYPES,
    SpDataType,
)
from app.core.sparkplug.payload import PayloadError, SpValue, value_field

# wire-format tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length, 5 fixed32)
_PAYLOAD_TIMESTAMP = b"\x08"
_PAYLOAD_METRIC = b"\x12"
_PAYLOAD_SEQ = b"\x18"
_METRIC_ALIAS = b"\x10"
_METRIC_TIMESTAMP = b"\x18"
_METRIC_NULL = b"\x38\x01"
_INT_VALUE = b"\x50"
_LONG_VALUE = b"\x58"
_FLOAT_VALUE = b"\x65"
_DOUBLE_VALUE = b"\x69"
_BOOL_TRUE = b"\x70\x01"
_BOOL_FALSE = b"\x70\x00"
_STRING_VALUE = b"\x7a"

_ONE_BYTE = [bytes((i,)) for i in range(128)]
_pack_double = struct.Struct("<d").pack
_pack_float = struct.Struct("<f").pack
_FLOAT_INF = _pack_float(float("inf"))
_FLOAT_NEG_INF = _pack_float(float("-inf"))


def uvarint(v: int) -> bytes:
    """An unsigned integer (0 <= v < 2**64) as a protobuf varint."""
    if v < 0x80:
        return _ONE_BYTE[v]
    if v < 0x4000:
        return bytes(((v & 0x7F) | 0x80, v >> 7))
    if 1 << 35 <= v < 1 << 42:  # a time in ms (1971 to 2109): written at once, not in a loop
        return bytes(((v & 0x7F) | 0x80, (v >> 7 & 0x7F) | 0x80, (v >> 14 & 0x7F) | 0x80,
                      (v >> 21 & 0x7F) | 0x80, (v >> 28 & 0x7F) | 0x80, v >> 35))
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


ValueEncoder = Callable[[SpValue], bytes]

_INT16_FIELDS: list[bytes] = []


def _int16_fields() -> list[bytes]:
    """``int_value`` fields of 0..65535, built on first use (about 2 MB)."""
    if not _INT16_FIELDS:
        _INT16_FIELDS.extend(_INT_VALUE + uvarint(v) for v in range(1 << 16))
    return _INT16_FIELDS


def value_encoder(datatype: SpDataType) -> ValueEncoder:
    """value -> its Metric value field (tag and payload) for ``datatype``; PayloadError when the
    value does not fit, exactly as `payload.value_field`'s conversion refuses it. Plain ints and
    floats take a short path; anything else goes through that conversion."""
    _field, convert = value_field(datatype)
    if datatype is SpDataType.Boolean:
        return lambda v: _BOOL_TRUE if convert(v) else _BOOL_FALSE
    if datatype is SpDataType.Double:
        def double(v: SpValue) -> bytes:
            return _DOUBLE_VALUE + _pack_double(v if type(v) is float else convert(v))
        return double
    if datatype is SpDataType.Float:
        def single(v: SpValue) -> bytes:
            f = v if type(v) is float else convert(v)
            try:
                return _FLOAT_VALUE + _pack_float(f)
            except OverflowError:  # beyond float32: protobuf stores it as infinity, so do we
                return _FLOAT_VALUE + (_FLOAT_INF if f > 0 else _FLOAT_NEG_INF)  # type: ignore[operator]
        return single
    if datatype in STRING_VALUE_TYPES:
        def string(v: SpValue) -> bytes:
            try:
                raw = str(convert(v)).encode("utf-8")
            except UnicodeEncodeError as e:
                raise PayloadError(f"{v!r} is not valid text: {e}") from None
            return _STRING_VALUE + uvarint(len(raw)) + raw
        return string
    if datatype in (SpDataType.UInt8, SpDataType.UInt16, SpDataType.Int8, SpDataType.Int16):
        # a register's worth: every encoding written once, looked up by the wire value
        table = _int16_fields()
        bits16 = SIGNED_BITS.get(datatype)
        low16 = -(1 << (bits16 - 1)) if bits16 else 0
        high16 = 1 << (bits16 - 1) if bits16 else 1 << 16
        wrap16 = 1 << bits16 if bits16 else 0

        def small(v: SpValue) -> bytes:
            if type(v) is int and low16 <= v < high16:
                return table[v + wrap16 if v < 0 else v]
            return _INT_VALUE + uvarint(convert(v))  # type: ignore[arg-type]
        return small
    if datatype in INT_VALUE_TYPES or datatype in LONG_VALUE_TYPES:
        tag = _INT_VALUE if datatype in INT_VALUE_TYPES else _LONG_VALUE
        bits = SIGNED_BITS.get(datatype)
        if bits is None:
            limit = 1 << (32 if datatype in INT_VALUE_TYPES else 64)

            def unsigned(v: SpValue) -> bytes:
                if type(v) is int and 0 <= v < limit:
                    return tag + uvarint(v)
                return tag + uvarint(convert(v))  # type: ignore[arg-type]
            return unsigned
        low, high, wrap = -(1 << (bits - 1)), 1 << (bits - 1), 1 << bits

        def signed(v: SpValue) -> bytes:
            if type(v) is int and low <= v < high:
                return tag + uvarint(v + wrap if v < 0 else v)
            return tag + uvarint(convert(v))  # type: ignore[arg-type]
        return signed
    raise PayloadError(f"datatype {datatype.name} is not supported here")


class DataMetric:
    """One metric as DATA messages carry it: its alias field written once, its value encoder
    chosen once, and the start of its metric field (tag, length, alias) kept per length."""

    __slots__ = ("_alias_field", "_heads", "alias", "datatype", "encode_value")

    def __init__(self, alias: int, datatype: SpDataType) -> None:
        self.alias = alias
        self.datatype = datatype
        self.encode_value = value_encoder(datatype)
        self._alias_field = _METRIC_ALIAS + uvarint(alias)
        self._heads: dict[int, bytes] = {}

    def head(self, rest: int) -> bytes:
        """Payload field 2's tag, the metric's length and its alias field, for a metric whose
        timestamp and value fields take ``rest`` bytes."""
        head = self._heads.get(rest)
        if head is None:
            head = _PAYLOAD_METRIC + uvarint(len(self._alias_field) + rest) + self._alias_field
            if len(self._heads) < 64:
                self._heads[rest] = head
        return head


class DataWriter:
    """Collects the metrics of one DATA payload whose values share one timestamp (one poll),
    then `finish` writes the payload. ``add`` raises PayloadError for a value that does not fit
    (nothing is added then; the caller may `add_null` instead)."""

    __slots__ = ("_parts", "_timestamp_field", "_ts_len", "count")

    def __init__(self, metric_timestamp_ms: int) -> None:
        self._parts: list[bytes] = []
        self._timestamp_field = _METRIC_TIMESTAMP + uvarint(metric_timestamp_ms)
        self._ts_len = len(self._timestamp_field)
        self.count = 0

    def add(self, m: DataMetric, value: SpValue) -> None:
        if value is None:
            self.add_null(m)
            return
        vb = m.encode_value(value)
        rest = self._ts_len + len(vb)
        head = m._heads.get(rest)  # the common case without a call
        if head is None:
            head = m.head(rest)
        self._parts += (head, self._timestamp_field, vb)
        self.count += 1

    def add_null(self, m: DataMetric) -> None:
        self._parts += (m.head(self._ts_len + len(_METRIC_NULL)), self._timestamp_field, _METRIC_NULL)
        self.count += 1

    def add_message(self, metric: pb.Payload.Metric) -> None:
        """A metric built with protobuf (one with properties, say), in its place in the order."""
        body = metric.SerializeToString()
        self._parts.append(_PAYLOAD_METRIC + uvarint(len(body)) + body)
        self.count += 1

    def finish(self, timestamp_ms: int, seq: int) -> bytes:
        return b"".join((_PAYLOAD_TIMESTAMP, uvarint(timestamp_ms), *self._parts,
                         _PAYLOAD_SEQ, uvarint(seq)))


# ---------------------------------------------------------------------------- a poll in bulk
#: datatypes whose value fields come from the 16-bit table by indexing it with the value
#: itself, and the values for which that index is right (a negative Int16 indexes from the end,
#: which is exactly its two's-complement wire value; a negative Int8 is not, so it is left out)
_TABLE_BOUNDS: dict[SpDataType, tuple[int, int]] = {
    SpDataType.UInt8: (0, 1 << 8),
    SpDataType.UInt16: (0, 1 << 16),
    SpDataType.Int16: (-(1 << 15), 1 << 15),
    SpDataType.Int8: (0, 1 << 7),
}
_INTEGER_TYPES = frozenset((int, bool))
_NUMBER_TYPES = frozenset((int, float))  # not bool: a boolean is not a number to a float metric
_V = TypeVar("_V", bound=SpValue)
_BULK_REFUSED = (TypeError, ValueError, OverflowError, IndexError, struct.error, PayloadError)


def _table_fields(values: list[SpValue], metrics: list[DataMetric], bounds: tuple[int, int]) -> list[bytes]:
    if not _INTEGER_TYPES.issuperset(map(type, values)):
        raise TypeError("not all integers")
    low, high = bounds
    if min(values) < low or max(values) >= high:  # type: ignore[type-var, operator]
        raise ValueError("out of the table's range")
    return list(map(_int16_fields().__getitem__, values))  # type: ignore[arg-type]


def _double_fields(values: list[SpValue], metrics: list[DataMetric], bounds: tuple[int, int]) -> list[bytes]:
    if not _NUMBER_TYPES.issuperset(map(type, values)):
        raise TypeError("not all numbers")
    return list(map(_DOUBLE_VALUE.__add__, map(_pack_double, values)))


def _float_fields(values: list[SpValue], metrics: list[DataMetric], bounds: tuple[int, int]) -> list[bytes]:
    if not _NUMBER_TYPES.issuperset(map(type, values)):
        raise TypeError("not all numbers")
    return list(map(_FLOAT_VALUE.__add__, map(_pack_float, values)))  # beyond float32: refused


def _each_field(values: list[SpValue], metrics: list[DataMetric], bounds: tuple[int, int]) -> list[bytes]:
    if None in values:
        raise ValueError("a null goes with add_null")
    return [m.encode_value(v) for m, v in zip(metrics, values, strict=True)]


_FieldsOf = Callable[[list[SpValue], list[DataMetric], tuple[int, int]], list[bytes]]


def _fields_for(datatype: SpDataType) -> tuple[_FieldsOf, tuple[int, int]]:
    if datatype in _TABLE_BOUNDS:
        return _table_fields, _TABLE_BOUNDS[datatype]
    if datatype is SpDataType.Double:
        return _double_fields, (0, 0)
    if datatype is SpDataType.Float:
        return _float_fields, (0, 0)
    return _each_field, (0, 0)


def _picker(positions: Sequence[int]) -> Callable[[Sequence[SpValue]], Sequence[SpValue]]:
    """A C-level getter of ``positions`` that always returns a tuple (itemgetter of one
    position returns the item itself)."""
    if len(positions) == 1:
        only = itemgetter(positions[0])
        return lambda seq: (only(seq),)
    return itemgetter(*positions)


#: the longest value field of a number (tag and a 10-byte varint)
_MAX_NUMBER_FIELD = 11


class _Group(NamedTuple):
    fields: _FieldsOf
    bounds: tuple[int, int]
    pick: Callable[[Sequence[SpValue]], Sequence[SpValue]] | None  # None: the whole lane
    metrics: tuple[DataMetric, ...]
    #: timestamp field length -> per metric, its heads by value field length (numbers only)
    heads: dict[int, tuple[tuple[bytes, ...], ...]]

    def heads_for(self, ts_len: int) -> tuple[tuple[bytes, ...], ...] | None:
        if self.fields is _each_field:
            return None
        rows = self.heads.get(ts_len)
        if rows is None:
            rows = self.heads[ts_len] = tuple(
                tuple(m.head(ts_len + n) for n in range(_MAX_NUMBER_FIELD + 1)) for m in self.metrics)
        return rows


class DataLane:
    """The metrics of one set of tags a device's polls carry (a scan group), for writing the
    changed values of a poll with C-level iteration (``map``, ``compress``, ``itemgetter``)
    instead of a Python step per value: a node writes every value of every poll that changed,
    and on a busy plant that loop was most of its publishing cost.

    Metrics are grouped by how their value field is written (16-bit integers from the table,
    doubles, floats, the rest one by one), so a payload lists them group by group (Sparkplug
    puts no meaning in the order). `write_changed` writes nothing and returns False when any
    changed value needs the careful path (a type, range or value the bulk writers do not take:
    a float for an integer metric, a bool for a float, infinity for a float32, None); the caller
    then takes the per-value path, which converts or refuses exactly as `value_encoder` does.
    """

    __slots__ = ("_groups", "_indices", "_old", "_pick", "_span")

    def __init__(self, lane: Sequence[tuple[int, DataMetric] | None]) -> None:
        """``lane``: per value of a poll, (the metric's index in its device's list of what the
        hosts were told, the metric), or None for a value that is no metric."""
        present = [j for j, entry in enumerate(lane) if entry is not None]
        entries = [entry for entry in lane if entry is not None]
        self._pick = None if len(present) == len(lane) or not present else _picker(present)
        self._indices = tuple(i for i, _m in entries)
        self._old = _picker(self._indices) if entries else None
        first = self._indices[0] if entries else 0
        contiguous = self._indices == tuple(range(first, first + len(entries)))
        self._span = slice(first, first + len(entries)) if contiguous else None
        by_kind: dict[tuple[_FieldsOf, tuple[int, int]], list[int]] = {}
        for k, (_i, m) in enumerate(entries):
            by_kind.setdefault(_fields_for(m.datatype), []).append(k)
        self._groups = [
            _Group(fields, bounds, None if len(by_kind) == 1 else _picker(ks),
                   tuple(entries[k][1] for k in ks), {})
            for (fields, bounds), ks in by_kind.items()
        ]

    def write_changed(self, out: DataWriter, values: Sequence[_V], sent: list[_V]) -> bool:
        """Add to ``out`` the values of a poll (in the lane's order) that differ from those in
        ``sent`` (indexed by metric index; a NaN never equals, so it is always sent) and
        record them there. False: nothing added, nothing recorded (use the per-value path)."""
        if self._old is None:
            return True
        vals = values if self._pick is None else cast("Sequence[_V]", self._pick(values))
        try:
            changed = list(map(ne, vals, self._old(sent)))
            if not any(changed):
                return True
            parts: list[bytes] = []
            count = 0
            ts = out._timestamp_field
            ts_len = out._ts_len
            for g in self._groups:
                gvals, gchanged = (vals, changed) if g.pick is None else (g.pick(vals), g.pick(changed))
                cvals = list(compress(gvals, gchanged))
                if not cvals:
                    continue
                cmetrics = list(compress(g.metrics, gchanged))
                fields = g.fields(cvals, cmetrics, g.bounds)
                rows = g.heads_for(ts_len)
                if rows is not None:
                    heads = list(map(getitem, compress(rows, gchanged), map(len, fields)))
                else:
                    heads = [m.head(ts_len + len(f)) for m, f in zip(cmetrics, fields, strict=True)]
                parts += chain.from_iterable(zip(heads, repeat(ts), fields))
                count += len(fields)
        except _BULK_REFUSED:
            return False
        out._parts += parts
        out.count += count
        if self._span is not None:
            sent[self._span] = vals
        else:
            for i, v in zip(compress(self._indices, changed), compress(vals, changed), strict=True):
                sent[i] = v
        return True
