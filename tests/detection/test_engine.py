"""The live engine: rows per poll cycle, GOOD only, scored in batches, one alarm per episode,
models journaled and checked, a failing detector contained."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from app.core.detection import DetectionEngine, JournalProvenance, ModelRefused, detector_class
from app.core.historian import Historian
from app.core.journal import Journal
from app.core.model import Quality, Sample

from .conftest import TAGS, AlarmRecorder, plant_rows

T0 = 1_700_000_000.0


def samples(rows: np.ndarray, t_start: float, bad: dict[int, str] | None = None) -> list[list[Sample]]:
    """One poll (list of samples sharing a timestamp) per row; ``bad`` marks row -> tag BAD_COMM."""
    polls = []
    for i, row in enumerate(rows):
        t = t_start + i
        polls.append([
            Sample(tag, None, Quality.BAD_COMM, t) if bad and bad.get(i) == tag
            else Sample(tag, float(v), Quality.GOOD, t)
            for tag, v in zip(TAGS, row, strict=True)
        ])
    return polls


def journal_events(journal: Journal, kind: str) -> list[dict]:
    journal.flush()
    con = sqlite3.connect(journal.dir / "journal.sqlite")
    try:
        return [json.loads(b) for (b,) in con.execute("SELECT body FROM events WHERE kind=?", (kind,))]
    finally:
        con.close()


class CountingZ(detector_class("robust_z")):  # type: ignore[misc]
    """The real robust z detector, counting how often (and with how many rows) it is called."""

    calls: list[int] = []

    def score(self, batch):
        CountingZ.calls.append(len(batch))
        return super().score(batch)


def test_rows_are_scored_in_batches_and_a_fault_is_one_alarm_naming_the_tag(engine, journal) -> None:
    eng, rec = engine
    eng.detector_class = lambda name: CountingZ
    CountingZ.calls = []
    data = plant_rows(700, seed=3, fault_from=500)
    info = eng.learn_rows("dev", TAGS, data[:300], detector="robust_z", window=(T0, T0 + 299))
    for poll in samples(data[300:600], T0 + 300):
        eng.on_samples(poll)
    eng.flush()
    assert sum(CountingZ.calls) == 300 and max(CountingZ.calls) == 5  # never one row per call
    assert len(CountingZ.calls) <= 300 // 5 + 1
    # one episode: raised once, then at most re-explained at a new peak (never cleared/re-raised)
    raised = rec.calls[0]
    assert all(c["active"] for c in rec.calls)
    assert raised["active"] and raised["source"] == "dev" and raised["target"] == "dev"
    assert "vibration" in raised["explanation"] and "high" in raised["explanation"]
    [body] = journal_events(journal, "model.trained")
    assert body["sha256"] == info.sha256 and body["training"] == {"rows": 300, "t0": T0, "t1": T0 + 299}
    assert body["detector"] == "robust_z" and body["tags"] == TAGS and body["threshold"] == info.threshold


def test_fault_clears_once_the_plant_is_back_to_normal(engine) -> None:
    eng, rec = engine
    data = plant_rows(1000, seed=4)
    eng.learn_rows("dev", TAGS, data[:300], detector="robust_z")
    faulty = data[300:].copy()
    faulty[100:200, 3] += 0.5  # a 100-row episode, then normal again
    for poll in samples(faulty, T0):
        eng.on_samples(poll)
    eng.flush()
    # an active alarm may be re-explained (same state, new text); the state changes only twice
    states = [c["active"] for c in rec.calls]
    changes = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
    assert changes == [True, False]
    assert "vibration" in rec.calls[0]["explanation"]
    assert "back within" in rec.calls[-1]["explanation"]


def test_bad_quality_rows_are_skipped_not_scored(engine) -> None:
    eng, rec = engine
    eng.detector_class = lambda name: CountingZ
    CountingZ.calls = []
    data = plant_rows(400, seed=5)
    eng.learn_rows("dev", TAGS, data[:300], detector="robust_z")
    broken = data[300:].copy()
    broken[::10, 1] = 1e6  # a wild value, but only in samples whose quality is BAD
    bad = {i: "dev.pressure" for i in range(0, 100, 10)}
    for poll in samples(broken, T0, bad=bad):
        eng.on_samples(poll)
    eng.flush()
    [status] = eng.groups()
    assert status.rows_scored == 90 and status.rows_skipped == 10 and sum(CountingZ.calls) == 90
    assert rec.calls == []


def test_learning_from_the_historian_uses_good_rows_only(engine, tmp_path: Path, journal) -> None:
    eng, _ = engine
    h = Historian(tmp_path / "historian.sqlite", retention_days=0)  # T0 is years ago: keep it
    h.start()
    try:
        data = plant_rows(300, seed=6)
        for poll in samples(data, T0, bad={7: "dev.flow", 8: "dev.current"}):
            h.on_samples(poll)
        h.flush()
        info = eng.learn_history("dev", TAGS, h, T0, T0 + 299, detector="pca_t2q")
    finally:
        h.close()
    assert info.training == {"rows": 298, "t0": T0, "t1": T0 + 299}
    assert journal_events(journal, "model.trained")[0]["training"]["rows"] == 298


def test_load_model_needs_the_journal_to_vouch(engine, journal, tmp_path: Path) -> None:
    eng, _ = engine
    info = eng.learn_rows("dev", TAGS, plant_rows(300), detector="pca_t2q")
    eng.load_model("dev", info.path)  # journaled: accepted
    assert journal_events(journal, "model.loaded")[0]["sha256"] == info.sha256
    data = bytearray(info.path.read_bytes())
    data[-100] ^= 0xFF
    info.path.write_bytes(bytes(data))
    other = DetectionEngine(on_anomaly=AlarmRecorder(), provenance=JournalProvenance(journal),
                            models_dir=tmp_path / "models")
    try:
        with pytest.raises(ModelRefused, match="not recorded"):
            other.load_model("dev", info.path)
        assert other.groups() == []
    finally:
        other.close()


def test_a_raising_detector_is_counted_not_propagated(engine) -> None:
    eng, rec = engine

    class Broken(detector_class("robust_z")):  # type: ignore[misc]
        def score(self, batch):
            raise RuntimeError("plugin bug")

    eng.detector_class = lambda name: Broken
    eng.learn_rows("dev", TAGS, plant_rows(300), detector="robust_z")
    for poll in samples(plant_rows(20, seed=9), T0):
        eng.on_samples(poll)  # must not raise
    eng.flush()
    [status] = eng.groups()
    assert status.errors == 4 and "plugin bug" in status.last_error and rec.calls == []
