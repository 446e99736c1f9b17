"""Once accounts exist, CLI commands that change things act as a named, authenticated account
with the right role, exactly like the workstation: no more "--actor anybody"."""

from __future__ import annotations

import io

import numpy as np
import pytest

from app.cli import main as vigil
from app.core.journal import Journal, read_events
from app.core.users import Role, UserStore

PW = {"ada": "admin-pass-1", "olga": "operator-pass", "erin": "engineer-pass"}


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    journal = Journal.open(d / "journal")
    store = UserStore(d / "users.json", journal=journal)
    store.add(None, "ada", PW["ada"], Role.ADMINISTRATOR)
    ada = store.authenticate("ada", PW["ada"])
    store.add(ada, "olga", PW["olga"], Role.OPERATOR)
    store.add(ada, "erin", PW["erin"], Role.ENGINEER)
    journal.close()
    return d


def _run(monkeypatch, args, stdin=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return vigil(args)


def _kinds(d, kind):
    return [e for e in read_events(d / "journal") if e.kind == kind]


def test_note_needs_the_actors_password(data, monkeypatch, capsys):
    d = str(data)
    assert (
        _run(monkeypatch, ["journal", "note", "--data-dir", d, "--actor", "olga", "pump", "noisy"], "wrong\n")
        == 1
    )
    assert "login refused" in capsys.readouterr().err
    assert _run(monkeypatch, ["journal", "note", "--data-dir", d, "--actor", "mallory", "hi"], "x\n") == 1
    assert (
        _run(
            monkeypatch,
            ["journal", "note", "--data-dir", d, "--actor", "olga", "pump", "noisy"],
            PW["olga"] + "\n",
        )
        == 0
    )
    notes = _kinds(data, "note")
    assert [(n.actor, n.body["text"]) for n in notes] == [("olga", "pump noisy")]


def test_plugin_changes_need_an_engineer(data, monkeypatch, capsys):
    d = str(data)
    assert _run(monkeypatch, ["plugins", "disable", "vigil.sunspec", "--data-dir", d]) == 1
    assert "--as NAME" in capsys.readouterr().err
    assert (
        _run(
            monkeypatch,
            ["plugins", "disable", "vigil.sunspec", "--as", "olga", "--data-dir", d],
            PW["olga"] + "\n",
        )
        == 1
    )
    assert "may not plugin.manage" in capsys.readouterr().err
    assert (
        _run(
            monkeypatch,
            ["plugins", "disable", "vigil.sunspec", "--as", "erin", "--data-dir", d],
            PW["erin"] + "\n",
        )
        == 0
    )
    refused = _kinds(data, "action.refused")
    assert [e.actor for e in refused] == ["olga"]


def test_training_needs_an_engineer(data, monkeypatch, tmp_path, capsys):
    rng = np.random.default_rng(1)
    csv = tmp_path / "normal.csv"
    rows = rng.normal(size=(200, 3))
    csv.write_text("a,b,c\n" + "\n".join(",".join(f"{v:.5f}" for v in r) for r in rows) + "\n")
    base = ["detect", "train", str(csv), "--detector", "robust_z", "--data-dir", str(data)]
    assert _run(monkeypatch, [*base, "--as", "olga"], PW["olga"] + "\n") == 2
    assert "may not detector.train" in capsys.readouterr().err
    assert _run(monkeypatch, [*base, "--as", "erin"], PW["erin"] + "\n") == 0
    trained = _kinds(data, "model.trained")
    assert [e.actor for e in trained] == ["erin"]
