"""Opening a journal: passphrase-protected keys, missing or foreign keys, damage found at start."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.journal import Journal, JournalError, KeyFileError, read_events, verify

from .helpers import connect


def test_passphrase_protected_key_round_trip(tmp_path: Path) -> None:
    d = tmp_path / "j"
    with Journal.open(d, passphrase="correct horse") as j:
        j.append("note", "alice", {"text": "protected"})
    text = (d / "signing_key.pem").read_text()
    assert "VIGIL WRAPPED EC PRIVATE KEY" in text and "BEGIN EC PRIVATE KEY" not in text
    with Journal.open(d, passphrase="correct horse") as j:
        j.append("note", "alice", {"text": "again"})
    assert verify(d).ok  # verification needs only the public key
    assert read_events(d, kind="journal.created")[0].body["key_protected"] is True


def test_wrong_or_missing_passphrase_is_refused_by_name(tmp_path: Path) -> None:
    d = tmp_path / "j"
    Journal.open(d, passphrase="correct horse").close()
    with pytest.raises(KeyFileError, match="wrong passphrase") as e:
        Journal.open(d, passphrase="battery staple")
    assert "signing_key.pem" in str(e.value)
    with pytest.raises(KeyFileError, match="protected by a passphrase"):
        Journal.open(d)
    Journal.open(d, passphrase="correct horse").close()  # the failed attempts left no lock behind


def test_edited_wrapped_key_file_is_refused(tmp_path: Path) -> None:
    import base64
    import json

    d = tmp_path / "j"
    Journal.open(d, passphrase="pw").close()
    lines = (d / "signing_key.pem").read_text().splitlines()
    doc = json.loads(base64.b64decode("".join(lines[1:-1])))
    doc["wrapped"] = ("00" if doc["wrapped"][:2] != "00" else "11") + doc["wrapped"][2:]
    blob = base64.encodebytes(json.dumps(doc, sort_keys=True).encode()).decode()
    (d / "signing_key.pem").write_text(f"{lines[0]}\n{blob}{lines[-1]}\n")
    with pytest.raises(KeyFileError, match="wrong passphrase, or the key file was altered"):
        Journal.open(d, passphrase="pw")


def test_missing_key_for_an_existing_journal_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "j"
    Journal.open(d).close()
    (d / "signing_key.pem").unlink()
    with pytest.raises(JournalError, match="signing key missing"):
        Journal.open(d)


def test_a_key_from_another_journal_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    Journal.open(a).close()
    Journal.open(b).close()
    shutil.copy(b / "signing_key.pem", a / "signing_key.pem")
    with pytest.raises(KeyFileError, match="does not belong to journal"):
        Journal.open(a)


def test_recreated_journal_names_the_one_that_went_missing(tmp_path: Path) -> None:
    d = tmp_path / "j"
    Journal.open(d).close()
    old_id = connect(d).execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()[0]
    (d / "journal.sqlite").unlink()
    Journal.open(d).close()
    created = read_events(d, kind="journal.created")
    assert created[0].body["replaces_missing_journal"] == old_id
    assert created[0].body["journal_id"] != old_id


def test_garbage_database_is_refused_with_its_path(tmp_path: Path) -> None:
    d = tmp_path / "j"
    d.mkdir()
    (d / "journal.sqlite").write_bytes(b"this is not a database" * 500)
    with pytest.raises(JournalError, match=r"journal\.sqlite"):
        Journal.open(d)
    Journal.open(tmp_path / "fine").close()


def test_tampering_between_runs_is_journalled_at_the_next_start(tmp_path: Path) -> None:
    d = tmp_path / "j"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(d)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    res = verify(d)
    assert res.ok and res.unsealed == 5
    last = res.events
    connect(d).execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (last,))
    j = Journal.open(d)
    j.close()
    warnings = read_events(d, kind="journal.integrity_warning")
    assert len(warnings) == 1 and warnings[0].critical
    # the edited row is not sealed: it is kept aside in quarantine, the 4 intact ones recovered
    assert warnings[0].body["first_seq"] == last and warnings[0].body["events"] == 1
    assert f"seq {last}" in warnings[0].body["message"] and j.problems
    unclean = read_events(d, kind="journal.unclean_shutdown")
    assert len(unclean) == 1 and unclean[0].body["recovered"]["events"] == 4
    res = verify(d)
    assert res.ok and any("quarantine" in n for n in res.notes)


ROOT = Path(__file__).resolve().parents[2]
CRASHING_WRITER = r"""
import sys, time
from app.core.journal import Journal
j = Journal.open(sys.argv[1], checkpoint_every=1000, checkpoint_interval_s=600)
j.flush(5)
for i in range(5):
    j.append("alarm.transition", "system", {"i": i})
j.flush(5)
print("committed", flush=True)
time.sleep(30)
"""


def test_the_pinned_identity_outside_the_data_folder_is_checked_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "data" / "journal"
    Journal.open(d).close()
    pinned = tmp_path / "usb" / "identity.json"
    pinned.parent.mkdir()
    shutil.copy(d / "identity.json", pinned)
    j = Journal.open(d, pinned_identity=pinned)
    j.close()
    assert j.problems == []
    # the whole journal folder replaced by another journal (its own key and identity)
    shutil.rmtree(d)
    Journal.open(d).close()
    monkeypatch.setenv("VIGIL_JOURNAL_IDENTITY", str(pinned))
    j = Journal.open(d)
    j.close()
    assert any("not the pinned one" in p for p in j.problems)
    assert read_events(d, kind="journal.integrity_warning")[-1].critical


def test_the_cli_asks_for_the_passphrase_when_the_key_is_protected(tmp_path: Path) -> None:
    d = tmp_path / "journal"
    Journal.open(d, passphrase="s3cret").close()
    env = {k: v for k, v in __import__("os").environ.items() if k != "VIGIL_JOURNAL_PASSPHRASE"}
    res = subprocess.run([sys.executable, "-m", "app", "journal", "note", "--data-dir", str(tmp_path),
                          "--actor", "alice", "pump 2 noisy"], input="s3cret\n", cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert read_events(d, kind="note")[-1].body == {"text": "pump 2 noisy"}
    wrong = subprocess.run([sys.executable, "-m", "app", "journal", "note", "--data-dir",
                            str(tmp_path), "--actor", "alice", "x"], input="nope\n", cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and "wrong passphrase" in wrong.stderr
