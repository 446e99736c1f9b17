"""Tests for the template plugin, through a real plugin host (as the workstation loads it)."""

from pathlib import Path

import numpy as np

PLUGIN = Path(__file__).resolve().parents[1]


def test_detector_flags_an_outlier(plugin_host):
    detector = plugin_host(PLUGIN).detector_factory("my_zscore")(k=5.0)
    rng = np.random.default_rng(0)
    detector.fit(rng.normal(20.0, 2.0, size=(300, 2)), ["tank.level", "tank.temp"])
    scores = detector.score(np.array([[20.5, 19.0], [20.0, 45.0]])).score
    assert scores[0] < detector.threshold < scores[1]


def test_state_round_trip(plugin_host):
    cls = plugin_host(PLUGIN).detector_class("my_zscore")
    rng = np.random.default_rng(1)
    a = cls()
    a.fit(rng.normal(0, 1, size=(100, 3)), ["a.x", "a.y", "a.z"])
    b = cls.from_state(a.get_state())
    batch = rng.normal(0, 1, size=(10, 3))
    assert np.allclose(a.score(batch).score, b.score(batch).score)
