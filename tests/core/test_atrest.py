"""Encryption at rest (#17): the historian and the alarm store are SQLCipher databases whose
key lives outside the data folder (OS keyring, else a 0600 key file); a plain store is migrated
in place; a missing or wrong key stops everything with a message and changes nothing.

Real SQLCipher files, real Historian and AlarmStore writers, a real `vigil` process.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core import atrest
from app.core.historian import Historian, HistorianReader
from app.core.model import Quality, Sample

ROOT = Path(__file__).resolve().parents[2]
BED = "ICU-3 BED 7"


@pytest.fixture(autouse=True)
def _own_key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's keys in its own folder, and no key remembered from another test."""
    keys = tmp_path / "keys"
    monkeypatch.setenv("VIGIL_KEY_DIR", str(keys))
    monkeypatch.setattr(atrest, "_cache", {})
    return keys


def _write_history(path: Path, n: int = 50) -> None:
    h = Historian(path)
    h.start()
    t0 = time.time() - n
    for i in range(n):
        h.on_samples([Sample("icu.hr", 60.0 + i, Quality.GOOD, t0 + i),
                      Sample("icu.bed", BED, Quality.GOOD, t0 + i)])
    assert h.flush(10.0)
    h.close()


def _all_bytes(folder: Path, prefix: str) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob(prefix + "*")))


