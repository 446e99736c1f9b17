"""Every tampering case of issue 3, done to the SQLite file directly, caught with the right seq.

Journals are built by the real writer; the tampering uses plain sqlite3 and, where an attacker
would, the published chain formula (re-chaining) or the real signing key (the key holder).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ecdsa import NIST256p, SigningKey

from app.core.journal import Journal, export_head, verify
from app.core.journal.keys import load_signing_key, write_identity

from .helpers import (
    checkpoint_sizes,
    connect,
    rechain,
    resign,
    sealed_range_start,
    shift_up,
)

SEQ = 20  # the event we tamper with; well inside a 60-event journal with checkpoints every 10


def pinned(tmp_path: Path, journal_dir: Path) -> Path:
    """A copy of the identity file 'kept elsewhere', taken while the journal was honest."""
    dest = tmp_path / "offsite-identity.json"
    shutil.copy(journal_dir / "identity.json", dest)
    return dest


def assert_fault(res, status: str, seq: int | None, *faults: str) -> None:
    assert res.status == status, res.message
    assert res.first_bad_seq == seq, res.message
    if faults:
        assert res.fault in faults, res.message
    if seq is not None:
        assert f"seq {seq}" in res.message


def test_untouched_journal_is_intact(journal_dir: Path, tmp_path: Path) -> None:
    res = verify(journal_dir, pubkey=pinned(tmp_path, journal_dir))
    assert res.ok and res.exit_code == 0
    assert res.events == 63 and res.unsealed == 0 and res.first_bad_seq is None
    assert res.checkpoints == len(checkpoint_sizes(journal_dir)) >= 6


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("body", b'{"i":17,"note":"d\\u00e9bit normal","tag":"pump1.flow","value":1.0}'),
        ("ts", 1),
        ("actor", "mallory"),
        ("kind", "alarm.ack"),
        ("critical", 0),
    ],
)
def test_edited_field_is_caught_at_its_seq(journal_dir: Path, column: str, value: object) -> None:
    con = connect(journal_dir)
    if column == "critical":
        # pick a critical event, so clearing the flag changes something
        target = con.execute("SELECT min(seq) FROM events WHERE critical = 1 AND seq > 5").fetchone()[0]
    else:
        target = SEQ
    con.execute(f"UPDATE events SET {column} = ? WHERE seq = ?", (value, target))
    assert_fault(verify(journal_dir), "tampered", target, "content_edited")


def test_edited_prev_hash_is_caught(journal_dir: Path) -> None:
    connect(journal_dir).execute("UPDATE events SET prev_hash = zeroblob(32) WHERE seq = ?", (SEQ,))
    assert_fault(verify(journal_dir), "tampered", SEQ, "chain_break", "content_edited")


def test_edited_and_rechained_without_the_key_is_caught_by_the_checkpoint(journal_dir: Path) -> None:
    con = connect(journal_dir)
    con.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (SEQ,))
    rechain(con, SEQ)
    res = verify(journal_dir)
    # the chain is self-consistent again; only the signed head shows it, for the whole range
    assert_fault(res, "tampered", sealed_range_start(journal_dir, SEQ), "rechained")


def test_deleted_row_is_caught(journal_dir: Path) -> None:
    connect(journal_dir).execute("DELETE FROM events WHERE seq = ?", (SEQ,))
    assert_fault(verify(journal_dir), "tampered", SEQ, "missing")


def test_deleted_row_with_later_rows_renumbered_is_caught(journal_dir: Path) -> None:
    con = connect(journal_dir)
    con.execute("DELETE FROM events WHERE seq = ?", (SEQ,))
    con.execute("UPDATE events SET seq = seq - 1 WHERE seq > ?", (SEQ,))
    assert_fault(verify(journal_dir), "tampered", SEQ, "moved")


def test_inserted_row_with_a_forged_link_is_caught(journal_dir: Path) -> None:
    con = connect(journal_dir)
    shift_up(con, SEQ)
    con.execute(
        "INSERT INTO events SELECT ?, ts, 'setpoint.write', 'mallory', 0, "
        "CAST('{\"new\":99}' AS BLOB), prev_hash, hash FROM events WHERE seq = ?",
        (SEQ, SEQ + 1),
    )
    assert_fault(verify(journal_dir), "tampered", SEQ, "content_edited")


def test_inserted_row_chained_correctly_is_still_caught(journal_dir: Path) -> None:
    """The attacker knows the formula and links the forged row properly; the next row betrays it."""
    con = connect(journal_dir)
    shift_up(con, SEQ)
    con.execute(
        "INSERT INTO events SELECT ?, ts, 'setpoint.write', 'mallory', 0, "
        "CAST('{\"new\":99}' AS BLOB), prev_hash, hash FROM events WHERE seq = ?",
        (SEQ, SEQ + 1),
    )
    from app.core.journal import chain

    prev = con.execute("SELECT hash FROM events WHERE seq = ?", (SEQ - 1,)).fetchone()[0]
    ts, body = con.execute("SELECT ts, body FROM events WHERE seq = ?", (SEQ,)).fetchone()
    h = chain.event_hash(prev, SEQ, ts, False, b"setpoint.write", b"mallory", body)
    con.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, SEQ))
    assert_fault(verify(journal_dir), "tampered", SEQ, "inserted")


def test_duplicated_row_is_caught(journal_dir: Path) -> None:
    con = connect(journal_dir)
    shift_up(con, SEQ + 1)
    con.execute("INSERT INTO events SELECT seq + 1, ts, kind, actor, critical, body, prev_hash, hash "
                "FROM events WHERE seq = ?", (SEQ,))
    assert_fault(verify(journal_dir), "tampered", SEQ + 1, "duplicated")


def test_swapped_rows_are_caught(journal_dir: Path) -> None:
    con = connect(journal_dir)
    con.execute("UPDATE events SET seq = -1 WHERE seq = ?", (SEQ,))
    con.execute("UPDATE events SET seq = ? WHERE seq = ?", (SEQ, SEQ + 1))
    con.execute("UPDATE events SET seq = ? WHERE seq = -1", (SEQ + 1,))
    assert_fault(verify(journal_dir), "tampered", SEQ, "moved")


def test_events_spliced_in_from_another_journal_are_caught(journal_dir: Path, make_journal) -> None:
    other = make_journal("other")
    con = connect(journal_dir)
    con.execute("ATTACH DATABASE ? AS other", (str(other / "journal.sqlite"),))
    con.execute("DELETE FROM events WHERE seq BETWEEN ? AND ?", (SEQ, SEQ + 2))
    con.execute("INSERT INTO events SELECT * FROM other.events WHERE seq BETWEEN ? AND ?", (SEQ, SEQ + 2))
    assert_fault(verify(journal_dir), "tampered", SEQ, "chain_break")


def test_whole_database_from_another_journal_is_refused_by_the_pinned_identity(
    journal_dir: Path, make_journal, tmp_path: Path
) -> None:
    ident = pinned(tmp_path, journal_dir)
    other = make_journal("other")
    shutil.copy(other / "journal.sqlite", journal_dir / "journal.sqlite")
    assert_fault(verify(journal_dir, pubkey=ident), "tampered", 1, "wrong_journal")


def test_edited_checkpoint_is_caught(journal_dir: Path) -> None:
    sizes = checkpoint_sizes(journal_dir)
    connect(journal_dir).execute("UPDATE checkpoints SET ts = ts + 3600 WHERE number = 3")
    assert_fault(verify(journal_dir), "tampered", sizes[1] + 1, "checkpoint_signature")


def test_deleted_checkpoint_in_the_middle_is_caught(journal_dir: Path) -> None:
    sizes = checkpoint_sizes(journal_dir)
    connect(journal_dir).execute("DELETE FROM checkpoints WHERE number = 3")
    assert_fault(verify(journal_dir), "tampered", sizes[1] + 1, "checkpoint_missing")


def test_deleted_last_checkpoint_is_caught_through_the_unsealed_clean_stop(journal_dir: Path) -> None:
    con = connect(journal_dir)
    n = con.execute("SELECT max(number) FROM checkpoints").fetchone()[0]
    before = checkpoint_sizes(journal_dir)[-2]
    con.execute("DELETE FROM checkpoints WHERE number = ?", (n,))
    # the journal was closed cleanly, so its last checkpoint must be the shutdown one
    assert_fault(verify(journal_dir), "tampered", before + 1, "meta_edited")
    con.execute("UPDATE meta SET value = 'open' WHERE key = 'state'")  # passed off as a crash
    first_critical = con.execute(
        "SELECT min(seq) FROM events WHERE critical = 1 AND seq > ?", (before,)).fetchone()[0]
    assert_fault(verify(journal_dir), "tampered", first_critical, "checkpoint_missing")


def test_substituted_public_key_is_caught(journal_dir: Path, tmp_path: Path) -> None:
    ident = pinned(tmp_path, journal_dir)
    mallory = SigningKey.generate(curve=NIST256p)
    con = connect(journal_dir)
    con.execute("UPDATE meta SET value = ? WHERE key = 'public_key_pem'",
                (mallory.get_verifying_key().to_pem().decode(),))
    con.execute("UPDATE events SET body = CAST('{\"text\":\"all fine\"}' AS BLOB) WHERE seq = ?", (SEQ,))
    rechain(con, SEQ)
    resign(con, mallory)
    # ... and the identity file inside the journal folder replaced as well
    jid = con.execute("SELECT value FROM meta WHERE key = 'journal_id'").fetchone()[0]
    write_identity(journal_dir, jid, mallory.get_verifying_key())
    local = verify(journal_dir)
    assert local.ok  # which is why the identity must be pinned elsewhere
    assert any("kept elsewhere" in n for n in local.notes)
    assert_fault(verify(journal_dir, pubkey=ident), "tampered", 1, "public_key_substituted")


def test_truncation_leaving_its_checkpoint_is_caught(journal_dir: Path) -> None:
    connect(journal_dir).execute("DELETE FROM events WHERE seq > 45")
    assert_fault(verify(journal_dir), "tampered", 46, "truncated")


def test_tail_truncated_past_a_checkpoint_is_caught_with_an_exported_head(
    journal_dir: Path, tmp_path: Path
) -> None:
    head = export_head(journal_dir)
    cut = checkpoint_sizes(journal_dir)[2]
    con = connect(journal_dir)
    con.execute("DELETE FROM events WHERE seq > ?", (cut,))
    con.execute("DELETE FROM checkpoints WHERE size > ?", (cut,))
    con.execute("UPDATE meta SET value = 'open' WHERE key = 'state'")  # passed off as a crash
    assert verify(journal_dir).ok  # self-consistent: nothing inside the file can show it
    res = verify(journal_dir, pubkey=pinned(tmp_path, journal_dir), anchors=[head])
    assert_fault(res, "anchor_mismatch", cut + 1, "anchor_truncated")
    assert res.exit_code == 4


def test_rollback_to_an_older_copy_is_caught_with_an_exported_head(tmp_path: Path) -> None:
    d = tmp_path / "j"
    Journal.open(d).close()
    shutil.copy(d / "journal.sqlite", tmp_path / "old.sqlite")
    with Journal.open(d) as j:
        j.append("setpoint.write", "alice", {"old": 1, "new": 5})
    head = export_head(d)
    shutil.copy(tmp_path / "old.sqlite", d / "journal.sqlite")
    assert verify(d).ok
    res = verify(d, anchors=[head])
    assert res.exit_code == 4 and res.fault == "anchor_truncated"


def test_rewrite_resigned_by_the_key_holder_is_caught_with_an_exported_head(
    journal_dir: Path, tmp_path: Path
) -> None:
    anchors = tmp_path / "heads.jsonl"
    import json

    anchors.write_text(json.dumps(export_head(journal_dir)) + "\n")
    sk = load_signing_key(journal_dir)
    con = connect(journal_dir)
    con.execute("UPDATE events SET actor = 'mallory' WHERE seq = ?", (SEQ,))
    rechain(con, SEQ)
    resign(con, sk)
    assert verify(journal_dir).ok  # a perfect forgery from inside
    res = verify(journal_dir, pubkey=pinned(tmp_path, journal_dir), anchors=anchors)
    assert res.exit_code == 4 and res.fault == "anchor_rewritten"
    assert res.first_bad_seq == 63 and "at or before seq 63" in res.message


def test_anchor_not_signed_by_the_pinned_key_is_a_usage_error(journal_dir: Path, make_journal) -> None:
    foreign = export_head(make_journal("other"))
    res = verify(journal_dir, anchors=[foreign])
    assert res.status == "usage" and res.exit_code == 2 and "not signed by the pinned key" in res.message


def test_garbage_page_is_reported_as_corrupt(tmp_path: Path) -> None:
    d = tmp_path / "big"
    from .helpers import build

    build(d, events=2000, every=100)
    path = d / "journal.sqlite"
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    data[3 * page: 5 * page] = bytes((i * 131 + 7) % 256 for i in range(2 * page))
    path.write_bytes(bytes(data))
    res = verify(d)
    assert res.status == "corrupt" and res.exit_code == 3, res.message
    assert str(path) in res.message


def test_wrong_type_in_a_column_is_reported_not_raised(journal_dir: Path) -> None:
    connect(journal_dir).execute("UPDATE events SET body = 'plain text' WHERE seq = ?", (SEQ,))
    res = verify(journal_dir)
    assert res.exit_code == 1 and res.first_bad_seq == SEQ
