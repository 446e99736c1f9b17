"""The edge node's births and data against a real Mosquitto: what a Sparkplug host (a Vigil
station, Ignition's MQTT Engine) learns from them must be the plant, exactly."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from mqtt_support import MosquittoBroker

from app.core.historian import Historian
from app.core.model import Quality
from app.core.plant import Plant
from app.core.sparkplug import (
    BDSEQ,
    REBIRTH,
    MessageType,
    SpDataType,
    datatype_for_point,
    next_seq,
    sparkplug_quality,
)
from app.core.sparkplug.commands import build_write_command
from app.core.sparkplug.payload import add_metric, new_payload
from node.sp_host import GROUP, HostView, start_node, wait_until, watch


def _births_done(probe, node="area-1", devices=4) -> bool:  # type: ignore[no-untyped-def]
    view = HostView.of(probe, node)
    return bool(view.of_type(MessageType.NBIRTH)) and len(view.of_type(MessageType.DBIRTH)) >= devices


def test_births_carry_every_point_with_alias_datatype_value_and_properties(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config())
        try:
            wait_until(lambda: _births_done(probe), 15, "NBIRTH and four DBIRTHs")
            # polled values are in the core now: a rebirth must carry them
            wait_until(lambda: len(node.core.latest()) >= len(node.core.plant.tags()), 10, "every tag polled")
            probe.publish(f"spBv1.0/{GROUP}/NCMD/area-1", _rebirth())
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.NBIRTH)) == 2, 10, "a rebirth")
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DBIRTH)) >= 8, 10, "DBIRTHs")
            plant = node.core.plant
            view = HostView.of(probe)
            _check_births(view, plant, node.core.historian)
        finally:
            node.stop()


def _check_births(view: HostView, plant: Plant, historian: Historian) -> None:
    nbirths = view.of_type(MessageType.NBIRTH)
    nb = nbirths[-1].payload
    assert nb is not None and nb.seq == 0
    names = nb.by_name()
    assert names[BDSEQ].datatype is SpDataType.Int64 and names[BDSEQ].value == 0  # same session: same bdSeq
    assert names[REBIRTH].datatype is SpDataType.Boolean and names[REBIRTH].value is False
    rebirth_at = view.messages.index(nbirths[-1])
    dbirths = {d.topic.device: d.payload for d in view.messages[rebirth_at:]
               if d.topic.type is MessageType.DBIRTH}
    assert set(dbirths) == {d.name for d in plant.enabled_devices()}
    aliases: set[int] = {m.alias for m in nb.metrics if m.alias is not None}
    checked_values = 0
    for device, payload in dbirths.items():
        assert payload is not None
        profile = plant.profiles[device]
        by_name = payload.by_name()
        assert set(by_name) == {p.name for p in profile.points}  # one metric per point, named as it
        for p in profile.points:
            m = by_name[p.name]
            assert m.alias is not None and m.alias not in aliases  # unique across the node
            aliases.add(m.alias)
            assert m.datatype is datatype_for_point(p)
            props = m.properties
            assert props["vigilQuality"] in Quality.__members__
            assert props["Quality"] == sparkplug_quality(Quality[str(props["vigilQuality"])])
            if props["vigilQuality"] == "GOOD" and m.datatype is SpDataType.Double:
                # the value and time are those of a stored poll: the historian has it exactly
                t = (m.timestamp_ms or 0) / 1000.0
                tag = f"{device}.{p.name}"
                wait_until(lambda tag=tag, t=t: len(historian.query([tag], t - 0.001, t + 0.001)[tag].t) > 0,
                           5, f"{tag} stored")
                stored = historian.query([tag], t - 0.001, t + 0.001)[tag]
                assert m.value == pytest.approx(float(stored.value[-1]), rel=1e-6, abs=1e-9)
                checked_values += 1
            if p.unit:
                assert props["engUnit"] == p.unit
            if p.engineering_range is not None:
                assert (props["engLow"], props["engHigh"]) == pytest.approx(p.engineering_range)
            for key, limit in (("alarmHi", p.hi), ("alarmLo", p.lo), ("alarmHiHi", p.hihi),
                               ("alarmLoLo", p.lolo)):
                assert props.get(key) == (None if limit is None else pytest.approx(limit))
            assert props["readOnly"] is (not p.writable)
    assert checked_values >= 10
    seqs = [d.payload.seq for d in view.messages[rebirth_at:] if d.payload is not None]
    assert seqs[:5] == [0, 1, 2, 3, 4]  # NBIRTH 0, then each DBIRTH takes the next


def test_ddata_is_by_exception_with_aliases_only_and_source_time(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config())
        try:
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DDATA)) >= 30, 20, "30 DDATA")
            historian = node.core.historian
        finally:
            node.stop()
        view = HostView.of(probe)
    known: dict[tuple[str, int], tuple[object, object]] = {}
    names: dict[tuple[str, int], str] = {}
    constant_points_sent = 0
    checked = 0
    for d in view.messages:
        p = d.payload
        assert p is not None
        if d.topic.type is MessageType.DBIRTH:
            for m in p.metrics:
                assert m.alias is not None and m.name is not None
                key = (d.topic.device or "", m.alias)
                known[key] = (m.value, m.properties["Quality"])
                names[key] = m.name
        elif d.topic.type is MessageType.DDATA:
            ts = {m.timestamp_ms for m in p.metrics}
            assert len(ts) == 1  # one poll, one source time
            for m in p.metrics:
                assert m.name is None and m.datatype is not None  # alias only; typed from the birth
                key = (d.topic.device or "", m.alias or -1)
                before_value, before_quality = known[key]
                quality = m.properties.get("Quality", before_quality)
                assert (m.value, quality) != (before_value, before_quality), f"{names[key]} unchanged"
                known[key] = (m.value, quality)
                if names[key] == "tag_label" and quality == before_quality:
                    constant_points_sent += 1
                checked += 1
    assert checked >= 30
    assert constant_points_sent == 0  # a label that never changes: its first good value, then nothing
    # the metric timestamps are the polls' source times: the historian has a sample exactly there
    last = [d for d in view.of_type(MessageType.DDATA, "tank") if d.payload is not None][-3]
    m = last.payload.metrics[0]  # type: ignore[union-attr]
    tag = f"tank.{names[('tank', m.alias or -1)]}"
    t = (m.timestamp_ms or 0) / 1000.0
    series = historian.query([tag], t - 0.0005, t + 0.0005)[tag]
    assert len(series.t) == 1 and abs(float(series.t[0]) - t) < 0.001


def test_seq_runs_over_every_node_message_and_wraps_after_255(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config(), interval_ms=20)
        try:
            wait_until(lambda: len(probe.messages) >= 300, 40, "300 node messages")
        finally:
            node.stop()
    view = HostView.of(probe)
    seqs = [d.payload.seq for d in view.messages if d.topic.type is not MessageType.NDEATH and d.payload]
    assert seqs[0] == 0
    for a, b in itertools.pairwise(seqs):
        assert b == next_seq(a or 0), f"seq {a} followed by {b}"
    assert 255 in seqs and seqs[seqs.index(255) + 1] == 0


def test_dead_device_gets_ddeath_and_a_dbirth_when_it_answers_again(
        mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config(), demo_faults=["dead:vitals@2+4"])
        try:
            wait_until(lambda: bool(HostView.of(probe).of_type(MessageType.DDEATH, "vitals")), 20, "DDEATH")
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DBIRTH, "vitals")) >= 2, 25,
                       "a second DBIRTH for vitals")
        finally:
            node.stop()
    view = HostView.of(probe)
    vitals = [d for d in view.messages if d.topic.device == "vitals"]
    kinds = [d.topic.type for d in vitals]
    death = kinds.index(MessageType.DDEATH)
    rebirth = kinds.index(MessageType.DBIRTH, death)
    assert MessageType.DDATA not in kinds[death + 1:rebirth]  # nothing about a dead device
    outage = view.messages[view.messages.index(vitals[death]):view.messages.index(vitals[rebirth])]
    others = [d for d in outage if d.topic.type is MessageType.DDATA]
    assert others  # the rest of the plant went on
    reborn = vitals[rebirth].payload
    assert reborn is not None
    assert all(m.properties["Quality"] in (0, 192, 500) for m in reborn.metrics)


def test_a_killed_station_does_not_disturb_the_node(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    with watch(mosquitto.config(), "survivor") as survivor:
        node = start_node(tmp_path, mosquitto.config())
        try:
            station = watch(mosquitto.config(), "doomed-station")
            wait_until(lambda: len(HostView.of(station).of_type(MessageType.DDATA)) >= 3, 15, "data")
            # a station (host) that dies sends a forged-looking DCMD first, then vanishes
            station.publish(f"spBv1.0/{GROUP}/DCMD/area-1/tank", build_write_command([], None))
            station.client.loop_stop()
            station.client.socket().close()
            before = len(HostView.of(survivor).of_type(MessageType.DDATA))
            wait_until(lambda: len(HostView.of(survivor).of_type(MessageType.DDATA)) >= before + 10, 15,
                       "data after the station died")
            assert node.edge is not None and node.edge.connected
            assert node.core.runtime.diagnostics()["tank"].state == "online"
        finally:
            node.stop()


def _rebirth() -> bytes:
    p = new_payload(0, None)
    add_metric(p, SpDataType.Boolean, True, name=REBIRTH)
    return p.SerializeToString()
