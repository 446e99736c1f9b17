"""Witnessed heads: node B records node A's signed head; a truncation on A is then provable from B."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.journal import Journal, export_head, read_events, verify

from .helpers import checkpoint_sizes, connect

ROOT = Path(__file__).resolve().parents[2]


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATA_DIR": "/nonexistent-do-not-use"}
    return subprocess.run([sys.executable, "-m", "app", "journal", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def nodes(journal_dir: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """(node A's journal, node B's data folder, A's identity kept elsewhere); B witnessed A's head."""
    pinned = tmp_path / "a-identity.json"
    shutil.copy(journal_dir / "identity.json", pinned)
    head_file = tmp_path / "a-head.jsonl"
    head_file.write_text(json.dumps(export_head(journal_dir)) + "\n")
    node_b = tmp_path / "witnesses" / "node-b"
    Journal.open(node_b / "journal").close()
    res = vigil("witness", "--data-dir", str(node_b), str(head_file))
    assert res.returncode == 0, res.stderr
    assert "witnessed journal" in res.stdout
    return journal_dir, node_b, pinned


def test_the_head_is_recorded_as_a_sealed_witness_event(nodes: tuple[Path, Path, Path]) -> None:
    a, node_b, _ = nodes
    events = read_events(node_b / "journal", kind="journal.witness")
    assert len(events) == 1 and events[0].critical
    assert events[0].body["head"] == export_head(a)
    assert verify(node_b / "journal").ok


def test_an_intact_journal_agrees_with_the_heads_others_witnessed(nodes: tuple[Path, Path, Path]) -> None:
    a, node_b, pinned = nodes
    res = verify(a, pubkey=pinned, witnesses=node_b.parent)
    assert res.ok and res.anchors_checked == 1, res.message
    assert any("witness journal" in n for n in res.notes)


def test_a_journal_truncated_on_node_a_is_caught_by_the_heads_node_b_witnessed(
    nodes: tuple[Path, Path, Path]
) -> None:
    a, node_b, pinned = nodes
    cut = checkpoint_sizes(a)[2]
    con = connect(a)
    con.execute("DELETE FROM events WHERE seq > ?", (cut,))
    con.execute("DELETE FROM checkpoints WHERE size > ?", (cut,))
    con.execute("UPDATE meta SET value = 'open' WHERE key = 'state'")  # passed off as a crash
    con.close()
    assert verify(a, pubkey=pinned).ok  # nothing inside A's files can show it
    res = verify(a, pubkey=pinned, witnesses=node_b.parent)
    assert res.status == "anchor_mismatch" and res.fault == "anchor_truncated", res.message
    assert res.first_bad_seq == cut + 1 and "witnessed by journal" in res.message
    cli = vigil("verify", "--data-dir", str(a.parent), "--pubkey", str(pinned),
                "--witnesses", str(node_b.parent))
    assert cli.returncode == 4, cli.stderr


def test_a_tampered_witness_journal_is_not_trusted(nodes: tuple[Path, Path, Path]) -> None:
    a, node_b, pinned = nodes
    connect(node_b / "journal").execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    res = verify(a, pubkey=pinned, witnesses=node_b.parent)
    assert res.status == "usage" and "not intact" in res.message


def test_a_head_file_that_is_not_a_head_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-head.jsonl"
    bad.write_text('{"journal_id": "x"}\n')
    Journal.open(tmp_path / "b" / "journal").close()
    res = vigil("witness", "--data-dir", str(tmp_path / "b"), str(bad))
    assert res.returncode == 1 and "not-a-head.jsonl line 1" in res.stderr
