"""The two-process verify finds exactly what the single pass finds, wherever the fault is."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.journal import scan, verify

from .helpers import checkpoint_sizes, connect


@pytest.fixture
def split_journal(journal_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, int]:
    monkeypatch.setattr(scan, "PARALLEL_MIN_EVENTS", 10)
    sizes = checkpoint_sizes(journal_dir)
    split = min(sizes, key=lambda s: abs(s - 63 / 2))
    return journal_dir, split


def test_parallel_and_single_pass_agree_on_an_intact_journal(split_journal: tuple[Path, int]) -> None:
    d, _ = split_journal
    one, two = verify(d, workers=1), verify(d, workers=2)
    assert one.ok and two.ok
    assert (one.events, one.head, one.checkpoints) == (two.events, two.head, two.checkpoints)


@pytest.mark.parametrize("where", ["first_half", "split_row", "after_split", "second_half"])
def test_parallel_verify_names_the_same_first_bad_seq(split_journal: tuple[Path, int], where: str) -> None:
    d, split = split_journal
    seq = {"first_half": 5, "split_row": split, "after_split": split + 1, "second_half": 60}[where]
    connect(d).execute("DELETE FROM events WHERE seq = ?", (seq,))
    one, two = verify(d, workers=1), verify(d, workers=2)
    assert one.status == two.status == "tampered"
    assert one.first_bad_seq == two.first_bad_seq == seq, two.message
    assert one.fault == two.fault == "missing"


def test_verify_while_the_writer_keeps_committing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify reads one snapshot: critical events committed meanwhile are never judged unsealed."""
    import threading

    from app.core.journal import Journal

    monkeypatch.setattr(scan, "PARALLEL_MIN_EVENTS", 10)
    d = tmp_path / "j"
    j = Journal.open(d, checkpoint_every=50)
    stop = threading.Event()

    def keep_writing() -> None:
        i = 0
        while not stop.is_set() and i < 200_000:
            j.append("alarm.transition", "system", {"i": i}, critical=i % 7 == 0)
            i += 1
            if i % 100 == 0:
                stop.wait(0.001)

    t = threading.Thread(target=keep_writing)
    t.start()
    try:
        assert j.flush(10)
        results = [verify(d, workers=1 if n % 2 else 2) for n in range(4)]
    finally:
        stop.set()
        t.join(30)
        j.close()
    assert all(r.ok for r in results), [r.message for r in results if not r.ok]
    assert all(r.events > 0 for r in results)
