"""The checked-in test vectors, the standalone verifier, and the canonical JSON, against each other.

Both verifiers must say exactly what each negative vector expects; the writer's RFC 8785
implementation, the standalone verifier's own one and the ``rfc8785`` package must produce the
same bytes for any JSON value hypothesis can think of.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from ecdsa import VerifyingKey
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.journal import JournalBodyError, verify
from app.core.journal import standalone_verify as standalone
from app.core.journal.canonical import canonical_json

from .vectors.make_vectors import VECTORS, dumps, generate, write_sqlite

DOC = json.loads(VECTORS.read_text("utf-8"))
ROOT = Path(__file__).resolve().parents[2]
STANDALONE = ROOT / "app" / "core" / "journal" / "standalone_verify.py"


def test_the_checked_in_vectors_are_what_the_formulas_give(tmp_path: Path) -> None:
    assert dumps(generate(tmp_path)) == VECTORS.read_text("utf-8")


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_the_vector_journal_is_intact_for_both_verifiers(tmp_path: Path, version: str) -> None:
    d = write_sqlite(DOC[version], tmp_path / version)
    res = verify(d, pubkey=d / "identity.json")
    assert res.ok and res.events == 8, res.message
    assert standalone.verify(str(d), str(d / "identity.json"))["status"] == "intact"


@pytest.mark.parametrize("version", ["v2", "v1"])
def test_the_standalone_verifier_recomputes_every_hash_and_message(version: str) -> None:
    vector = DOC[version]
    rules = standalone.Rules(2 if version == "v2" else 1)
    prev = hashlib.sha256(rules.genesis_tag + bytes.fromhex(vector["meta"]["journal_id"])).digest()
    for e in vector["events"]:
        assert e["prev_hash"] == prev.hex()
        prev = rules.event_hash(prev, e["seq"], e["ts"], e["critical"], e["kind"].encode(),
                                e["actor"].encode(), e["body"].encode())
        assert prev.hex() == e["hash"]
    vk = VerifyingKey.from_pem(vector["identity"]["public_key_pem"], hashfunc=hashlib.sha256)
    link = "0" * 64
    for c in vector["checkpoints"]:
        msg = rules.message(vector["meta"]["journal_id"], vector["identity"]["fingerprint"],
                            c["number"], c["size"], c["head"], c["ts"], c["reason"], c["prev"])
        assert msg.decode() == c["message"] and c["prev"] == link
        assert vk.verify(bytes.fromhex(c["signature"]), msg, hashfunc=hashlib.sha256)
        link = rules.link(msg, bytes.fromhex(c["signature"]))


NEGATIVE = {n["name"]: n for n in DOC["negative_v2"]}


@pytest.mark.parametrize("name", sorted(NEGATIVE))
def test_each_negative_vector_gets_its_verdict_from_both_verifiers(tmp_path: Path, name: str) -> None:
    vector = NEGATIVE[name]
    d = write_sqlite(DOC["v2"], tmp_path / "j")
    con = sqlite3.connect(d / "journal.sqlite", isolation_level=None)
    for statement in vector["sql"]:
        con.execute(statement)
    con.close()
    want = vector["expect"]
    res = verify(d, pubkey=d / "identity.json")
    assert (res.status, res.fault, res.first_bad_seq) == (
        want["status"], want["fault"], want["first_bad_seq"]), res.message
    # the shipped file, run as a separate program with nothing of Vigil importable
    out = subprocess.run([sys.executable, "-I", str(STANDALONE), str(d), "--pubkey",
                          str(d / "identity.json"), "--json"], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    got = json.loads(out.stdout)
    assert out.returncode == res.exit_code
    assert (got["status"], got["fault"], got["first_bad_seq"]) == (
        want["status"], want["fault"], want["first_bad_seq"])


def test_the_standalone_verifier_imports_nothing_from_vigil() -> None:
    import ast

    tree = ast.parse(STANDALONE.read_text("utf-8"))
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert modules - set(sys.stdlib_module_names) == {"ecdsa"}


@pytest.mark.parametrize("case", DOC["canonical_json"], ids=lambda c: c["jcs"][:20])
def test_canonical_vectors(case: dict[str, Any]) -> None:
    assert canonical_json(case["value"]).decode() == case["jcs"]
    assert standalone.jcs(case["value"]).decode() == case["jcs"]
    assert rfc8785.dumps(case["value"]).decode() == case["jcs"]


SAFE_INT = st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1)
FLOAT = st.floats(allow_nan=False, allow_infinity=False)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | SAFE_INT | FLOAT | TEXT,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(TEXT, children, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_three_rfc8785_implementations_agree(value: Any) -> None:
    mine = canonical_json(value)
    assert mine == standalone.jcs(value) == rfc8785.dumps(value)


@settings(max_examples=200, deadline=None)
@given(FLOAT)
def test_numbers_are_written_as_ecmascript_writes_them(x: float) -> None:
    assert canonical_json(x) == rfc8785.dumps(x)
    assert float(canonical_json(x)) == x


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**53, {"k": -(2**60)}, "\ud800", {1: "x"}])
def test_values_without_a_canonical_form_are_refused(bad: Any) -> None:
    with pytest.raises(JournalBodyError):
        canonical_json(bad)
