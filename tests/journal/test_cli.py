"""``vigil journal ...``: exit codes as a separate process, and the read/write sub-commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import main
from app.cli.journal import parse_since
from app.core.journal import read_events

from .helpers import connect

ROOT = Path(__file__).resolve().parents[2]


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VIGIL_DATA_DIR": "/nonexistent-do-not-use"}
    return subprocess.run([sys.executable, "-m", "app", "journal", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def data_dir(journal_dir: Path) -> Path:
    """The CLI takes the data folder; the fixture journal lives in <data>/journal."""
    return journal_dir.parent


def test_verify_exit_codes_as_a_separate_process(data_dir: Path, tmp_path: Path) -> None:
    jdir = data_dir / "journal"
    offsite = tmp_path / "offsite.json"
    shutil.copy(jdir / "identity.json", offsite)
    heads = tmp_path / "heads.jsonl"
    exported = vigil("export-head", "--data-dir", str(data_dir), "--append", str(heads))
    assert exported.returncode == 0 and json.loads(exported.stdout)["size"] == 63

    ok = vigil("verify", "--data-dir", str(data_dir), "--pubkey", str(offsite), "--anchors", str(heads))
    assert ok.returncode == 0, ok.stderr
    assert "INTACT" in ok.stdout and "0 event(s) after the last checkpoint" in ok.stdout

    usage = vigil("verify", "--data-dir", str(data_dir), "--pubkey", str(tmp_path / "missing.pem"))
    assert usage.returncode == 2 and "missing.pem" in usage.stderr

    con = connect(jdir)
    con.execute("DELETE FROM events WHERE seq > 40")
    con.execute("DELETE FROM checkpoints WHERE size > 40")
    con.execute("UPDATE meta SET value = 'open' WHERE key = 'state'")  # pass it off as a crash
    con.close()
    rolled = vigil("verify", "--data-dir", str(data_dir), "--pubkey", str(offsite), "--anchors", str(heads))
    assert rolled.returncode == 4, rolled.stderr
    assert "truncated or rolled back" in rolled.stderr

    connect(jdir).execute("UPDATE events SET body = CAST('{}' AS BLOB) WHERE seq = 17")
    bad = vigil("verify", "--data-dir", str(data_dir), "--json")
    result = json.loads(bad.stdout)
    assert bad.returncode == 1 and result["first_bad_seq"] == 17 and result["fault"] == "content_edited"
    for proc in (ok, usage, rolled, bad, exported):
        assert "Traceback" not in proc.stderr


def test_corrupt_database_exits_3_without_traceback(tmp_path: Path) -> None:
    from .helpers import build

    jdir = build(tmp_path / "data" / "journal", events=1500, every=100)
    path = jdir / "journal.sqlite"
    with open(path, "r+b") as f:
        f.seek(4096 * 4)
        f.write(os.urandom(4096 * 2))
    proc = vigil("verify", "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "CORRUPT" in proc.stderr and str(path) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_journal_exits_3_and_creates_nothing(tmp_path: Path, capsys) -> None:
    assert main(["journal", "verify", "--data-dir", str(tmp_path / "nothing")]) == 3
    assert not (tmp_path / "nothing").exists()
    assert f"no Vigil data in {tmp_path / 'nothing'}" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()  # a data dir without a journal yet
    assert main(["journal", "verify", "--data-dir", str(tmp_path / "empty")]) == 3
    assert "no journal database" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []


def test_note_then_show_filters_and_json(data_dir: Path, capsys) -> None:
    assert main(["journal", "note", "--data-dir", str(data_dir), "--actor", "carol",
                 "Pump 2 on manual", "for maintenance"]) == 0
    notes = read_events(data_dir / "journal", kind="note")
    assert [(n.actor, n.body["text"], n.critical) for n in notes] == [
        ("carol", "Pump 2 on manual for maintenance", True)]
    capsys.readouterr()
    assert main(["journal", "show", "--data-dir", str(data_dir), "--kind", "note", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["body"]["text"] for x in lines] == ["Pump 2 on manual for maintenance"]
    assert main(["journal", "show", "--data-dir", str(data_dir), "--limit", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and "app.stop" in out[-1]
    assert main(["journal", "show", "--data-dir", str(data_dir), "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err


def test_note_is_refused_while_another_process_writes(data_dir: Path, capsys) -> None:
    from app.core.journal import Journal

    with Journal.open(data_dir / "journal"):
        assert main(["journal", "note", "--data-dir", str(data_dir), "--actor", "d", "hi"]) == 1
    assert "already open" in capsys.readouterr().err


@pytest.mark.parametrize("actor", ["", "   "])
def test_note_with_an_empty_actor_is_a_usage_error(data_dir: Path, capsys, actor: str) -> None:
    before = len(read_events(data_dir / "journal"))
    assert main(["journal", "note", "--data-dir", str(data_dir), "--actor", actor, "x"]) == 2
    assert "--actor is empty" in capsys.readouterr().err
    assert len(read_events(data_dir / "journal")) == before  # nothing written, not even app.start


def test_parse_since_forms() -> None:
    assert parse_since("90m", now=10_000.0) == 10_000.0 - 5400
    assert parse_since("1700000000") == 1_700_000_000.0
    assert parse_since("2026-01-01T00:00:00Z") == parse_since("2026-01-01T00:00") == 1767225600.0


def _into_closed_pipe(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``vigil ARGS`` with stdout a pipe whose reader has already gone (``| head -0``):
    every write fails with EPIPE, exactly what a reader that quits early causes."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, **(env or {})})
    finally:
        os.close(w)
    return proc.returncode, proc.stderr


def test_show_into_a_reader_that_went_away_exits_quietly(data_dir: Path) -> None:
    code, err = _into_closed_pipe("journal", "show", "--data-dir", str(data_dir))
    assert code == 141, err  # 128 + SIGPIPE, what a shell expects
    assert "Traceback" not in err and "BrokenPipe" not in err and err == ""
