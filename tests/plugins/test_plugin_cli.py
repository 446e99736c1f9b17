"""``vigil plugins list|check|enable|disable`` through the real CLI entry point."""

from __future__ import annotations

import json

import pytest
from plugin_factory import write_detector_plugin, write_plugin

from app.cli import main as vigil
from app.core.journal import read_events


@pytest.fixture
def env(tmp_path, monkeypatch, unique):
    user = tmp_path / "user"
    write_detector_plugin(user, "good", f"acme.good{unique}", f"good_{unique}", "goodz")
    write_plugin(user, "future", "acme.future", api="9.0")
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(user))
    monkeypatch.setenv("VIGIL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VIGIL_NO_PLUGINS", raising=False)
    # a plugin that is not built in runs only once approved (tests/plugins/test_plugin_trust.py)
    assert vigil(["plugins", "approve", f"acme.good{unique}"]) == 0
    return tmp_path, unique


def test_list_json_shows_id_version_source_state_reason(env, capsys):
    _, unique = env
    capsys.readouterr()
    assert vigil(["plugins", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    good = rows[f"acme.good{unique}"]
    assert (good["version"], good["source"], good["state"], good["reason"]) == (
        "0.1.0",
        "user",
        "available",
        "",
    )
    assert (
        rows["acme.future"]["state"] == "rejected" and "targets SDK API 9.0" in rows["acme.future"]["reason"]
    )
    assert rows["vigil.modbus"]["source"] == "builtin"


def test_list_table_is_readable(env, capsys):
    unique = env[1]
    capsys.readouterr()
    assert vigil(["plugins", "list"]) == 0
    out = capsys.readouterr().out
    tmp_path, _ = env
    assert out.splitlines()[0] == f"user plugins folder: {tmp_path / 'user'}"
    assert out.splitlines()[1].split() == ["ID", "VERSION", "SOURCE", "STATE", "REASON"]
    assert any(line.startswith(f"acme.good{unique}") and "available" in line for line in out.splitlines())


def test_disable_then_enable_persists_and_is_journaled(env, capsys):
    tmp_path, unique = env
    pid = f"acme.good{unique}"
    assert vigil(["plugins", "disable", pid]) == 0
    capsys.readouterr()
    assert vigil(["plugins", "list", "--json"]) == 0
    state = {r["id"]: r["state"] for r in json.loads(capsys.readouterr().out)}
    assert state[pid] == "disabled"
    assert vigil(["plugins", "enable", pid]) == 0
    capsys.readouterr()
    assert vigil(["plugins", "list", "--json"]) == 0
    state = {r["id"]: r["state"] for r in json.loads(capsys.readouterr().out)}
    assert state[pid] == "available"
    kinds = [(e.kind, e.body.get("plugin")) for e in read_events(tmp_path / "data" / "journal", "plugin.*")]
    assert ("plugin.disabled", pid) in kinds and ("plugin.enabled", pid) in kinds


def test_check_accepts_a_good_folder(env, capsys):
    tmp_path, _ = env
    assert vigil(["plugins", "check", str(tmp_path / "user" / "good")]) == 0
    assert "ok (acme.good" in capsys.readouterr().out


def test_check_names_every_problem_without_a_traceback(tmp_path, capsys, unique):
    pkg = f"bad_{unique}"
    folder = write_plugin(
        tmp_path,
        "bad",
        "acme.bad",
        api="2.0",
        package=pkg,
        contributions=f"""
        [[detectors]]
        name = "broken"
        factory = "{pkg}.det:Missing"
        [[drivers]]
        transport = "x"
        factory = "{pkg}.crash:Driver"
        [[profiles]]
        path = "profiles"
        """,
        files={
            f"{pkg}/det.py": "class Present: pass\n",
            f"{pkg}/crash.py": "raise RuntimeError('cannot load firmware table')\n",
            "profiles/p.toml": "[device]\nid = 'p'\n",
        },
    )
    assert vigil(["plugins", "check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert "targets SDK API 2.0" in err
    assert f"'{pkg}.det:Missing': AttributeError" in err
    assert f"'{pkg}.crash:Driver': RuntimeError: cannot load firmware table" in err
    assert "p.toml" in err and "Traceback" not in err
    assert pkg not in __import__("sys").modules  # checked in a child process


def test_check_of_a_broken_manifest_and_a_missing_folder(tmp_path, capsys):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "plugin.toml").write_text('[plugin]\nid = "Bad Id"\n', encoding="utf-8")
    assert vigil(["plugins", "check", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert "field 'id'" in err and "field 'name': required field is missing" in err
    assert vigil(["plugins", "check", str(tmp_path / "nope")]) == 2


def test_check_of_a_hanging_import_is_bounded(tmp_path, capsys, unique):
    pkg = f"slow_{unique}"
    folder = write_plugin(
        tmp_path,
        "slow",
        "acme.slow",
        package=pkg,
        contributions=f'[[detectors]]\nname = "s"\nfactory = "{pkg}.m:X"\n',
        files={f"{pkg}/m.py": "import time\ntime.sleep(30)\n"},
    )
    assert vigil(["plugins", "check", str(folder), "--timeout", "1.5"]) == 1
    assert "did not finish within 1.5 s" in capsys.readouterr().err


def test_list_into_a_reader_that_went_away_exits_quietly(env):
    import os
    import subprocess
    import sys
    from pathlib import Path

    (env[0] / "data").mkdir(exist_ok=True)
    r, w = os.pipe()
    os.close(r)  # `vigil plugins list --json | head -0`: the reader is gone before the first write
    try:
        proc = subprocess.run([sys.executable, "-m", "app", "plugins", "list", "--json"],
                              cwd=Path(__file__).resolve().parents[2], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=dict(os.environ))
    finally:
        os.close(w)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr


def test_data_dir_is_accepted_after_the_sub_command_and_before_it(env, capsys, monkeypatch):
    tmp, unique = env
    monkeypatch.delenv("VIGIL_DATA_DIR")
    after, before = tmp / "after", tmp / "before"
    plugin = f"acme.good{unique}"
    assert vigil(["plugins", "disable", plugin, "--data-dir", str(after)]) == 0
    assert json.loads((after / "plugins.json").read_text())["disabled"] == [plugin]
    capsys.readouterr()
    assert vigil(["plugins", "list", "--json", "--data-dir", str(after)]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[plugin]["state"] == "disabled"
    assert vigil(["plugins", "enable", plugin, "--data-dir", str(after)]) == 0
    assert json.loads((after / "plugins.json").read_text())["disabled"] == []
    # the old place, before the sub-command, still works
    assert vigil(["plugins", "--data-dir", str(before), "disable", plugin]) == 0
    assert json.loads((before / "plugins.json").read_text())["disabled"] == [plugin]
    capsys.readouterr()
    assert vigil(["plugins", "--data-dir", str(before), "list", "--json"]) == 0
    assert {r["id"]: r for r in json.loads(capsys.readouterr().out)}[plugin]["state"] == "disabled"
