"""The writer: what goes in, in what order, sealed when, and how it behaves under pressure."""

from __future__ import annotations

import itertools
import json
import math
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

import app
from app.core.journal import Journal, JournalBodyError, JournalError, read_events, verify
from app.core.journal import writer as writer_mod
from app.core.journal.chain import event_hash, genesis_hash

from .helpers import connect


def test_events_are_chained_in_order_and_bodies_stored_exactly_as_hashed(tmp_path: Path) -> None:
    d = tmp_path / "j"
    with Journal.open(d) as j:
        j.append("setpoint.write", "alice", {"device": "pump1", "old": 1.5, "new": 2.0, "readback": 2.0})
        j.append("note", "bob", {"text": "zürich ✓", "b": [1, None, True]})
    con = connect(d)
    jid = bytes.fromhex(con.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()[0])
    rows = con.execute("SELECT seq, ts, kind, actor, critical, body, prev_hash, hash FROM events "
                       "ORDER BY seq").fetchall()
    kinds = [r[2] for r in rows]
    assert kinds == ["journal.created", "app.start", "setpoint.write", "note", "app.stop"]
    prev = genesis_hash(jid)
    for seq, ts, kind, actor, critical, body, prev_hash, h in rows:
        assert prev_hash == prev
        assert h == event_hash(prev, seq, ts, bool(critical), kind.encode(), actor.encode(), body)
        prev = h
    # canonical JSON: sorted keys, no whitespace, UTF-8 (not \\u escapes)
    assert rows[3][5] == '{"b":[1,null,true],"text":"zürich ✓"}'.encode()
    assert json.loads(rows[1][5])["version"] == app.__version__


