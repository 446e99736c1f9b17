"""Signed key rotation: the old key signs the new one into the journal; verify follows it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from app.core.detection import JournalProvenance
from app.core.journal import Journal, export_head, read_events, verify

from .helpers import connect

ROOT = Path(__file__).resolve().parents[2]


def test_rotation_is_followed_from_the_pinned_original_identity(tmp_path: Path) -> None:
    d = tmp_path / "journal"
    with Journal.open(d, checkpoint_every=5) as j:
        JournalProvenance(j).record("alice", {"sha256": "aa" * 32, "group": "pumps"})
        for i in range(7):
            j.append("alarm.transition", "system", {"i": i})
    pinned = tmp_path / "offsite.json"
    shutil.copy(d / "identity.json", pinned)
    old_key = (d / "signing_key.pem").read_bytes()
    with Journal.open(d, checkpoint_every=5) as j:
        old_fp = j.root_key
        new_fp = j.rotate_key()
        for i in range(12):
            j.append("alarm.transition", "system", {"i": i})
    assert (d / "signing_key.pem").read_bytes() != old_key
    assert (d / "identity.json").read_bytes() == pinned.read_bytes()  # the trust root stays
    rotation = read_events(d, kind="journal.key_rotated")
    assert len(rotation) == 1 and rotation[0].critical and rotation[0].body["new_key"] == new_fp
    reasons = connect(d).execute("SELECT reason FROM checkpoints").fetchall()
    assert ("rotate",) in reasons
    res = verify(d, pubkey=pinned)
    assert res.ok, res.message
    # the next start signs with the new key; a model sealed under the old key still vouches
    with Journal.open(d) as j:
        assert j.public_key.to_pem() != old_fp.to_pem()
        assert JournalProvenance(j).vouches_for("aa" * 32, "pumps")
    assert verify(d, pubkey=pinned, anchors=[export_head(d)]).ok


def test_an_edited_rotation_event_is_tampering(tmp_path: Path) -> None:
    d = tmp_path / "journal"
    with Journal.open(d) as j:
        j.rotate_key()
        j.append("note", "bob", {"text": "after"})
    con = connect(d)
    seq = con.execute("SELECT seq FROM events WHERE kind = 'journal.key_rotated'").fetchone()[0]
    con.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (seq,))
    con.close()
    res = verify(d)
    assert res.status == "tampered" and res.first_bad_seq == seq, res.message


def test_the_cli_rotates_the_key(tmp_path: Path) -> None:
    d = tmp_path / "journal"
    Journal.open(d).close()
    env = {**os.environ, "VIGIL_DATA_DIR": "/nonexistent-do-not-use"}
    res = subprocess.run([sys.executable, "-m", "app", "journal", "rotate-key", "--data-dir",
                          str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    assert "now signs with key" in res.stdout
    assert verify(d).ok and read_events(d, kind="journal.key_rotated")
