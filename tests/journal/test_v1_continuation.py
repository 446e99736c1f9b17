"""A data folder from Vigil 0.1 (a ``vigil-journal/1`` journal) still starts.

The old journal is kept whole and still verifies where it was moved to; the new version-2
journal opens with a critical ``journal.continued`` event naming it, so nothing of the audit
trail is lost or silently replaced by the upgrade.
"""

from __future__ import annotations

import json
from pathlib import Path

from app.core.journal import Journal, read_events, verify

from .vectors.make_vectors import build, write_sqlite


def test_a_version_1_journal_is_kept_and_continued_in_version_2(tmp_path: Path) -> None:
    jdir = write_sqlite(build(1), tmp_path / "journal")
    old = verify(jdir)
    assert old.status == "intact"

    journal = Journal.open(jdir)
    try:
        journal.append("note", "olga", {"text": "first shift on the new version"})
    finally:
        journal.close()

    archive = jdir / f"v1-{old.journal_id}"
    kept = verify(archive)
    assert kept.status == "intact" and kept.events == old.events and kept.head == old.head
    new = verify(jdir)
    assert new.status == "intact", new.message
    assert new.journal_id != old.journal_id
    (cont,) = read_events(jdir, kind="journal.continued")
    assert cont.critical
    assert cont.body["previous_journal_id"] == old.journal_id
    assert cont.body["verify"] == "intact" and cont.body["events"] == old.events
    assert json.loads(cont.body["last_signed_head"])["head"] == old.head
    assert [e.body["text"] for e in read_events(jdir, kind="note")] == ["first shift on the new version"]
    assert journal.problems == []


def test_a_tampered_version_1_journal_is_kept_and_reported(tmp_path: Path) -> None:
    import sqlite3

    jdir = write_sqlite(build(1), tmp_path / "journal")
    con = sqlite3.connect(jdir / "journal.sqlite")
    con.execute("UPDATE events SET actor = 'mallory' WHERE seq = 2")
    con.commit()
    con.close()
    jid = verify(jdir).journal_id

    journal = Journal.open(jdir)
    journal.close()

    assert verify(jdir / f"v1-{jid}").status == "tampered"
    assert any("does not verify (tampered)" in p for p in journal.problems)
    (cont,) = read_events(jdir, kind="journal.continued")
    assert cont.body["verify"] == "tampered"
    assert verify(jdir).status == "intact"


def test_accounts_recorded_in_the_version_1_journal_still_count(tmp_path: Path, monkeypatch) -> None:
    """After the upgrade the accounts of users.json are vouched for by the kept v1 journal (the
    one the journal.continued event names), not refused as 'added by hand'; a folder planted
    beside it vouches for nothing."""
    import pytest

    from app.core.errors import VigilError
    from app.core.users import Role, UserStore, account_events

    from .vectors import make_vectors

    events = list(make_vectors.EVENTS)
    events[2] = ("user.added", "setup", False, {"user": "ada", "role": "administrator"})
    monkeypatch.setattr(make_vectors, "EVENTS", events)
    jdir = write_sqlite(make_vectors.build(1), tmp_path / "journal")
    Journal.open(jdir).close()
    # a planted "archive" that the journal never named
    planted = write_sqlite(make_vectors.build(1), tmp_path / "elsewhere")
    (jdir / "v1-0123abcd").mkdir()
    (planted / "journal.sqlite").rename(jdir / "v1-0123abcd" / "journal.sqlite")

    assert account_events(jdir) == [("user.added", {"user": "ada", "role": "administrator"})]
    store = UserStore(tmp_path / "users.json")
    store.add(None, "ada", "ada-password-1", Role.ADMINISTRATOR)
    store.reconcile(account_events(jdir))  # vouched for by the kept v1 journal: no refusal
    forged = UserStore(tmp_path / "forged.json")
    forged.add(None, "mallory", "mallory-password", Role.ADMINISTRATOR)
    with pytest.raises(VigilError, match="mallory"):
        forged.reconcile(account_events(jdir))
