"""Model files encrypted at rest (#17): a trained detector model in an encrypted data folder
is sealed with AES-GCM under the folder's key; the journal's provenance hash (of the plain
model) still vouches for it; a plain model left by an older Vigil is sealed at the next start
and still loads; a missing key or a changed file gives a clear message and changes nothing.
Real scikit-learn fits through `vigil detect train`, real journal, real station start."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core import atrest
from app.core.detection import journaled_model_hashes
from app.core.detection.store import ModelError, load_model, read_model_bytes, sha256_bytes
from app.core.journal import read_events
from app.station.engine import Core


@pytest.fixture(autouse=True)
def _own_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    keys = tmp_path / "keys"
    monkeypatch.setenv("VIGIL_KEY_DIR", str(keys))
    monkeypatch.setenv("VIGIL_KEYRING", "0")
    monkeypatch.setattr(atrest, "_cache", {})
    return keys


def _train(tmp_path: Path, data: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    rng = np.random.default_rng(3)
    src = tmp_path / "normal.csv"
    with open(src, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["datetime", "flow", "pressure", "current"])
        for i in range(300):
            stamp = f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}"
            w.writerow([stamp, *(f"{v:.5f}" for v in rng.normal(size=3))])
    rc = main(["detect", "train", str(src), "--detector", "pca_t2q", "--group", "dev",
               "--data-dir", str(data)])
    assert rc == 0, capsys.readouterr().err
    (model,) = (data / "models").glob("*.npz")
    return model


def test_a_model_trained_in_an_encrypted_folder_is_sealed_and_vouched_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    atrest.enable(data)
    model = _train(tmp_path, data, capsys)
    raw = model.read_bytes()
    assert atrest.sealed(raw) and b"__meta__" not in raw and b"pca_t2q" not in raw and b"flow" not in raw
    plain = read_model_bytes(model)
    assert plain.startswith(b"PK")  # the .npz inside
    sha = sha256_bytes(plain)
    assert sha in journaled_model_hashes(data / "journal" / "journal.sqlite")
    assert load_model(model, lambda h: h == sha).sha256 == sha
    capsys.readouterr()
    assert main(["detect", "list", "--models", "--data-dir", str(data)]) == 0
    assert "[journaled]" in capsys.readouterr().out


def test_a_plain_model_is_sealed_at_the_next_start_and_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    model = _train(tmp_path, data, capsys)  # no atrest.json yet: the plain file an older Vigil left
    plain = model.read_bytes()
    assert plain.startswith(b"PK")
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(tmp_path / "no-user-plugins"))
    core = Core(data, window=False)
    core.start()
    try:
        core.journal.flush(timeout=10.0)
        assert atrest.sealed(model.read_bytes())
        assert read_model_bytes(model) == plain
        events = read_events(data / "journal")
        migrated = [e for e in events if e.kind == "atrest.migrated" and e.body["path"] == str(model)]
        assert migrated and migrated[0].critical
        loaded = [e for e in events if e.kind == "model.loaded"]
        assert [e.body["sha256"] for e in loaded] == [sha256_bytes(plain)]
        assert not [e for e in events if e.kind == "model.refused"]
    finally:
        core.stop()


def test_a_missing_key_or_a_changed_file_is_a_clear_message_and_nothing_is_lost(
    tmp_path: Path, _own_keys: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    atrest.enable(data)
    model = _train(tmp_path, data, capsys)
    sealed = model.read_bytes()
    sha = sha256_bytes(read_model_bytes(model))

    away = tmp_path / "keys-away"
    shutil.move(str(_own_keys), away)
    monkeypatch.setattr(atrest, "_cache", {})
    with pytest.raises(ModelError, match=r"key was not found in .*keys"):
        load_model(model, lambda h: True)
    capsys.readouterr()
    assert main(["detect", "list", "--models", "--data-dir", str(data)]) == 0
    assert "key was not found" in capsys.readouterr().out
    assert model.read_bytes() == sealed  # untouched

    shutil.move(str(away), _own_keys)
    monkeypatch.setattr(atrest, "_cache", {})
    assert load_model(model, lambda h: h == sha).sha256 == sha

    changed = bytearray(sealed)
    changed[-5] ^= 0x01
    model.write_bytes(bytes(changed))
    with pytest.raises(ModelError, match="cannot be decrypted"):
        load_model(model, lambda h: True)
    assert model.read_bytes() == bytes(changed)
