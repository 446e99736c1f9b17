"""The Sparkplug layer on its own (app/core/sparkplug): topics, seq, datatypes, payload round
trips, including the edges (two's complement, 64-bit, null, wrap)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.model import Quality
from app.core.profiles import load_profile
from app.core.sparkplug import (
    AliasTable,
    MessageType,
    PayloadError,
    SeqCounter,
    SpDataType,
    Topic,
    TopicError,
    add_metric,
    datatype_for_point,
    decode_payload,
    new_payload,
    parse_state_payload,
    parse_state_topic,
    parse_topic,
    sparkplug_quality,
    state_payload,
    state_topic,
    vigil_quality,
)


def test_topics_round_trip_and_refuse_what_is_not_sparkplug() -> None:
    t = Topic.device_topic("plant", MessageType.DDATA, "area-1", "pump1")
    assert str(t) == "spBv1.0/plant/DDATA/area-1/pump1"
    assert parse_topic(str(t)) == t
    assert parse_topic("spBv1.0/plant/NBIRTH/area-1") == Topic("plant", MessageType.NBIRTH, "area-1")
    for bad in ("spBv1.0/plant/NBIRTH/area-1/dev", "spBv1.0/plant/DDATA/area-1", "spAv1.0/g/NDATA/n",
                "spBv1.0/g/XDATA/n", "spBv1.0/STATE/host"):
        with pytest.raises(TopicError):
            parse_topic(bad)
    with pytest.raises(TopicError, match="node id 'a/b'"):
        Topic.node_topic("g", MessageType.NDATA, "a/b")
    assert state_topic("ctl-1") == "spBv1.0/STATE/ctl-1"
    assert parse_state_topic("spBv1.0/STATE/ctl-1") == "ctl-1"
    assert parse_state_topic("spBv1.0/g/NDATA/n") is None
    assert parse_state_payload(state_payload(True, 1234)) == (True, 1234)
    with pytest.raises(TopicError):
        parse_state_payload(b'{"online": "yes", "timestamp": 1}')


def test_seq_wraps_after_255() -> None:
    seq = SeqCounter(254)
    assert [seq.take() for _ in range(4)] == [254, 255, 0, 1]
    seq.reset()
    assert seq.take() == 0


@pytest.mark.parametrize(
    ("dtype", "value"),
    [
        (SpDataType.Int8, -128), (SpDataType.Int16, -2), (SpDataType.Int16, 32767),
        (SpDataType.Int32, -2_000_000_000), (SpDataType.Int64, -(2**63)), (SpDataType.UInt16, 65535),
        (SpDataType.UInt32, 4_000_000_000), (SpDataType.UInt64, 2**64 - 1), (SpDataType.Double, -1.25e-7),
        (SpDataType.Float, 0.5), (SpDataType.Boolean, True), (SpDataType.String, "läuft"),
        (SpDataType.Bytes, b"\x00\xff"), (SpDataType.Double, None),
    ],
)
def test_values_round_trip(dtype: SpDataType, value: object) -> None:
    p = new_payload(1, 7)
    add_metric(p, dtype, value, name="m", alias=3, timestamp_ms=99)  # type: ignore[arg-type]
    m = decode_payload(p.SerializeToString()).metrics[0]
    assert (m.name, m.alias, m.datatype, m.value, m.timestamp_ms, m.is_null) == (
        "m", 3, dtype, value, 99, value is None)


def test_signed_value_in_data_is_typed_by_the_birth() -> None:
    birth = new_payload(1, 0)
    add_metric(birth, SpDataType.Int16, 0, name="level", alias=9)
    aliases = AliasTable()
    aliases.learn(decode_payload(birth.SerializeToString()))
    data = new_payload(2, 1)
    add_metric(data, SpDataType.Int16, -300, alias=9, with_datatype=False)
    raw = data.SerializeToString()
    untyped = decode_payload(raw).metrics[0]
    assert (untyped.datatype, untyped.value) == (None, 65536 - 300)
    typed = decode_payload(raw, aliases.datatypes).metrics[0]
    assert (aliases.name_of(typed), typed.datatype, typed.value) == ("level", SpDataType.Int16, -300)


def test_out_of_range_and_garbage_are_refused() -> None:
    with pytest.raises(PayloadError, match="Int16"):
        add_metric(new_payload(1, 0), SpDataType.Int16, 40000, alias=1)
    with pytest.raises(PayloadError, match="not a Sparkplug B payload"):
        decode_payload(b"\xff\xff\xff garbage")


def test_point_datatypes_and_qualities() -> None:
    profile = load_profile(Path(__file__).parents[2] / "device_profiles" / "demo_pump.toml")
    kinds = {p.name: datatype_for_point(p) for p in profile.points}
    assert kinds["accel1_rms"] is SpDataType.Float  # float32
    assert kinds["pressure"] is SpDataType.Double  # int16 x 0.001
    assert kinds["vibration_warning"] is SpDataType.Boolean
    assert kinds["tag_label"] is SpDataType.String
    assert sparkplug_quality(Quality.GOOD) == 192
    assert sparkplug_quality(Quality.STALE) == 500
    assert sparkplug_quality(Quality.UNCERTAIN) == 0 and sparkplug_quality(Quality.BAD_COMM) == 0
    assert vigil_quality(0, "BAD_DEVICE") is Quality.BAD_DEVICE
    assert vigil_quality(500) is Quality.STALE and vigil_quality(None) is Quality.GOOD


@pytest.mark.parametrize(
    ("dtype", "value"),
    [(SpDataType.Int16, -2), (SpDataType.Int64, -(2**63)), (SpDataType.UInt32, 4_000_000_000),
     (SpDataType.Float, 0.5), (SpDataType.Double, 3), (SpDataType.Boolean, True), (SpDataType.String, "x")],
)
def test_the_fast_value_path_encodes_like_add_metric(dtype: SpDataType, value: object) -> None:
    from app.core.sparkplug.payload import value_field

    slow, fast = new_payload(1, 0), new_payload(1, 0)
    add_metric(slow, dtype, value, alias=5, timestamp_ms=7, with_datatype=False)  # type: ignore[arg-type]
    field, wire = value_field(dtype)
    setattr(fast.metrics.add(alias=5, timestamp=7), field, wire(value))  # type: ignore[arg-type]
    assert fast.SerializeToString() == slow.SerializeToString()
    with pytest.raises(PayloadError):
        value_field(SpDataType.Int16)[1](70000)


def test_the_tap_keeps_the_newest_pending_poll_per_device_and_group() -> None:
    from app.core.model import Sample
    from app.station.node.tap import SampleTap

    tap = SampleTap()
    fast, slow = ("pump.a", "pump.b"), ("pump.c",)
    tap.on_poll("pump", 1.0, fast, [1, 2], None)
    tap.on_poll("pump", 1.0, slow, [9], None)
    tap.on_poll("pump", 2.0, fast, [3, 4], None)  # replaces the first, keeps the slow group's
    bad = Quality.BAD_COMM
    tap.on_samples([Sample("tank.x", None, bad, 2.5), Sample("tank.y", None, bad, 2.5)])
    polls = tap.drain()
    assert [(p.device, p.t, p.tags, list(p.values)) for p in polls] == [
        ("pump", 2.0, fast, [3, 4]), ("pump", 1.0, slow, [9]),
        ("tank", 2.5, ("tank.x", "tank.y"), [None, None])]
    assert polls[2].qualities == bytes([Quality.BAD_COMM, Quality.BAD_COMM])
    assert tap.coalesced == 1 and tap.drain() == []