def test_headless_demo_run_under_umask_022_stores_no_readable_patient_data(
    tmp_path: Path, _own_key_dir: Path
) -> None:
    """The issue's acceptance run: after `vigil run --headless --duration 10` with umask 022,
    nothing in the data folder is readable by group or others, the bed label is not in the
    historian's or the alarm store's bytes, yet it was recorded (the key opens it), and the key
    is a 0600 file outside the data folder."""
    data = tmp_path / "data"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VIGIL_NO_PLUGINS": "1",
           "VIGIL_USER_PLUGINS_DIR": str(tmp_path / "no-user-plugins")}
    run = subprocess.run(
        [sys.executable, "-m", "app", "run", "--headless", "--duration", "10", "--data-dir", str(data)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for root, dirs, files in os.walk(data):
        for name in dirs + files:
            mode = stat.S_IMODE(os.lstat(os.path.join(root, name)).st_mode)
            assert not mode & 0o077, f"{name} is {mode:o}"
    for store in ("historian.sqlite", "alarms.sqlite"):
        assert (data / store).exists()
        raw = _all_bytes(data, store)
        assert b"ICU-3" not in raw, f"{store} holds the bed label in clear"
        assert not raw.startswith(b"SQLite format 3"), f"{store} is a plain SQLite file"
    # it was recorded: the key opens the historian and the label is there
    con = atrest.connect(data / "historian.sqlite", readonly=True)
    try:
        assert con.execute("SELECT count(*) FROM samples WHERE text LIKE 'ICU-3%'").fetchone()[0] > 0
    finally:
        con.close()
    key_files = list(_own_key_dir.glob("*.key"))
    assert len(key_files) == 1 and data not in key_files[0].parents
    assert stat.S_IMODE(key_files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(_own_key_dir.stat().st_mode) == 0o700
    assert key_files[0].read_text().strip() not in (data / atrest.MARKER).read_text()


def test_plain_historian_is_migrated_in_place_without_losing_a_row(tmp_path: Path) -> None:
    """A historian written by an older Vigil (plain SQLite, with a write-ahead log) is encrypted
    at start: same rows, same schema version, no plain bytes and no plain -wal left behind."""
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    db = data / "historian.sqlite"
    _write_history(db)
    assert BED.encode() in _all_bytes(data, "historian.sqlite")
    before = HistorianReader(db).query(["icu.hr"], 0, time.time() + 1)
    version_before = atrest.dbapi.connect(str(db)).execute("PRAGMA user_version").fetchone()[0]

    key = atrest.enable(data)
    assert atrest.migrate(db, key) is True
    assert atrest.migrate(db, key) is False  # already done

    assert BED.encode() not in _all_bytes(data, "historian.sqlite")
    assert not (data / "historian.sqlite-wal").exists()
    after = HistorianReader(db).query(["icu.hr"], 0, time.time() + 1)
    assert list(after["icu.hr"].value) == list(before["icu.hr"].value) and len(after["icu.hr"].value) == 50
    con = atrest.connect(db, readonly=True)
    assert con.execute("PRAGMA user_version").fetchone()[0] == version_before
    con.close()
    # and it keeps working as a historian: new samples land encrypted
    _write_history(db, n=5)
    assert len(HistorianReader(db).query(["icu.hr"], 0, time.time() + 1)["icu.hr"].value) == 55
    assert BED.encode() not in _all_bytes(data, "historian.sqlite")


def test_alarm_store_is_encrypted_in_an_encrypted_folder(tmp_path: Path) -> None:
    from app.core.alarms.store import AlarmStore, read_states

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    atrest.enable(data)
    store = AlarmStore(data / "alarms.sqlite")
    store.put_state("icu.spo2:LO", {"state": "unack_active", "value": 84.0, "label": BED})
    assert store.flush(5.0)
    store.close()
    assert b"ICU-3" not in _all_bytes(data, "alarms.sqlite")
    assert read_states(data / "alarms.sqlite")[0]["id"] == "icu.spo2:LO"


def _encrypted_data_dir(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    atrest.enable(data)
    _write_history(data / "historian.sqlite")
    return data, data / "historian.sqlite"


def _digest(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def test_missing_key_is_a_message_naming_where_and_nothing_is_touched(
    tmp_path: Path, _own_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, db = _encrypted_data_dir(tmp_path)
    before = _digest(data)
    for f in _own_key_dir.glob("*.key"):
        f.rename(tmp_path / f.name)  # the key is "lost"
    monkeypatch.setattr(atrest, "_cache", {})

    with pytest.raises(atrest.KeyMissing, match=r"key was not found in .*\.key.*Nothing was opened"):
        HistorianReader(db).check()
    env = {**os.environ, "VIGIL_KEY_DIR": str(_own_key_dir)}
    run = subprocess.run(
        [sys.executable, "-m", "app", "history", "export", "--data-dir", str(data),
         "--out", str(tmp_path / "out.csv")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 1
    assert "key was not found" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.csv").exists()

    # the station refuses to start rather than move an intact historian aside as "damaged"
    from app.station.engine import Core

    core = Core(data, window=False, plugins_enabled=False)
    with pytest.raises(atrest.KeyMissing):
        core.start()
    assert not list(data.glob("historian.sqlite.damaged-*"))
    after = _digest(data)
    assert after["historian.sqlite"] == before["historian.sqlite"]
    assert after[atrest.MARKER] == before[atrest.MARKER]


def test_a_key_of_another_folder_is_refused_as_wrong(
    tmp_path: Path, _own_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db = _encrypted_data_dir(tmp_path)
    (key_file,) = _own_key_dir.glob("*.key")
    key_file.write_text(os.urandom(32).hex() + "\n")
    monkeypatch.setattr(atrest, "_cache", {})
    with pytest.raises(atrest.WrongKey, match="not this data folder's key"):
        HistorianReader(db).check()


def test_key_goes_to_the_os_keyring_when_one_is_usable(
    tmp_path: Path, _own_key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyring backend (in memory here: this machine has no Secret Service) takes the key;
    no key file is written, and the key is read back from the keyring."""
    import keyring
    from keyring.backend import KeyringBackend

    class MemoryKeyring(KeyringBackend):
        priority = 1

        def __init__(self) -> None:
            super().__init__()
            self.entries: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.entries.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.entries[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.entries.pop((service, username), None)

    monkeypatch.delenv("VIGIL_KEYRING", raising=False)
    ring = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(ring)
    try:
        data = tmp_path / "data"
        data.mkdir(mode=0o700)
        key = atrest.enable(data)
        assert key.store == "keyring"
        assert list(ring.entries) == [(atrest.KEYRING_SERVICE, key.key_id)]
        assert not _own_key_dir.exists() or not list(_own_key_dir.iterdir())
        _write_history(data / "historian.sqlite")
        monkeypatch.setattr(atrest, "_cache", {})
        rows = HistorianReader(data / "historian.sqlite").query(["icu.hr"], 0, time.time() + 1)
        assert len(rows["icu.hr"].value) == 50
        ring.entries.clear()
        monkeypatch.setattr(atrest, "_cache", {})
        with pytest.raises(atrest.KeyMissing, match="OS keyring"):
            HistorianReader(data / "historian.sqlite").check()
    finally:
        keyring.set_keyring(previous)


def test_vigil_keyring_0_keeps_the_key_in_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring

    monkeypatch.setenv("VIGIL_KEYRING", "0")
    monkeypatch.setattr(keyring, "get_keyring", lambda: pytest.fail("the keyring was asked"))
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    assert atrest.enable(data).store == "file"


def test_key_folder_inside_the_data_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    monkeypatch.setenv("VIGIL_KEY_DIR", str(data / "keys"))
    with pytest.raises(atrest.AtRestError, match="inside the data folder"):
        atrest.enable(data)
    assert not (data / atrest.MARKER).exists()


def test_historian_writer_overwrites_deleted_content(tmp_path: Path) -> None:
    """secure_delete: values removed by retention do not linger in free pages."""
    from app.core.historian.schema import connect_writer

    con = connect_writer(tmp_path / "h.sqlite")
    try:
        assert con.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        con.close()
