"""The live monitor: drift absorbed but faults not, a bounded severity, explanations fixed at an
episode's peak, batch-invariant streaming, and state that survives a restart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.detection import DetectionEngine, JournalProvenance, detector_class
from app.core.detection.monitor import (
    DRIFT_DEFAULTS,
    Monitor,
    NormalRange,
    recorded_drift,
    severity,
    severity_text,
)
from app.core.journal import Journal
from app.core.model import Quality, Sample
from app.sdk import DetectorError, ParamSpec, check_detector_params
from app.sdk.detector import AlarmLatch

from .conftest import TAGS, AlarmRecorder, plant_rows

T0 = 1_700_000_000.0
VIB_SIGMA = 0.01  # plant_rows: vibration noise


def monitor(train: np.ndarray, detector: str = "pca_t2q", **drift: float) -> Monitor:
    det = detector_class(detector)()
    det.fit(train, TAGS)
    return Monitor(det, AlarmLatch.for_state(det.get_state()), NormalRange.from_rows(train),
                   units={"dev.vibration": "g"}, drift=drift or None)


def stream(mon: Monitor, rows: np.ndarray, batch: int = 10) -> tuple[np.ndarray, np.ndarray]:
    sev, alarm = [], []
    for i in range(0, len(rows), batch):
        r = mon.process(rows[i:i + batch], T0 + np.arange(i, min(i + batch, len(rows))))
        sev.append(r.severity)
        alarm.append(r.alarm)
    return np.concatenate(sev), np.concatenate(alarm)


def test_severity_is_bounded_with_the_threshold_at_50() -> None:
    s = severity(np.array([0.0, 0.5, 1.0, 2.0, 5477.0, np.inf]), 2.0)
    assert s[0] == 0 and s[2] == pytest.approx(33.33, abs=0.01) and s[3] == 50.0
    assert np.all(np.diff(s) > 0) and np.all(s <= 100.0)
    assert severity_text(99.98) == "severity 99"  # a finite score never reads as 100
    assert severity_text(float(s[3])) == "severity 50"


def drifting(n: int, seed: int, ramp_sigmas: float) -> np.ndarray:
    """plant_rows with the vibration level creeping up by ``ramp_sigmas`` sigma over n rows."""
    x = plant_rows(n, seed=seed)
    x[:, 3] += np.linspace(0.0, ramp_sigmas * VIB_SIGMA, n)
    return x


def test_slow_drift_is_absorbed_but_a_fault_on_top_of_it_still_alarms() -> None:
    data = drifting(4600, seed=1, ramp_sigmas=15.0)
    train, live = data[:600], data[600:].copy()
    _, frozen = stream(monitor(train, drift_s=0), live)
    mon = monitor(train)
    _, guarded = stream(mon, live[:3000])
    assert frozen[:3000].mean() > 0.3, "the drift should alarm a frozen model (else no test)"
    assert guarded.sum() == 0, "slow drift was not absorbed"
    live[3000:, 3] += 15 * VIB_SIGMA  # a step fault on top of the drifted level
    _, after = stream(mon, live[3000:])
    assert after[:60].any(), "the drift guard absorbed a fault"
    assert mon.history or mon.episode is not None


def smooth_sensor_rows(n: int, seed: int) -> np.ndarray:
    """plant_rows with the current replaced by a thermocouple-like tag: a slow wander of about
    0.6 over a window and a jitter of only 0.005 between rows."""
    x = plant_rows(n, seed=seed)
    rng = np.random.default_rng(seed + 100)
    wander = np.zeros(n)
    for i in range(1, n):
        wander[i] = wander[i - 1] * (1 - 1 / 300) + 0.08 * rng.standard_normal()
    x[:, 2] = 30 + wander + 0.005 * rng.standard_normal(n)
    return x


def first_alarm(mon: Monitor, rows: np.ndarray) -> int | None:
    _, alarm = stream(mon, rows)
    hits = np.flatnonzero(alarm)
    return int(hits[0]) if len(hits) else None


@pytest.mark.parametrize("seed", [0, 3])
def test_a_smooth_sensor_running_away_is_not_followed(seed: int) -> None:
    """A smooth tag's standard deviation over the training window is mostly slow wander, so a
    rate limit in standard deviations alone lets the guard follow it running away (about
    100 sigma/h here); the limit in row-to-row noise stops that."""
    data = smooth_sensor_rows(3000, seed)
    train, live = data[:1200], data[1200:].copy()
    live[300:, 2] += 0.02 * np.arange(len(live) - 300)  # 72 units/h: 14,000 x its jitter
    capped = first_alarm(monitor(train), live)
    sigma_only = first_alarm(monitor(train, max_rate_noise=0.0), live)
    assert capped is not None and capped > 300, "the ramp was not alarmed (or alarmed early)"
    assert sigma_only is None or sigma_only - capped >= 200, (
        f"the noise limit made no difference: {capped} vs {sigma_only} rows")


def test_the_drift_settings_a_model_was_trained_with_come_back_with_it(engine) -> None:
    eng, _ = engine
    info = eng.learn_rows("dev", TAGS, plant_rows(400, seed=5), detector="pca_t2q")
    eng.load_model("dev", info.path)
    [group] = eng._groups.values()
    assert group.monitor.drift_settings == DRIFT_DEFAULTS
    # a model saved before the noise limit existed keeps working as it did: limit off
    old = {k: v for k, v in DRIFT_DEFAULTS.items() if k not in ("max_rate_noise", "alarm_follow")}
    assert recorded_drift(old) == {**old, "max_rate_noise": 0.0, "alarm_follow": 0.0}
    assert recorded_drift(None) is None


def test_the_result_does_not_depend_on_batch_boundaries() -> None:
    data = drifting(1600, seed=2, ramp_sigmas=10.0)
    data[1300:, 3] += 8 * VIB_SIGMA  # a fault in vibration
    a_sev, a_alarm = stream(monitor(data[:400]), data[400:], batch=10)
    b_sev, b_alarm = stream(monitor(data[:400]), data[400:], batch=7)
    c_sev, c_alarm = stream(monitor(data[:400]), data[400:], batch=1)
    np.testing.assert_allclose(a_sev, b_sev)
    np.testing.assert_allclose(a_sev, c_sev)
    assert (a_alarm == b_alarm).all() and (a_alarm == c_alarm).all() and a_alarm.any()


def test_an_episode_keeps_the_tags_of_its_peak_with_value_range_and_direction() -> None:
    data = plant_rows(1200, seed=3)
    mon = monitor(data[:400], detector="robust_z")
    live = data[400:].copy()
    live[200:400, 3] += 12 * VIB_SIGMA  # vibration far too high: the peak
    live[330:400, 1] -= 0.15  # later, pressure a little low too (smaller than the peak)
    changes = []
    for i in range(0, len(live), 10):
        changes += mon.process(live[i:i + 10], T0 + np.arange(i, i + 10)).changes
    kinds = [c.kind for c in changes]
    assert kinds[0] == "raise" and kinds[-1] == "clear" and kinds.count("raise") == 1
    final = changes[-1].episode
    assert final.tags[0] == "dev.vibration"
    text = final.text
    assert text.startswith(f"peak severity {final.peak_severity:.0f}: vibration ")
    assert " g, normal " in text and text.split(";")[0].endswith(", high")
    lo, hi = (float(v) for v in text.split("normal ")[1].split(" g")[0].split("–"))
    assert lo < 0.2 < hi  # the training range of a 0.2 g signal
    assert final.peak_severity == max(c.episode.peak_severity for c in changes)


def samples(rows: np.ndarray, t_start: float) -> list[list[Sample]]:
    return [[Sample(tag, float(v), Quality.GOOD, t_start + i) for tag, v in zip(TAGS, row, strict=True)]
            for i, row in enumerate(rows)]


def test_latch_and_episodes_survive_a_restart(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "journal")
    try:
        data = plant_rows(900, seed=4)
        faulty = data[300:].copy()
        faulty[100:, 3] += 10 * VIB_SIGMA
        rec = AlarmRecorder()
        eng = DetectionEngine(on_anomaly=rec, provenance=JournalProvenance(journal),
                              models_dir=tmp_path / "models")
        info = eng.learn_rows("dev", TAGS, data[:300], detector="robust_z")
        for poll in samples(faulty[:200], T0):
            eng.on_samples(poll)
        eng.close()  # a shutdown in the middle of the episode
        assert rec.calls[0]["active"] and all(c["active"] for c in rec.calls)

        rec2 = AlarmRecorder()
        eng2 = DetectionEngine(on_anomaly=rec2, provenance=JournalProvenance(journal),
                               models_dir=tmp_path / "models")
        eng2.load_model("dev", info.path)
        [status] = eng2.groups()
        assert status.alarm and status.peak_severity is not None and status.peak_severity > 50
        assert "vibration" in status.explanation
        normal = data[500:800]
        for poll in samples(normal, T0 + 300):
            eng2.on_samples(poll)
        eng2.close()
        # no second raise for the same episode; it clears once the plant is normal again
        assert [c["active"] for c in rec2.calls] == [False]
        assert eng2.episodes("dev")[-1]["end_t"] is not None
    finally:
        journal.close()


class Undeclared:
    """A third-party detector that declares no parameter ranges."""

    name = "undeclared"

    def __init__(self, **params: float):
        self.params = params


class Declared(Undeclared):
    param_specs = {"alpha": ParamSpec(float, 0.0, 1.0, lo_open=True)}


def test_the_host_checks_declared_parameter_ranges_for_plugins_too(engine) -> None:
    check_detector_params(Declared, {"alpha": 0.5}, "declared")
    with pytest.raises(DetectorError, match=r"'alpha' must be a number in \(0, 1\], got 5"):
        check_detector_params(Declared, {"alpha": 5}, "declared")
    with pytest.raises(DetectorError, match="unknown parameter"):
        check_detector_params(Declared, {"beta": 1}, "declared")
    with pytest.raises(DetectorError, match="declares no parameters"):
        check_detector_params(Undeclared, {"alpha": 0.5}, "undeclared")
    eng, _ = engine
    eng.detector_class = lambda name: Declared
    with pytest.raises(DetectorError, match="'alpha' must be"):  # refused before construction
        eng.learn_rows("dev", TAGS, plant_rows(300), detector="declared", params={"alpha": -1.0})


def warming_rows(n: int, seed: int, per_row: float) -> np.ndarray:
    """plant_rows with the current replaced by a smooth temperature (spread about 0.05, jitter
    0.005) that warms up by ``per_row`` a row after the first 1,200 rows."""
    x = plant_rows(n, seed=seed)
    rng = np.random.default_rng(seed + 200)
    wander = np.zeros(n)
    for i in range(1, n):
        wander[i] = wander[i - 1] * (1 - 1 / 100) + 0.007 * rng.standard_normal()
    warm = per_row * np.clip(np.arange(n) - 1200, 0, None)
    x[:, 2] = 30 + wander + warm + 0.005 * rng.standard_normal(n)
    return x


def test_a_smooth_tag_keeps_warming_up_during_another_tags_alarm() -> None:
    """During a vibration alarm the temperature keeps being followed (it is not to blame), so
    when the vibration is back to normal the alarm clears instead of standing on the
    temperature's warm-up. Frozen during the alarm, the warm-up keeps the alarm up."""
    data = warming_rows(4200, seed=6, per_row=2.4 / 3600)  # 2.4 units/h, under the rate limit
    train, live = data[:1200], data[1200:].copy()
    live[600:1800, 3] += 15 * VIB_SIGMA  # a 20-minute vibration fault
    follow = monitor(train)
    _, alarm = stream(follow, live)
    _, frozen = stream(monitor(train, alarm_follow=0.0), live)
    assert alarm[600:700].any() and frozen[600:700].any(), "the vibration fault was not alarmed"
    assert frozen[2000:].mean() > 0.9, "the warm-up should hold a frozen alarm (else no test)"
    assert not alarm[1900:].any(), "the alarm stood on the temperature's warm-up"
    [episode] = follow.history
    assert episode.tags[0] == "dev.vibration" and "dev.current" not in episode.tags


def test_a_smooth_tag_to_blame_is_not_followed_during_its_alarm() -> None:
    """A temperature that jumps and stays high is the alarm's cause: it is never absorbed."""
    data = warming_rows(4200, seed=7, per_row=0.0)
    train, live = data[:1200], data[1200:].copy()
    live[300:, 2] += 1.0  # +20 spreads, held for 45 minutes (the rate limit absorbs 1.0 in 20)
    mon = monitor(train)
    _, alarm = stream(mon, live)
    assert alarm[300:400].any() and alarm[-600:].all(), "the held temperature was absorbed"
    assert mon.episode is not None and mon.episode.tags[0] == "dev.current"
    assert mon.drift.smooth[2] and not mon.drift.smooth[3]
