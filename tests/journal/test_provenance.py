"""Model provenance from sealed events only (issue 16): a raw row in the file vouches for nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.detection import JournalProvenance, ModelRefused, load_model, save_model
from app.core.detection.registry import detector_class
from app.core.journal import Journal, canonical_json
from app.sdk.detector import DetectorState

from .helpers import append_forged, connect, rechain

TAGS = ["a", "b", "c"]


def state(threshold: float | None = None) -> DetectorState:
    import numpy as np

    rng = np.random.default_rng(1)
    det = detector_class("pca_t2q")()
    det.fit(rng.normal(size=(200, 3)), TAGS)
    s = det.get_state()
    if threshold is not None:
        s.threshold = threshold
    return s


def test_a_model_vouched_for_only_by_an_unsealed_row_is_refused(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    Journal.open(jdir).close()
    path = tmp_path / "evil.npz"
    sha = save_model(state(threshold=1e9), path, extra={"group": "pumps"})
    con = connect(jdir)
    append_forged(con, kind="model.trained", actor="alice",
                  body=canonical_json({"sha256": sha, "group": "pumps"}), critical=1)
    con.close()
    # read as the next start reads it, before the writer has moved the row aside
    with Journal.open(tmp_path / "other") as j:
        prov = JournalProvenance(j, db_path=jdir / "journal.sqlite",
                                 public_key=_key(jdir))
        assert not prov.vouches(sha)
        with pytest.raises(ModelRefused):
            load_model(path, prov.vouches)


def test_a_model_vouched_for_by_an_edited_old_event_is_refused(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    honest = tmp_path / "honest.npz"
    honest_sha = save_model(state(), honest, extra={"group": "pumps"})
    with Journal.open(jdir) as j:
        JournalProvenance(j).record("alice", {"sha256": honest_sha, "group": "pumps"})
        for i in range(20):
            j.append("alarm.transition", "system", {"i": i})
    evil = tmp_path / "evil.npz"
    evil_sha = save_model(state(threshold=1e9), evil, extra={"group": "pumps"})
    con = connect(jdir)
    seq = con.execute("SELECT seq FROM events WHERE kind = 'model.trained'").fetchone()[0]
    con.execute("UPDATE events SET body = ? WHERE seq = ?",
                (canonical_json({"sha256": evil_sha, "group": "pumps"}), seq))
    rechain(con, seq)  # chained again, but no signed checkpoint can cover it
    con.close()
    with Journal.open(jdir) as j:
        prov = JournalProvenance(j)
        assert not prov.vouches(evil_sha)
        with pytest.raises(ModelRefused):
            load_model(evil, prov.vouches)


def test_a_sealed_event_vouches_for_its_hash_and_its_group_only(tmp_path: Path) -> None:
    jdir = tmp_path / "journal"
    path = tmp_path / "m.npz"
    sha = save_model(state(), path, extra={"group": "pumps"})
    with Journal.open(jdir) as j:
        JournalProvenance(j).record("alice", {"sha256": sha, "group": "pumps"})
    with Journal.open(jdir) as j:  # a new process: only the sealed journal vouches
        prov = JournalProvenance(j)
        assert prov.vouches(sha) and prov.vouches_for(sha, "pumps")
        assert not prov.vouches_for(sha, "tanks")


def test_the_newest_model_is_chosen_by_journal_order_not_file_time(tmp_path: Path) -> None:
    import os

    jdir = tmp_path / "journal"
    first, second = tmp_path / "first.npz", tmp_path / "second.npz"
    sha1 = save_model(state(), first, extra={"group": "pumps"})
    sha2 = save_model(state(threshold=3.0), second, extra={"group": "pumps"})
    with Journal.open(jdir) as j:
        prov = JournalProvenance(j)
        prov.record("alice", {"sha256": sha1, "group": "pumps"})
        prov.record("alice", {"sha256": sha2, "group": "pumps"})
    os.utime(first, (4_000_000_000, 4_000_000_000))  # the older model's file looks newest
    with Journal.open(jdir) as j:
        assert JournalProvenance(j).newest_models() == {"pumps": sha2}


def _key(jdir: Path):  # type: ignore[no-untyped-def]
    from app.core.journal import load_identity

    return load_identity(jdir / "identity.json").public_key

