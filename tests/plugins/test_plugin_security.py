"""Plugin management is a role-checked, journaled action that fails closed (#17): the role
check does not depend on opening the journal, a change nobody can journal is not made, and a
corrupt disabled list keeps plugins off instead of silently re-enabling them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from plugin_factory import write_detector_plugin

from app.cli import main as vigil
from app.core.journal import Journal, read_events
from app.plugin_host import PluginHost, PluginState

PW = {"ada": "admin-pass-1", "otto": "operator-pass"}


def _cli(monkeypatch: pytest.MonkeyPatch, args: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return vigil(args)


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(tmp_path / "no-user-plugins"))
    d = tmp_path / "data"
    assert _cli(monkeypatch, ["users", "add", "ada", "--role", "administrator", "--data-dir", str(d)],
                PW["ada"] + "\n") == 0
    assert _cli(monkeypatch, ["users", "add", "otto", "--as", "ada", "--data-dir", str(d)],
                PW["ada"] + "\n" + PW["otto"] + "\n") == 0
    return d


def _disabled(d: Path) -> list[str]:
    f = d / "plugins.json"
    return json.loads(f.read_text())["disabled"] if f.exists() else []


def test_disable_while_the_journal_is_busy_is_refused_not_made_unjournaled(data, monkeypatch, capsys):
    busy = Journal.open(data / "journal")  # a running workstation holds the journal
    try:
        assert _cli(monkeypatch, ["plugins", "disable", "vigil.modbus", "--data-dir", str(data)]) == 1
        assert _cli(monkeypatch, ["plugins", "disable", "vigil.modbus", "--as", "ada",
                                  "--data-dir", str(data)], PW["ada"] + "\n") == 1
    finally:
        busy.close()
    assert "not changed" in capsys.readouterr().err
    assert "vigil.modbus" not in _disabled(data)


def test_disable_needs_an_engineer_once_accounts_exist(data, monkeypatch):
    assert _cli(monkeypatch, ["plugins", "disable", "vigil.modbus", "--data-dir", str(data)]) == 1
    assert _cli(monkeypatch, ["plugins", "disable", "vigil.modbus", "--as", "otto", "--data-dir", str(data)],
                PW["otto"] + "\n") == 1
    assert "vigil.modbus" not in _disabled(data)
    assert _cli(monkeypatch, ["plugins", "disable", "vigil.modbus", "--as", "ada", "--data-dir", str(data)],
                PW["ada"] + "\n") == 0
    assert _disabled(data) == ["vigil.modbus"]
    events = read_events(data / "journal")
    assert any(e.kind == "action.refused" and e.actor == "otto" for e in events)
    assert any(e.kind == "plugin.disabled" and e.actor == "ada" for e in events)


def test_corrupt_disabled_list_keeps_user_plugins_off(tmp_path, unique):
    pid = f"acme.zcor{unique}"
    write_detector_plugin(tmp_path / "user", "zcor", pid, f"zcor_{unique}", f"zcor{unique}")
    host = PluginHost(data_dir=tmp_path / "data", builtin_dir=None, user_dir=tmp_path / "user",
                      entry_points=False)
    host.set_enabled(pid, False)
    (tmp_path / "data" / "plugins.json").write_text("{half written", encoding="utf-8")
    again = PluginHost(data_dir=tmp_path / "data", builtin_dir=None, user_dir=tmp_path / "user",
                       entry_points=False)
    rec = again.record(pid)
    assert rec is not None and rec.state is PluginState.DISABLED
    assert "unreadable disabled-plugins list" in rec.reason
    assert f"zcor{unique}" not in again.detector_names()