def test_nan_and_unserialisable_bodies_are_refused_with_a_reason(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j") as j:
        with pytest.raises(JournalBodyError, match="NaN and Infinity"):
            j.append("alarm.transition", "system", {"value": math.nan})
        with pytest.raises(JournalBodyError, match="only str, int"):
            j.append("alarm.transition", "system", {"value": object()})
        with pytest.raises(ValueError, match="non-empty kind"):
            j.append("", "system", {})
    kinds = [e.kind for e in read_events(tmp_path / "j")]
    assert "alarm.transition" not in kinds


def test_checkpoints_every_n_events_after_critical_and_at_shutdown(tmp_path: Path) -> None:
    d = tmp_path / "j"
    j = Journal.open(d, checkpoint_every=50)
    for i in range(230):
        j.append("alarm.transition", "system", {"i": i})
    assert j.flush(10)
    j.append("setpoint.write", "alice", {"new": 3}, critical=True)
    assert j.flush(10)
    con = connect(d)
    cps = con.execute("SELECT size, reason FROM checkpoints ORDER BY number").fetchall()
    crit_seq = con.execute("SELECT seq FROM events WHERE kind='setpoint.write'").fetchone()[0]
    # a count checkpoint every 50 events, and the critical event sealed as soon as it was written
    counts = [s for s, r in cps if r == "count"]
    assert counts and all(b - a == 50 for a, b in itertools.pairwise(counts))
    assert any(s >= crit_seq and r == "critical" for s, r in cps)
    j.close()
    last = con.execute("SELECT size, reason FROM checkpoints ORDER BY number DESC LIMIT 1").fetchone()
    total = con.execute("SELECT max(seq) FROM events").fetchone()[0]
    assert last == (total, "shutdown")
    assert con.execute("SELECT value FROM meta WHERE key='state'").fetchone()[0] == "clean"


def test_interval_checkpoint_seals_a_quiet_journal(tmp_path: Path) -> None:
    now = [1_000_000.0]
    j = Journal.open(tmp_path / "j", checkpoint_every=1000, checkpoint_interval_s=10.0,
                     clock=lambda: now[0])
    try:
        assert j.flush(5)  # the start-up events are sealed at once (journal.created is critical)
        j.append("alarm.transition", "system", {"i": 1})
        assert j.flush(5)
        assert j.stats().unsealed == 1
        now[0] += 11.0
        deadline = time.monotonic() + 10
        while j.stats().unsealed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert j.stats().unsealed == 0
        con = connect(tmp_path / "j")
        assert con.execute("SELECT count(*) FROM checkpoints WHERE reason='interval'").fetchone()[0] == 1
    finally:
        j.close()


def test_appends_from_many_threads_all_land_in_each_threads_order(tmp_path: Path) -> None:
    d = tmp_path / "j"
    j = Journal.open(d)

    def worker(n: int) -> None:
        for i in range(400):
            j.append("alarm.transition", f"t{n}", {"i": i})

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert j.flush(10)
    j.close()
    events = read_events(d, kind="alarm.transition")
    assert len(events) == 1600
    for n in range(4):
        assert [e.body["i"] for e in events if e.actor == f"t{n}"] == list(range(400))
    assert verify(d).ok


def test_a_full_queue_blocks_briefly_and_is_recorded_as_backlog(tmp_path: Path) -> None:
    """Hold SQLite's write lock from another connection (a real stuck disk) so the queue fills."""
    d = tmp_path / "j"
    j = Journal.open(d, queue_max=5)
    assert j.flush(5)
    blocker = sqlite3.connect(d / "journal.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    appender = threading.Thread(
        target=lambda: [j.append("alarm.transition", "system", {"i": i}) for i in range(30)])
    appender.start()
    time.sleep(0.5)  # let the queue fill while the writer waits for the lock
    blocker.execute("ROLLBACK")
    blocker.close()
    appender.join(30)
    assert j.flush(30)
    j.close()
    events = read_events(d)
    assert len([e for e in events if e.kind == "alarm.transition"]) == 30
    backlog = [e for e in events if e.kind == "system.backlog"]
    assert backlog and backlog[0].body["waits"] >= 1
    assert verify(d).ok


def test_events_that_cannot_be_queued_in_time_are_reported_as_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer_mod, "APPEND_BLOCK_S", 0.01)
    d = tmp_path / "j"
    j = Journal.open(d, queue_max=2)
    assert j.flush(5)
    blocker = sqlite3.connect(d / "journal.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    for i in range(20):
        j.append("alarm.transition", "system", {"i": i})
    lost = j.stats().dropped
    blocker.execute("ROLLBACK")
    blocker.close()
    assert lost > 0
    j.close()
    dropped = read_events(d, kind="system.dropped")
    assert dropped and dropped[0].critical
    assert sum(e.body["lost_events"] for e in dropped) == lost
    assert len(read_events(d, kind="alarm.transition")) == 20 - lost


def test_second_writer_is_refused_while_the_first_is_open(tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j")
    try:
        with pytest.raises(JournalError, match="already open"):
            Journal.open(tmp_path / "j")
    finally:
        j.close()
    Journal.open(tmp_path / "j").close()  # free again once closed
    with pytest.raises(JournalError, match="closed"):
        j.append("note", "alice", {"text": "too late"})


def test_keys_private_file_is_0600_and_identity_holds_the_public_half(tmp_path: Path) -> None:
    d = tmp_path / "j"
    Journal.open(d).close()
    assert stat.S_IMODE((d / "signing_key.pem").stat().st_mode) == 0o600
    ident = json.loads((d / "identity.json").read_text())
    assert "PRIVATE" not in json.dumps(ident)
    con = connect(d)
    assert ident["journal_id"] == con.execute("SELECT value FROM meta WHERE key='journal_id'").fetchone()[0]


def test_reopening_continues_the_same_chain_and_records_each_start(tmp_path: Path) -> None:
    d = tmp_path / "j"
    for _ in range(3):
        with Journal.open(d) as j:
            j.append("note", "alice", {"text": "hello"})
    kinds = [e.kind for e in read_events(d)]
    assert kinds.count("app.start") == 3 and kinds.count("app.stop") == 3
    assert kinds.count("journal.created") == 1
    assert "journal.unclean_shutdown" not in kinds
    assert verify(d).ok


def test_read_events_filters_by_kind_prefix_since_and_limit(tmp_path: Path) -> None:
    now = [100.0]
    d = tmp_path / "j"
    with Journal.open(d, clock=lambda: now[0]) as j:
        for i in range(10):
            now[0] = 100.0 + i
            j.append("alarm.ack" if i % 2 else "alarm.transition", "bob", {"i": i})
        j.append("alarmist.other", "bob", {})
    assert len(read_events(d, kind="alarm.ack")) == 5
    assert len(read_events(d, kind="alarm.*")) == 10  # not 'alarmist.other'
    assert [e.body["i"] for e in read_events(d, kind="alarm.*", since=107.0)] == [7, 8, 9]
    latest = read_events(d, limit=2, newest_first=True)
    assert [e.kind for e in latest] == ["app.stop", "alarmist.other"]


def test_stored_journal_follows_the_documented_format(journal_dir: Path) -> None:
    """Re-derive hashes and a signature from FORMAT.md with hashlib/struct/ecdsa only."""
    import hashlib
    import struct

    from ecdsa import VerifyingKey

    ident = json.loads((journal_dir / "identity.json").read_text())
    con = connect(journal_dir)
    prev = hashlib.sha256(b"vigil/journal/genesis/v2\x00" + bytes.fromhex(ident["journal_id"])).digest()
    for seq, ts, kind, actor, critical, body, h in con.execute(
            "SELECT seq, ts, kind, actor, critical, body, hash FROM events ORDER BY seq"):
        k, a = kind.encode(), actor.encode()
        assert isinstance(ts, int)  # integer microseconds
        pre = (b"vigil/journal/event/v2\x00" + prev + struct.pack(">QqBHH", seq, ts, critical, len(k), len(a))
               + k + a + body)
        assert hashlib.sha256(pre).digest() == h
        prev = h
    number, size, head, ts, reason, link, sig = con.execute(
        "SELECT number, size, head, ts, reason, prev, signature FROM checkpoints "
        "ORDER BY number DESC LIMIT 1").fetchone()
    # every value is a string or a small integer, for which sorted compact JSON is RFC 8785
    msg = json.dumps({"format": "vigil-journal-checkpoint/2", "journal": "vigil-journal/2",
                      "head": head, "journal_id": ident["journal_id"], "key": ident["fingerprint"],
                      "number": number, "prev": link, "reason": reason, "size": size,
                      "state": "clean", "time": ts},
                     sort_keys=True, separators=(",", ":")).encode()
    vk = VerifyingKey.from_pem(ident["public_key_pem"])
    assert vk.verify(sig, msg, hashfunc=hashlib.sha256)
    assert head == prev.hex() and reason == "shutdown"


def test_a_refused_commit_is_retried_and_reported_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's write lock held longer than the busy timeout: the writer retries, nothing is lost."""
    from app.core.journal import store

    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.05)
    d = tmp_path / "j"
    j = Journal.open(d)
    assert j.flush(5)
    blocker = sqlite3.connect(d / "journal.sqlite", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    for i in range(10):
        j.append("setpoint.write", "alice", {"i": i}, critical=True)
    deadline = time.monotonic() + 10
    while j.stats().last_error is None and time.monotonic() < deadline:
        time.sleep(0.02)
    error = j.stats().last_error
    blocker.execute("ROLLBACK")
    blocker.close()
    assert error is not None and "locked" in error and "journal.sqlite" in error
    assert j.flush(10)
    assert j.stats().last_error is None
    j.close()
    assert [e.body["i"] for e in read_events(d, kind="setpoint.write")] == list(range(10))
    assert verify(d).ok
