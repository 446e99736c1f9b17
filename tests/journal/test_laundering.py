"""Issue 16: the writer never seals what it did not write, and verify checks what v1 left open.

Each attack is done to the SQLite file with plain sqlite3 and the published formulas, as
someone without the signing key (or, where it says so, the key holder) would.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ecdsa import NIST256p, SigningKey

from app.core.journal import Journal, read_events, verify
from app.core.journal.keys import load_signing_key

from .helpers import append_forged, checkpoint_sizes, connect, rechain, resign

ROOT = Path(__file__).resolve().parents[2]
CRASHING_WRITER = r"""
import sys
from app.core.journal import Journal
j = Journal.open(sys.argv[1], checkpoint_every=1000, checkpoint_interval_s=600)
j.flush(5)
for i in range(5):
    j.append("alarm.transition", "system", {"i": i})
j.flush(5)
print("committed", flush=True)
import time
time.sleep(60)
"""


def crashed_journal(tmp_path: Path) -> Path:
    """A journal whose writer was killed with 5 committed, unsealed events."""
    d = tmp_path / "crashed"
    child = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(d)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    return d


def offsite(tmp_path: Path, journal_dir: Path) -> Path:
    dest = tmp_path / "offsite-identity.json"
    shutil.copy(journal_dir / "identity.json", dest)
    return dest


# ---- laundering ------------------------------------------------------------------------------

def test_event_appended_after_a_clean_stop_is_tampering_and_never_sealed(journal_dir: Path) -> None:
    con = connect(journal_dir)
    forged = append_forged(con)  # chained and canonical, by a real operator name, state left 'clean'
    con.close()
    res = verify(journal_dir)
    assert res.status == "tampered" and res.fault == "unsealed_after_clean"
    assert res.first_bad_seq == forged

    j = Journal.open(journal_dir)
    j.append("note", "bob", {"text": "shift log"})
    j.close()
    assert any("clean shutdown" in p for p in j.problems)
    warning = read_events(journal_dir, kind="journal.integrity_warning")[-1]
    assert warning.critical and warning.body["first_seq"] == forged and warning.body["events"] == 1
    # the forged row is not in the chain (kept as evidence in quarantine), so nothing sealed it
    assert not [e for e in read_events(journal_dir, kind="setpoint.write")
                if e.body.get("tag") == "pump1.speed"]
    quarantined = connect(journal_dir).execute("SELECT kind, actor FROM quarantine").fetchall()
    assert quarantined == [("setpoint.write", "alice")]
    after = verify(journal_dir)
    assert after.ok and any("quarantine" in n for n in after.notes)


def test_event_appended_after_a_crash_is_sealed_only_as_recovered(tmp_path: Path) -> None:
    d = crashed_journal(tmp_path)
    con = connect(d)
    forged = append_forged(con)
    forged_hash = con.execute("SELECT hash FROM events WHERE seq = ?", (forged,)).fetchone()[0]
    con.close()
    Journal.open(d).close()
    reasons = connect(d).execute("SELECT size, reason FROM checkpoints ORDER BY number").fetchall()
    assert (forged, "recovered") in reasons  # never passed off as an interval checkpoint
    unclean = read_events(d, kind="journal.unclean_shutdown")[0]
    recovered = unclean.body["recovered"]
    assert unclean.critical and recovered["events"] == 6 and recovered["last_seq"] == forged
    assert recovered["last_hash"] == forged_hash.hex()
    assert verify(d).ok


def test_a_crash_tail_that_does_not_chain_is_refused(tmp_path: Path) -> None:
    d = crashed_journal(tmp_path)
    con = connect(d)
    last = con.execute("SELECT max(seq) FROM events").fetchone()[0]
    con.execute("UPDATE events SET body = CAST('{\"i\":99}' AS BLOB) WHERE seq = ?", (last - 1,))
    con.close()
    j = Journal.open(d)
    j.close()
    assert j.problems
    warning = read_events(d, kind="journal.integrity_warning")[0]
    assert warning.critical and warning.body["first_seq"] == last - 1 and warning.body["events"] == 2
    assert verify(d).ok


def test_deleted_tail_after_a_clean_stop_is_caught_by_verify_and_at_open(journal_dir: Path) -> None:
    cut = checkpoint_sizes(journal_dir)[-2]
    con = connect(journal_dir)
    con.execute("DELETE FROM events WHERE seq > ?", (cut,))
    con.execute("DELETE FROM checkpoints WHERE size > ?", (cut,))
    con.close()
    res = verify(journal_dir)
    assert res.status == "tampered" and res.fault == "meta_edited" and res.first_bad_seq == cut + 1
    j = Journal.open(journal_dir)
    j.close()
    assert any("shutdown checkpoint" in p for p in j.problems)
    assert read_events(journal_dir, kind="journal.integrity_warning")[-1].critical


# ---- meta, reason, critical, time ------------------------------------------------------------

@pytest.mark.parametrize(("key", "value"), [
    ("state", "closed"),
    ("format", "vigil-journal/9"),
    ("journal_id", "00" * 16),
])
def test_meta_edits_are_tampering(journal_dir: Path, key: str, value: str) -> None:
    connect(journal_dir).execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    res = verify(journal_dir)
    assert res.status == "tampered", res.message
    assert res.fault in ("meta_edited", "wrong_journal"), res.message


def test_a_reason_outside_the_list_is_tampering_even_when_signed(journal_dir: Path) -> None:
    con = connect(journal_dir)
    con.execute("UPDATE checkpoints SET reason = 'maintenance' WHERE number = 2")
    resign(con, load_signing_key(journal_dir))  # the key holder signed it: still not a valid reason
    res = verify(journal_dir)
    assert res.status == "tampered" and res.fault == "bad_reason", res.message


def test_critical_flag_other_than_0_or_1_is_tampering(journal_dir: Path) -> None:
    con = connect(journal_dir)
    con.execute("UPDATE events SET critical = 2 WHERE seq = 12")
    rechain(con, 12)
    res = verify(journal_dir)
    assert res.status == "tampered" and res.first_bad_seq == 12 and res.fault == "malformed"


def test_an_event_dated_backwards_is_tampering_even_when_signed(journal_dir: Path) -> None:
    con = connect(journal_dir)
    con.execute("UPDATE events SET ts = 978307200000000 WHERE seq = 30")  # 2001-01-01
    rechain(con, 30)
    resign(con, load_signing_key(journal_dir))
    res = verify(journal_dir)
    assert res.status == "tampered" and res.fault == "time_backwards" and res.first_bad_seq == 30


def test_a_checkpoint_older_than_the_one_before_is_tampering(journal_dir: Path) -> None:
    con = connect(journal_dir)
    t2 = con.execute("SELECT ts FROM checkpoints WHERE number = 2").fetchone()[0]
    con.execute("UPDATE checkpoints SET ts = ? WHERE number = 3", (t2 - 10_000_000,))
    resign(con, load_signing_key(journal_dir))
    res = verify(journal_dir)
    assert res.status == "tampered" and res.fault == "time_backwards"


def test_every_checkpoint_sizes_and_times_strictly_increase(journal_dir: Path) -> None:
    rows = connect(journal_dir).execute("SELECT size, ts FROM checkpoints ORDER BY number").fetchall()
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(rows))


# ---- damaged files -------------------------------------------------------------------------

def test_a_garbage_page_in_the_middle_is_corrupt_exit_3(tmp_path: Path) -> None:
    """Garbage on a page the chain scan never reads (a free-list page mid-file): quick_check sees it."""
    import random
    import sqlite3

    d = tmp_path / "j"
    with Journal.open(d) as j:
        for i in range(300):
            j.append("alarm.transition", "system", {"i": i, "pad": "x" * 100})
    con = sqlite3.connect(d / "journal.sqlite", isolation_level=None)
    con.execute("CREATE TABLE scratch (b BLOB)")  # pages that will be freed in the middle
    con.execute("INSERT INTO scratch VALUES (zeroblob(40000))")
    con.close()
    with Journal.open(d) as j:
        for i in range(300):
            j.append("alarm.transition", "system", {"i": i, "pad": "x" * 100})
    con = sqlite3.connect(d / "journal.sqlite", isolation_level=None)
    con.execute("DROP TABLE scratch")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    assert verify(d).ok
    path = d / "journal.sqlite"
    data = bytearray(path.read_bytes())
    trunk = int.from_bytes(data[32:36], "big")  # first free-list trunk page (SQLite file header)
    assert 1 < trunk < len(data) // 4096
    data[(trunk - 1) * 4096:trunk * 4096] = random.Random(2).randbytes(4096)
    path.write_bytes(bytes(data))
    res = verify(d)
    assert res.status == "corrupt" and res.exit_code == 3, res.message


def test_a_zero_byte_journal_beside_vigil_data_is_loud_and_keeps_the_identity(tmp_path: Path) -> None:
    d = tmp_path / "journal"
    Journal.open(d).close()
    before = json.loads((d / "identity.json").read_text())
    (d / "journal.sqlite").write_bytes(b"")
    for extra in ("journal.sqlite-wal", "journal.sqlite-shm"):
        (d / extra).unlink(missing_ok=True)
    res = verify(d)
    assert res.status == "corrupt" and "0 bytes" in res.message

    j = Journal.open(d)
    j.close()
    assert any("missing or empty" in p for p in j.problems)
    kept = [json.loads(p.read_text()) for p in d.glob("identity.*.json")]
    assert kept == [before]  # never overwritten: the old identity is kept beside the new one
    warning = read_events(d, kind="journal.integrity_warning")[0]
    assert warning.critical and warning.body["previous_journal_id"] == before["journal_id"]


def test_a_missing_journal_where_other_data_exists_is_loud(tmp_path: Path) -> None:
    (tmp_path / "alarms.sqlite").write_bytes(b"x")
    j = Journal.open(tmp_path / "journal")
    j.close()
    assert any("alarms.sqlite" in p for p in j.problems)


def test_a_first_start_on_an_empty_data_folder_is_quiet(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "journal")
    j.close()
    assert j.problems == [] and not read_events(tmp_path / "journal", kind="journal.integrity_warning")


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATA_DIR": "/nonexistent-do-not-use"}
    return subprocess.run([sys.executable, "-m", "app", "journal", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_corrupt_identity_file_is_exit_3_with_a_clear_message(journal_dir: Path) -> None:
    (journal_dir / "identity.json").write_text('{"journal_id": "ab", "public_key_pem": ')
    data = journal_dir.parent
    res = vigil("verify", "--data-dir", str(data))
    assert res.returncode == 3, res.stderr
    assert "identity.json" in res.stderr and "corrupt" in res.stderr


def test_a_swapped_identity_in_the_folder_is_reported_with_pubkey(
    journal_dir: Path, tmp_path: Path, make_journal
) -> None:
    pinned = offsite(tmp_path, journal_dir)
    other = make_journal()
    shutil.copy(other / "identity.json", journal_dir / "identity.json")
    res = verify(journal_dir, pubkey=pinned)
    assert res.status == "tampered" and res.fault == "identity_swapped", res.message
    # a new key pair written into the folder's identity is reported the same way
    mallory = SigningKey.generate(curve=NIST256p)
    from app.core.journal.keys import write_identity

    jid = json.loads(pinned.read_text())["journal_id"]
    write_identity(journal_dir, jid, mallory.get_verifying_key())
    assert verify(journal_dir, pubkey=pinned).fault == "identity_swapped"
