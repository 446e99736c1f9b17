"""`vigil users`: the administrator manages accounts from the shell; passwords come from a
prompt or stdin, never arguments, and never reach the journal."""

from __future__ import annotations

import io
import json

from app.cli import main as vigil
from app.core.journal import read_events


def _run(monkeypatch, args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return vigil(args)


def test_users_cli_end_to_end(tmp_path, monkeypatch, capsys):
    d = str(tmp_path / "data")
    assert (
        _run(
            monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", d], "admin-pass-1\n"
        )
        == 0
    )
    # a second account needs an administrator to say who they are
    assert _run(monkeypatch, ["users", "add", "olga", "--data-dir", d], "operator-pass\n") == 1
    assert "--as ADMIN" in capsys.readouterr().err
    assert (
        _run(
            monkeypatch,
            ["users", "add", "olga", "--as", "ada", "--data-dir", d],
            "admin-pass-1\noperator-pass\n",
        )
        == 0
    )
    # an operator cannot administer
    assert (
        _run(monkeypatch, ["users", "disable", "ada", "--as", "olga", "--data-dir", d], "operator-pass\n")
        == 1
    )
    assert (
        _run(monkeypatch, ["users", "disable", "olga", "--as", "ada", "--data-dir", d], "admin-pass-1\n") == 0
    )
    capsys.readouterr()
    n_events = len(read_events(tmp_path / "data" / "journal"))
    assert _run(monkeypatch, ["users", "list", "--json", "--data-dir", d]) == 0
    listed = {u["name"]: u for u in json.loads(capsys.readouterr().out)}
    assert listed["olga"]["disabled"] and listed["ada"]["role"] == "administrator"
    assert len(read_events(tmp_path / "data" / "journal")) == n_events  # listing journals nothing
    raw = (tmp_path / "data" / "journal" / "journal.sqlite").read_bytes()
    raw += (tmp_path / "data" / "users.json").read_bytes()
    assert b"admin-pass-1" not in raw and b"operator-pass" not in raw
    kinds = [e.kind for e in read_events(tmp_path / "data" / "journal")]
    assert kinds.count("user.added") == 2 and "user.disabled" in kinds and "action.refused" in kinds
