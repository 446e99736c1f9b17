"""The node's payloads read by code that shares nothing with Vigil's encoder: protoc (from
grpcio-tools) compiles the official sparkplug_b.proto into a temporary folder at test time,
and a separate Python process that cannot import Vigil decodes what the node published."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mqtt_support import MosquittoBroker

from app.core.sparkplug import MessageType, datatype_for_point
from node.sp_host import HostView, start_node, wait_until, watch

PROTO_DIR = Path(__file__).resolve().parents[2] / "app" / "core" / "sparkplug"

DECODER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import sparkplug_b_pb2 as pb
assert "app" not in sys.modules
out = []
for path in sys.argv[2:]:
    p = pb.Payload()
    p.ParseFromString(open(path, "rb").read())
    metrics = []
    for m in p.metrics:
        which = m.WhichOneof("value")
        metrics.append({
            "name": m.name if m.HasField("name") else None,
            "alias": m.alias if m.HasField("alias") else None,
            "datatype": m.datatype if m.HasField("datatype") else None,
            "datatype_name": pb.DataType.Name(m.datatype) if m.HasField("datatype") else None,
            "field": which,
            "value": getattr(m, which) if which and which != "bytes_value" else None,
            "is_null": m.is_null,
            "timestamp": m.timestamp if m.HasField("timestamp") else None,
            "properties": dict(zip(m.properties.keys,
                                   [getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
                                    for v in m.properties.values])),
        })
    out.append({"seq": p.seq if p.HasField("seq") else None, "timestamp": p.timestamp, "metrics": metrics})
print(json.dumps(out))
"""


@pytest.mark.parametrize(("device", "ints"), [("pump", 0), ("vitals", 1)])  # vitals: unscaled UInt16s
def test_payloads_decode_with_protoc_generated_code(mosquitto: MosquittoBroker, tmp_path: Path,
                                                   device: str, ints: int) -> None:
    gen = tmp_path / "gen"
    gen.mkdir()
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={PROTO_DIR}",
                    f"--python_out={gen}", "sparkplug_b.proto"], check=True, timeout=60)
    assert (gen / "sparkplug_b_pb2.py").exists()
    with watch(mosquitto.config()) as probe:
        node = start_node(tmp_path, mosquitto.config())
        try:
            wait_until(lambda: len(HostView.of(probe).of_type(MessageType.DDATA, device)) >= 3, 20,
                       f"{device} data")
            view = HostView.of(probe)
            nbirth = view.of_type(MessageType.NBIRTH)[0]
            dbirth = view.of_type(MessageType.DBIRTH, device)[0]
            ddatas = view.of_type(MessageType.DDATA, device)[:3]
            files = []
            for i, d in enumerate([nbirth, dbirth, *ddatas]):
                f = tmp_path / f"msg{i}.bin"
                f.write_bytes(d.raw.payload)
                files.append(str(f))
            decoded = json.loads(subprocess.run(
                [sys.executable, "-I", "-c", DECODER, str(gen), *files], cwd=gen, check=True,
                capture_output=True, timeout=60, text=True).stdout)
            historian = node.core.historian
            profile = node.core.plant.profiles[device]
            stored = {}
            for msg in decoded[2:]:
                for m in msg["metrics"]:
                    t = m["timestamp"] / 1000.0
                    stored[(m["alias"], m["timestamp"])] = t
            aliases = {m["alias"]: m["name"] for m in decoded[1]["metrics"]}
            tags = {alias: f"{device}.{name}" for alias, name in aliases.items()}
            wait_until(lambda: all(len(historian.query([tags[a]], t - 0.001, t + 0.001)[tags[a]].t)
                                   for (a, _), t in stored.items()), 5, "the polls stored")
            truth = {key: historian.query([tags[key[0]]], t - 0.001, t + 0.001)[tags[key[0]]].value[-1]
                     for key, t in stored.items()}
        finally:
            node.stop()
    nb = {m["name"]: m for m in decoded[0]["metrics"]}
    assert decoded[0]["seq"] == 0
    assert nb["bdSeq"]["datatype_name"] == "Int64" and nb["bdSeq"]["value"] == 0
    rebirth = nb["Node Control/Rebirth"]
    assert rebirth["datatype_name"] == "Boolean" and rebirth["value"] is False
    # DBIRTH: every point by name, a unique alias, the datatype the profile implies
    db = {m["name"]: m for m in decoded[1]["metrics"]}
    assert set(db) == {p.name for p in profile.points}
    node_aliases = {m["alias"] for m in decoded[0]["metrics"]}
    assert len(set(aliases)) == len(aliases) and not set(aliases) & node_aliases
    for p in profile.points:
        m = db[p.name]
        assert m["datatype"] == int(datatype_for_point(p)), p.name
        assert m["properties"]["Quality"] in (0, 192, 500)
        if p.unit:
            assert m["properties"]["engUnit"] == p.unit
    # DDATA: aliases only, no names or datatypes, values equal to what the historian stored
    checked = checked_ints = 0
    assert [d["seq"] for d in decoded[2:]] == sorted(d["seq"] for d in decoded[2:])
    for msg in decoded[2:]:
        for m in msg["metrics"]:
            assert m["name"] is None and m["datatype"] is None and m["alias"] in aliases
            if m["is_null"]:
                continue
            expected = truth[(m["alias"], m["timestamp"])]
            kind = db[aliases[m["alias"]]]["datatype_name"]
            if kind == "String":
                assert (m["field"], m["value"]) == ("string_value", expected)
                continue
            bits = {"Int8": 8, "Int16": 16, "Int32": 32, "Int64": 64}.get(kind)
            if kind.startswith(("Int", "UInt")):  # unsigned on the wire, two's complement if signed
                assert m["field"] == ("long_value" if kind.endswith("64") else "int_value")
                raw = int(m["value"])
                value = raw - (1 << bits) if bits is not None and raw >= 1 << (bits - 1) else raw
                assert value == int(expected)
                checked_ints += 1
                continue
            field = {"Float": "float_value", "Double": "double_value", "Boolean": "boolean_value"}.get(kind)
            assert field is not None, kind
            assert m["field"] == field
            assert float(m["value"]) == pytest.approx(float(expected), rel=1e-6, abs=1e-9)
            checked += 1
    assert checked >= 5
    assert checked_ints >= ints
