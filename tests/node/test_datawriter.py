"""The hand-written DATA encoder (app/core/sparkplug/datawriter.py) against protobuf's own: for
every datatype, value (in and out of range, wrong types, NaN, infinities, null), alias,
timestamp and seq, it writes exactly the bytes the generated classes write, and refuses exactly
the values they refuse."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.model import Quality
from app.core.sparkplug import SpDataType, decode_payload, sparkplug_quality
from app.core.sparkplug import payload as sp
from app.core.sparkplug.datawriter import DataLane, DataMetric, DataWriter, uvarint

DATATYPES = [SpDataType.Int8, SpDataType.Int16, SpDataType.Int32, SpDataType.Int64,
             SpDataType.UInt8, SpDataType.UInt16, SpDataType.UInt32, SpDataType.UInt64,
             SpDataType.Float, SpDataType.Double, SpDataType.Boolean, SpDataType.String,
             SpDataType.Text, SpDataType.DateTime]

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 70), max_value=1 << 70),
    st.sampled_from([0, 1, -1, 127, 128, 255, 256, 32767, -32768, 65535, 65536, (1 << 31) - 1,
                     -(1 << 31), (1 << 32) - 1, 1 << 32, (1 << 63) - 1, -(1 << 63), (1 << 64) - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([3.4028235e38, 3.4028236e38, 3.5e38, -3.5e38, 1e-46, 0.1, -0.0, 1e300]),
    st.text(max_size=20),
    st.sampled_from(["a\ud800", "π", ""]),
)


def _protobuf(ts: int, seq: int, metric_ts: int, items: list[tuple[int, SpDataType, object]]) -> bytes:
    """The same DATA payload built with the generated classes (the reference)."""
    p = sp.new_payload(ts, seq)
    for alias, dtype, value in items:
        m = p.metrics.add(alias=alias, timestamp=metric_ts)
        if value is None:
            m.is_null = True
        else:
            field, convert = sp.value_field(dtype)
            setattr(m, field, convert(value))  # type: ignore[arg-type]
    return p.SerializeToString()


def _reference_accepts(dtype: SpDataType, value: object) -> bool:
    if value is None:
        return True
    field, convert = sp.value_field(dtype)
    try:
        setattr(sp.Metric(), field, convert(value))  # type: ignore[arg-type]
    except (sp.PayloadError, UnicodeEncodeError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(dtype=st.sampled_from(DATATYPES), value=values,
       alias=st.integers(min_value=0, max_value=(1 << 64) - 1),
       ts=st.integers(min_value=0, max_value=(1 << 64) - 1),
       metric_ts=st.integers(min_value=0, max_value=(1 << 64) - 1),
       seq=st.integers(min_value=0, max_value=255))
def test_one_metric_is_written_byte_for_byte_as_protobuf_writes_it(
        dtype: SpDataType, value: object, alias: int, ts: int, metric_ts: int, seq: int) -> None:
    m = DataMetric(alias, dtype)
    w = DataWriter(metric_ts)
    if not _reference_accepts(dtype, value):
        try:
            w.add(m, value)  # type: ignore[arg-type]
        except sp.PayloadError:
            assert w.count == 0
            return
        raise AssertionError(f"{value!r} for {dtype.name} was accepted; protobuf's path refuses it")
    w.add(m, value)  # type: ignore[arg-type]
    assert w.finish(ts, seq) == _protobuf(ts, seq, metric_ts, [(alias, dtype, value)])


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.tuples(st.integers(min_value=1, max_value=100_000), st.sampled_from(DATATYPES),
                                values), max_size=60),
       seq=st.integers(min_value=0, max_value=255))
def test_a_whole_poll_decodes_with_protobuf_to_the_values_written(
        items: list[tuple[int, SpDataType, object]], seq: int) -> None:
    kept = [(a, d, v) for a, d, v in items if _reference_accepts(d, v)]
    w = DataWriter(1_733_000_000_123)
    for alias, dtype, value in kept:
        w.add(DataMetric(alias, dtype), value)  # type: ignore[arg-type]
    data = w.finish(1_733_000_000_456, seq)
    assert data == _protobuf(1_733_000_000_456, seq, 1_733_000_000_123, kept)
    decoded = decode_payload(data, {a: d for a, d, _ in kept})
    assert decoded.seq == seq and decoded.timestamp_ms == 1_733_000_000_456
    assert len(decoded.metrics) == len(kept)
    for got, (alias, dtype, value) in zip(decoded.metrics, kept, strict=True):
        assert got.alias == alias and got.timestamp_ms == 1_733_000_000_123 and got.name is None
        assert got.is_null is (value is None)
        if value is None or got.datatype is not dtype:
            continue  # one alias used twice with two datatypes: the table holds the last
        if dtype is SpDataType.Double and isinstance(value, float):
            assert got.value == value or (math.isnan(value) and math.isnan(got.value))  # type: ignore[arg-type]
        elif dtype in (SpDataType.Int16, SpDataType.Int32, SpDataType.Int64) and type(value) is int:
            assert got.value == value  # two's complement undone with the birth's datatype
        elif dtype in (SpDataType.String, SpDataType.Text):
            assert got.value == (value if isinstance(value, str) else str(value))


def test_bad_and_stale_quality_travel_as_a_protobuf_metric_among_the_written_ones() -> None:
    w = DataWriter(5_000)
    w.add(DataMetric(7, SpDataType.Double), 1.5)
    for alias, q in ((8, Quality.BAD_COMM), (9, Quality.STALE)):
        scratch = sp.Payload()
        sp.add_metric(scratch, SpDataType.Double, None, alias=alias, timestamp_ms=5_000, with_datatype=False,
                      properties=[(sp.PROP_QUALITY, (SpDataType.Int32, sparkplug_quality(q))),
                                  (sp.PROP_VIGIL_QUALITY, (SpDataType.String, q.name))])
        w.add_message(scratch.metrics[0])
    w.add_null(DataMetric(10, SpDataType.UInt16))
    decoded = decode_payload(w.finish(6_000, 255))
    assert decoded.seq == 255
    assert [(m.alias, m.value, m.is_null) for m in decoded.metrics] == [
        (7, 1.5, False), (8, None, True), (9, None, True), (10, None, True)]
    assert decoded.metrics[1].properties == {"Quality": 0, "vigilQuality": "BAD_COMM"}
    assert decoded.metrics[2].properties == {"Quality": 500, "vigilQuality": "STALE"}


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_varints_are_protobufs(v: int) -> None:
    p = sp.Payload()
    p.seq = v
    assert p.SerializeToString() == b"\x18" + uvarint(v)


def _metric_fields(data: bytes) -> list[bytes]:
    """A DATA payload's metrics, each as its own bytes, in a fixed order (a bulk write groups
    metrics by kind; Sparkplug gives their order no meaning)."""
    return sorted(m.SerializeToString() for m in sp.Payload.FromString(data).metrics)


@settings(max_examples=300, deadline=None)
@given(lane=st.lists(st.one_of(st.none(), st.sampled_from(DATATYPES)), min_size=1, max_size=12),
       data=st.data(), contiguous=st.booleans())
def test_a_bulk_lane_writes_exactly_what_the_per_value_path_writes_or_declines(
        lane: list[SpDataType | None], data: st.DataObject, contiguous: bool) -> None:
    """Whatever the datatypes, values and what the hosts were told: either the bulk write
    adds exactly the metrics (byte for byte) the per-value path adds for the values that
    changed, and records them, or it adds and records nothing and says so."""
    n = len(lane)
    indices = list(range(3, 3 + n)) if contiguous else data.draw(st.permutations(range(n + 5)))[:n]
    entries = [None if d is None else (indices[j], DataMetric(100 + j, d)) for j, d in enumerate(lane)]
    sent: list[object] = [data.draw(values) for _ in range(n + 8)]
    poll = [data.draw(st.one_of(values, st.just(sent[indices[j]]))) for j in range(n)]
    bulk = DataLane(entries)  # type: ignore[arg-type]
    out, after = DataWriter(1_733_000_000_123), list(sent)
    if not bulk.write_changed(out, poll, after):  # type: ignore[arg-type]
        assert (out.count == 0 and after == sent) or _same(after, sent)
        return
    reference = DataWriter(1_733_000_000_123)
    for entry, value in zip(entries, poll, strict=True):
        if entry is not None and sent[entry[0]] != value:
            reference.add(entry[1], value)  # type: ignore[arg-type]  # raises if bulk took a refused value
    assert out.count == reference.count
    assert _metric_fields(out.finish(1, 2)) == _metric_fields(reference.finish(1, 2))
    for entry, value in zip(entries, poll, strict=True):
        if entry is not None:
            assert after[entry[0]] is value or after[entry[0]] == value


def _same(a: list[object], b: list[object]) -> bool:
    return all(x is y or x == y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("dtype", [SpDataType.UInt16, SpDataType.Int16, SpDataType.UInt8,
                                   SpDataType.Float, SpDataType.Double])
def test_registers_and_numbers_go_in_bulk(dtype: SpDataType) -> None:
    """The values a register map delivers (integers in range, finite numbers) take the bulk
    path: it says so, writes the changed ones and records them."""
    number = dtype in (SpDataType.Float, SpDataType.Double)
    lane = DataLane([(i, DataMetric(10 + i, dtype)) for i in range(50)])
    sent: list[object] = [1.5 if number else 1] * 50
    poll = [(-3 if dtype is SpDataType.Int16 else 7) if i % 2 else sent[i] for i in range(50)]
    poll[4] = 2.25 if number else 200
    out = DataWriter(5)
    assert lane.write_changed(out, poll, sent)  # type: ignore[arg-type]
    assert out.count == 26
    assert sent == poll
    got = decode_payload(out.finish(6, 0), {10 + i: dtype for i in range(50)})
    assert sorted((m.alias, m.value) for m in got.metrics) == sorted(
        (10 + i, poll[i]) for i in range(50) if i % 2 or i == 4)
