"""Every built-in detector: causal, batch-independent, saves/loads exactly, finds a fault and
names the tag, refuses unusable history with a message."""

from __future__ import annotations

import re

import numpy as np
import pytest

from app.core.detection import detector_class
from app.core.detection.store import decode_model, encode_model
from app.sdk.detector import AlarmLatch, Detector, DetectorError, top_tags

from .conftest import BUILTINS, TAGS, plant_rows

TRAIN = 300


def trained(name: str, seed: int = 0) -> Detector:
    """Trained on the first TRAIN rows of ``plant_rows(..., seed)``, so streaming ``[TRAIN:]`` of
    the same seed continues the same plant."""
    det = detector_class(name)()
    det.fit(plant_rows(TRAIN, seed=seed), TAGS)
    return det


def stream(det: Detector, rows: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores, contributions and latched alarm of ``rows`` fed in ``batch``-row calls."""
    latch = AlarmLatch.for_state(det.get_state())
    s, c, a = [], [], []
    for i in range(0, len(rows), batch):
        out = det.score(rows[i:i + batch])
        s.append(out.score)
        c.append(out.contributions)
        a.append(latch.update(out.score))
    return np.concatenate(s), np.vstack(c), np.concatenate(a)


@pytest.mark.parametrize("name", BUILTINS)
def test_cutting_the_input_after_row_k_changes_nothing_at_or_before_k(name: str) -> None:
    rows = plant_rows(TRAIN + 200, seed=1, fault_from=TRAIN + 100)[TRAIN:]
    full = stream(trained(name, seed=1), rows, batch=7)
    for k in (0, 13, 99, 100, 150):
        scores, contrib, alarm = stream(trained(name, seed=1), rows[: k + 1], batch=7)
        # BLAS may round the last bit differently for a different number of rows; a peek at
        # the future would change values far beyond that
        np.testing.assert_allclose(full[0][: k + 1], scores, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(full[1][: k + 1], contrib, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(full[2][: k + 1], alarm)


@pytest.mark.parametrize("name", BUILTINS)
def test_batch_boundaries_do_not_change_scores(name: str) -> None:
    rows = plant_rows(TRAIN + 120, seed=2, fault_from=TRAIN + 60)[TRAIN:]
    one = stream(trained(name, seed=2), rows, batch=1)
    many = stream(trained(name, seed=2), rows, batch=32)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", BUILTINS)
def test_saved_and_loaded_model_scores_identically(name: str) -> None:
    det = trained(name)
    state, _ = decode_model(encode_model(det.get_state()), "memory")
    clone = detector_class(name).from_state(state)
    rows = plant_rows(TRAIN + 80, seed=3, fault_from=TRAIN + 40)[TRAIN:]
    a, b = stream(det, rows, 8), stream(clone, rows, 8)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert clone.threshold == det.threshold and clone.tags == det.tags


@pytest.mark.parametrize("name", BUILTINS)
def test_a_step_fault_is_alarmed_and_the_faulty_tag_named(name: str) -> None:
    det = trained(name)
    rows = plant_rows(TRAIN + 300, seed=0, fault_from=TRAIN + 200)[TRAIN:]
    _, contrib, alarm = stream(det, rows, 5)
    assert not alarm[:200].any(), "false alarm on normal data"
    assert alarm[200:230].any(), "fault not alarmed within 30 rows"
    first = 200 + int(np.flatnonzero(alarm[200:])[0])
    assert top_tags(contrib[first], TAGS)[0] == "dev.vibration"


@pytest.mark.parametrize("name", BUILTINS)
def test_unusable_history_is_refused_with_a_message(name: str) -> None:
    cls = detector_class(name)
    bad = plant_rows(100)
    bad[10, 2] = np.nan
    with pytest.raises(DetectorError, match=r"dev\.current"):
        cls().fit(bad, TAGS)
    with pytest.raises(DetectorError, match="at least"):
        cls().fit(plant_rows(5), TAGS)
    with pytest.raises(DetectorError, match="columns"):
        cls().fit(plant_rows(100), TAGS[:3])
    with pytest.raises(DetectorError, match="not trained"):
        cls().score(plant_rows(3))
    with pytest.raises(DetectorError, match="unknown parameter"):
        cls(no_such_knob=1)


def test_constant_training_column_does_not_blow_up() -> None:
    rows = plant_rows(200)
    rows[:, 1] = 3.0  # a tag that never moved while learning
    for name in BUILTINS:
        det = detector_class(name)()
        det.fit(rows, TAGS)
        assert np.isfinite(det.score(plant_rows(20, seed=5)).score).all()


def test_latch_debounces_holds_and_clears_once_per_episode() -> None:
    latch = AlarmLatch(threshold=1.0, on_rows=3, off_rows=4, clear_ratio=0.5)
    s = np.array([2, 0, 2, 2, 2, 0.9, 0.9, 0.4, 2, 0.4, 0.4, 0.4, 0.4, 0.4, 2, 0.1])
    got = latch.update(s).astype(int).tolist()
    # one spike ignored; raised on the 3rd row in a row; 0.9 is above the clear level; the
    # 2 after three low rows restarts the count; cleared after 4 low rows; lone 2 ignored
    assert got == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]


def test_top_tags_drops_noise_and_handles_no_signal() -> None:
    assert top_tags(np.array([0.0, 9.0, 0.5, 6.0]), TAGS) == ["dev.pressure", "dev.vibration"]
    assert top_tags(np.zeros(4), TAGS) == []


@pytest.mark.parametrize("name", BUILTINS)
def test_every_parameter_has_a_range_and_bad_values_are_refused_by_name(name: str) -> None:
    """A value outside its range must be refused when the detector is made, naming the
    parameter and the allowed values, not fail later inside numpy (alpha=-5 gave a LinAlgError)."""
    cls = detector_class(name)
    assert set(cls.param_specs) == set(cls.defaults)  # no parameter escapes validation
    cls(**cls.defaults)  # the shipped defaults are valid
    for bad in ({"alpha": -5}, {"alpha": 0}, {"alpha": "abc"}, {"alpha": ""}, {"alpha": float("nan")},
                {"margin": 0}, {"on_rows": 0}, {"on_rows": 2.5}, {"use_diff": "yes"},
                {"threshold_quantile": 1.5}, {"min_rows": True}):
        (param, value), = bad.items()
        expected = rf"parameter '{param}' must be .*, got {re.escape(repr(value))}"
        with pytest.raises(DetectorError, match=expected):
            cls(**bad)
    cls(alpha=1, on_rows=2.0, use_diff=False)  # JSON-ish values inside the range are fine
