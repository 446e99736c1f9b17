"""Model files: no pickle, SHA-256 in the real journal, anything else refused with a message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.detection import (
    JournalProvenance,
    ModelError,
    ModelRefused,
    detector_class,
    journaled_model_hashes,
    load_model,
    save_model,
)
from app.core.journal import Journal
from app.sdk.detector import DetectorState

from .conftest import TAGS, plant_rows


def trained_state(name: str = "pca_t2q") -> DetectorState:
    det = detector_class(name)()
    det.fit(plant_rows(200), TAGS)
    return det.get_state()


def test_journaled_model_loads_after_restart_and_scores_the_same(tmp_path: Path) -> None:
    state = trained_state("isolation_forest")
    path = tmp_path / "models" / "m.npz"
    sha = save_model(state, path)
    with Journal.open(tmp_path / "journal") as j:
        JournalProvenance(j).record("tester", {"sha256": sha, "detector": state.detector})
    # a new process: nothing in memory, only the journal on disk vouches
    with Journal.open(tmp_path / "journal") as j:
        loaded = load_model(path, JournalProvenance(j).vouches)
    assert loaded.sha256 == sha and loaded.state.tags == TAGS
    a = detector_class("isolation_forest").from_state(state).score(plant_rows(50, seed=4)).score
    b = detector_class("isolation_forest").from_state(loaded.state).score(plant_rows(50, seed=4)).score
    np.testing.assert_array_equal(a, b)


def test_tampered_model_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    sha = save_model(trained_state(), path)
    with Journal.open(tmp_path / "journal") as j:
        prov = JournalProvenance(j)
        prov.record("tester", {"sha256": sha})
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01  # one flipped bit somewhere in the arrays
        path.write_bytes(bytes(data))
        with pytest.raises(ModelRefused, match=r"m\.npz.*not recorded by any model\.trained"):
            load_model(path, prov.vouches)


def test_model_trained_elsewhere_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    save_model(trained_state(), path)  # never journaled
    with Journal.open(tmp_path / "journal") as j, pytest.raises(ModelRefused):
        load_model(path, JournalProvenance(j).vouches)


def test_vouched_but_malformed_file_is_a_message_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "junk.npz"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelError, match=r"junk\.npz: not a readable model file"):
        load_model(path, lambda _sha: True)
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "missing.npz", lambda _sha: True)


def test_object_arrays_cannot_be_saved(tmp_path: Path) -> None:
    state = trained_state()
    state.arrays["evil"] = np.array([object()], dtype=object)
    with pytest.raises(ModelError, match="evil"):
        save_model(state, tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_pickled_payload_is_never_unpickled(tmp_path: Path) -> None:
    """A file whose arrays need pickle fails to load even when vouched for."""
    import io
    import json

    buf = io.BytesIO()
    meta = json.dumps({"format": "vigil-detector-model", "format_version": 1, "detector": "x",
                       "tags": [], "threshold": 1.0, "params": {}}).encode()
    np.savez(buf, __meta__=np.frombuffer(meta, dtype=np.uint8),
             a_payload=np.array([{"boom": 1}], dtype=object))
    path = tmp_path / "p.npz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match=r"p\.npz"):
        load_model(path, lambda _sha: True)


def test_unreadable_journal_vouches_for_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "journal.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    assert journaled_model_hashes(bad) == set()
