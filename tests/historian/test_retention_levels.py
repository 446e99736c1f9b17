"""Retention per level: configured per plant, bounded per pass, refused on a forward clock jump,
and old ranges still answered from the coarser levels once the raw samples are gone."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.errors import ConfigError
from app.core.historian import Historian
from app.core.historian.store import effective_retention
from app.core.model import Quality, Sample
from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import ProfileLibrary

T0 = 1_800_000_000.0
DAY = 86400.0


def _fill(h: Historian, t0: float, days: float, step: float, tag: str = "a.x") -> np.ndarray:
    t = t0 + np.arange(0.0, days * DAY, step)
    for k in range(0, len(t), 5000):
        chunk = enumerate(t[k : k + 5000], k)
        h.on_samples([Sample(tag, float(i % 97), Quality.GOOD, float(x)) for i, x in chunk])
        assert h.flush(30.0)
    return t


def _raw_span(path: Path) -> tuple[float, float, int]:
    with closing(sqlite3.connect(path)) as conn:
        lo, hi, n = conn.execute("SELECT MIN(t), MAX(t), COUNT(*) FROM samples").fetchone()
    return lo, hi, n


def test_the_plant_file_sets_retention_per_level() -> None:
    lib = ProfileLibrary()
    assert lib.add_folder(device_profiles_dir()) == []
    pid = lib.ids()[0]
    text = (f'[historian]\nraw_days = 7\nrollup_1m_days = 365\n[[devices]]\nname = "a"\n'
            f'profile = "{pid}"\nhost = "h"\n')
    plant = parse_plant(text.encode(), "site/plant.toml", lib)
    kwargs = plant.historian.historian_kwargs()
    assert kwargs["retention_days"] == 7
    assert kwargs["rollup_retention_days"][60] == 365 and kwargs["rollup_retention_days"][3600] == 0
    bad = f'[historian]\nraw_days = -1\n[[devices]]\nname = "a"\nprofile = "{pid}"\nhost = "h"\n'
    with pytest.raises(ConfigError) as ei:
        parse_plant(bad.encode(), "site/plant.toml", lib)
    assert "raw_days" in str(ei.value) and "site/plant.toml" in str(ei.value)


def test_a_coarser_level_never_expires_before_a_finer_one() -> None:
    got = effective_retention(30, {10: 7, 60: 365, 600: 100, 3600: 0})
    assert got == {10: 30, 60: 365, 600: 365, 3600: 0}
    assert effective_retention(0, {10: 7, 60: 365, 600: 100, 3600: 50}) == {10: 0, 60: 0, 600: 0, 3600: 0}


def test_a_forward_clock_jump_deletes_nothing(db_path: Path) -> None:
    now = [T0 + 3 * DAY]
    h = Historian(db_path, retention_days=1.0, retention_check_s=3600, clock=lambda: now[0])
    h.start()
    _fill(h, T0, 3, 60.0)
    assert h.catch_up(30.0) and h.prune(30.0)  # an ordinary pass first
    before = _raw_span(db_path)
    deleted = (h.stats().retention_deleted, h.stats().rollups_deleted)
    now[0] = T0 + 400 * DAY  # the clock jumps more than a year ahead
    assert h.prune(30.0)
    h.close()
    assert _raw_span(db_path) == before
    assert (h.stats().retention_deleted, h.stats().rollups_deleted) == deleted
    assert "refused" in (h.stats().last_error or "") and "jumped forward" in (h.stats().last_error or "")


def test_a_pass_deletes_at_most_its_share_of_the_span(db_path: Path) -> None:
    """Ten days stored, retention shortened to one: nine days expire, but one pass takes at most
    10 % of the stored span; the following passes work it off."""
    now = T0 + 10 * DAY
    h = Historian(
        db_path, retention_days=1.0, retention_check_s=3600, clock=lambda: now, retention_max_share=0.1
    )
    h.start()
    t = _fill(h, T0, 10, 60.0)
    assert h.catch_up(60.0)
    assert h.prune(30.0)
    lo, _hi, _n = _raw_span(db_path)
    assert lo <= T0 + 0.1 * (t[-1] - T0) + 60 and lo > T0  # one share gone, no more
    for _ in range(60):  # bounded: each pass takes a share of what is left
        assert h.prune(30.0)
        if _raw_span(db_path)[0] >= now - DAY:
            break
    h.close()
    lo, hi, _n = _raw_span(db_path)
    assert lo >= now - DAY and hi == t[-1]


def test_old_ranges_are_answered_from_the_levels_that_remain(db_path: Path) -> None:
    now = T0 + 5 * DAY
    h = Historian(
        db_path,
        retention_days=1.0,
        rollup_retention_days={10: 2.0, 60: 3.0, 600: 3.0, 3600: 0.0},
        retention_max_share=1.0,
        retention_check_s=3600,
        clock=lambda: now,
    )
    h.start()
    t = _fill(h, T0, 5, 30.0)
    assert h.catch_up(60.0)
    for _ in range(10):
        assert h.prune(30.0)
    h.close()
    with closing(sqlite3.connect(db_path)) as conn:
        oldest = {lv: b for lv, b in conn.execute("SELECT level, MIN(bucket) FROM rollups GROUP BY level")}
    assert _raw_span(db_path)[0] >= now - DAY
    assert oldest[10] >= now - 2 * DAY and oldest[60] >= now - 3 * DAY
    assert oldest[3600] == T0  # kept forever
    # the first day now lives only in the hourly rollups: a trend of it still shows every hour
    s = h.query(["a.x"], T0, T0 + DAY, max_points=200)["a.x"]
    assert len(s) > 0 and np.all((s.t >= T0) & (s.t < T0 + DAY))
    assert s.value.max() == 96.0 and s.value.min() == 0.0
    assert set(np.floor((s.t - T0) / 3600).astype(int)) == set(range(24))
    assert s.t[0] == t[0]
