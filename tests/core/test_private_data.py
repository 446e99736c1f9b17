"""Private by default (#17): the data folder is 0700 and every file in it 0600 whatever the
umask, its owner and mode are checked at every start, and no temporary file can be redirected
through a planted symlink. Real processes, real SQLite files."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.errors import VigilError
from app.core.paths import resolve_data_dir
from app.core.users import Role, UserStore

ROOT = Path(__file__).resolve().parents[2]


def _modes(root: Path) -> dict[str, int]:
    found = {str(root): stat.S_IMODE(os.lstat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            found[p] = stat.S_IMODE(os.lstat(p).st_mode)
    return found


def test_headless_demo_run_with_umask_022_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    """The issue's acceptance run: historian, alarm store (with -wal/-shm), journal, key, models
    and settings all private after a real headless run under a permissive umask."""
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VIGIL_NO_PLUGINS": "1",
           "VIGIL_USER_PLUGINS_DIR": str(tmp_path / "no-user-plugins")}
    run = subprocess.run(
        [sys.executable, "-m", "app", "run", "--headless", "--duration", "10", "--data-dir", str(data)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    modes = _modes(data)
    names = {Path(p).name for p in modes}
    assert any(n.endswith(".sqlite") for n in names), names  # the run really wrote its stores
    leaky = {p: f"{m:o}" for p, m in modes.items() if m & 0o077}
    assert not leaky, f"readable or writable by group/others: {leaky}"


def test_folder_readable_by_others_is_tightened_at_start(tmp_path: Path) -> None:
    data = tmp_path / "old"
    (data / "journal").mkdir(parents=True)
    (data / "historian.sqlite").write_bytes(b"x")
    os.chmod(data, 0o755)
    os.chmod(data / "journal", 0o755)
    os.chmod(data / "historian.sqlite", 0o644)
    resolve_data_dir(data)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "journal").stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "historian.sqlite").stat().st_mode) == 0o600


@pytest.mark.parametrize("create", [True, False])
def test_folder_writable_by_others_is_refused_saying_what_to_do(tmp_path: Path, create: bool) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    os.chmod(data, 0o777)
    with pytest.raises(VigilError, match=r"writable by group or others.*chmod"):
        resolve_data_dir(data, create=create)
    assert stat.S_IMODE(data.stat().st_mode) == 0o777  # refused, not silently "fixed"


def test_folder_of_another_account_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The folder belongs to the account running the test; the workstation runs as another
    (``geteuid`` is the one thing replaced: we cannot switch accounts inside a test)."""
    data = tmp_path / "theirs"
    data.mkdir(mode=0o700)
    monkeypatch.setattr(os, "geteuid", lambda: data.stat().st_uid + 4242)
    with pytest.raises(VigilError, match=r"belongs to uid .*not to this account"):
        resolve_data_dir(data)


def test_planted_users_tmp_symlink_redirects_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    victim = tmp_path / "victim.conf"
    victim.write_text("precious\n")
    (data / "users.tmp").symlink_to(victim)
    store = UserStore(data / "users.json")
    store.add(None, "admin", "correct horse", Role.ADMINISTRATOR)
    assert victim.read_text() == "precious\n"
    assert stat.S_IMODE((data / "users.json").stat().st_mode) == 0o600
    assert UserStore(data / "users.json").list()[0]["name"] == "admin"
