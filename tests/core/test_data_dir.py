"""The data folder: a file given as ``--data-dir`` is refused by name, and commands that only
read never create a missing data folder (looking must leave no trace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.core.errors import VigilError
from app.core.paths import DataDirError, resolve_data_dir

READ_ONLY = [
    ["alarms", "list"],
    ["alarms", "history"],
    ["alarms", "kpis"],
    ["alarms", "check"],
    ["history", "tags"],
    ["history", "export", "--out", "{tmp}/out.csv"],
    ["detect", "list", "--models"],
    ["journal", "show"],
    ["journal", "verify"],
    ["journal", "export-head"],
]
WRITERS = [
    ["journal", "note", "--actor", "carol", "hello"],
    ["plugins", "disable", "acme.nothing"],
    ["detect", "train", "{tmp}/in.csv", "--detector", "robust_z"],
]


@pytest.fixture(autouse=True)
def _no_user_plugins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(tmp_path / "no-user-plugins"))
    monkeypatch.delenv("VIGIL_DATA_DIR", raising=False)


def _args(cmd: list[str], tmp: Path, data_dir: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in cmd] + ["--data-dir", str(data_dir)]


def test_resolve_refuses_a_file_and_creates_only_when_asked(tmp_path: Path) -> None:
    f = tmp_path / "data.txt"
    f.write_text("not a folder")
    for create in (True, False):
        with pytest.raises(DataDirError, match=f"data dir {f} is not a folder"):
            resolve_data_dir(f, create=create)
    with pytest.raises(DataDirError, match="cannot create"):
        resolve_data_dir(f / "below")  # a parent that is a file
    missing = tmp_path / "missing"
    with pytest.raises(DataDirError, match=f"no Vigil data in {missing}") as e:
        resolve_data_dir(missing, create=False)
    assert e.value.missing and isinstance(e.value, VigilError) and not missing.exists()
    assert resolve_data_dir(missing) == missing and missing.is_dir()  # create=True stays the default


@pytest.mark.parametrize("cmd", READ_ONLY + WRITERS, ids=lambda c: " ".join(c[:2]))
def test_a_file_as_data_dir_is_named_not_a_traceback(cmd: list[str], tmp_path: Path, capsys) -> None:
    f = tmp_path / "data.txt"
    f.write_text("not a folder")
    (tmp_path / "in.csv").write_text("t,a\n" + "".join(f"{i},{i % 7}\n" for i in range(50)))
    assert main(_args(cmd, tmp_path, f)) != 0
    assert f"data dir {f} is not a folder" in capsys.readouterr().err
    assert f.read_text() == "not a folder"


def test_a_file_in_vigil_data_dir_is_named_too(tmp_path: Path, monkeypatch, capsys) -> None:
    f = tmp_path / "data.txt"
    f.write_text("x")
    monkeypatch.setenv("VIGIL_DATA_DIR", str(f))
    assert main(["alarms", "list"]) != 0
    assert f"data dir {f} is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", READ_ONLY, ids=lambda c: " ".join(c[:2]))
def test_read_only_commands_do_not_create_a_missing_data_dir(cmd: list[str], tmp_path: Path, capsys) -> None:
    missing = tmp_path / "typo"
    code = main(_args(cmd, tmp_path, missing))
    assert not missing.exists()
    if cmd[:2] == ["detect", "list"]:  # the detectors are still listed; the models part says why
        assert code == 0 and f"no Vigil data in {missing}" in capsys.readouterr().out
    else:
        assert code != 0 and f"no Vigil data in {missing}" in capsys.readouterr().err


def test_plugins_list_without_a_data_dir_lists_and_creates_nothing(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "typo"
    assert main(["plugins", "list", "--data-dir", str(missing)]) == 0
    out, err = capsys.readouterr()
    assert "vigil.detectors" in out and f"no Vigil data in {missing}" in err
    assert not missing.exists()
