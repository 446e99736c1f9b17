"""``vigil history export --resolution``, ``info``, ``check`` and ``rebuild`` on a real file."""

from __future__ import annotations

import csv
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)
from app.core.historian import Historian
from app.core.model import Quality

T0 = 1_800_000_000.0
TAGS = tuple(f"pump.p{i}" for i in range(8))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Two hours of an 8-point device polled at 2 Hz, with a minute of comm loss, rolled up."""
    d = tmp_path / "data"
    d.mkdir()
    h = Historian(d / "historian.sqlite", clock=lambda: T0 + 7300, rollup_interval_s=3600)
    h.start()
    for k in range(2 * 3600 * 2):
        t = T0 + k * 0.5
        bad = 1800 <= t - T0 < 1860
        values = [None if bad else float((k + i) % 50) for i in range(len(TAGS))]
        h.on_poll("pump", t, TAGS, values, bytes([Quality.BAD_COMM if bad else Quality.GOOD] * len(TAGS)))
        if k % 2000 == 0:
            assert h.flush(10.0)
    assert h.flush(10.0) and h.catch_up(60.0)
    h.close()
    return d


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_export_per_minute_gives_counts_quality_mix_and_good_statistics(
    data_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.csv"
    args = ["history", "export", "--data-dir", str(data_dir), "--out", str(out), "--resolution", "1m"]
    assert main([*args, "--tags", "pump.p3"]) == 0
    rows = _read(out)
    assert len(rows) == 120 and {r["tag"] for r in rows} == {"pump.p3"}
    assert rows[0]["time"] == "2027-01-15T08:00:00.000Z"
    assert (rows[0]["count"], rows[0]["good"], rows[0]["bad"]) == ("120", "120", "0")
    assert (rows[0]["min"], rows[0]["max"]) == ("0", "49")
    lost = rows[30]  # 08:30: the minute of comm loss
    assert (lost["count"], lost["good"], lost["bad"]) == ("120", "0", "120")
    assert lost["mean"] == lost["min"] == lost["max"] == ""  # nothing good to average
    # the same numbers as summarising the raw export by hand
    raw = tmp_path / "raw.csv"
    assert (
        main(["history", "export", "--data-dir", str(data_dir), "--out", str(raw), "--tags", "pump.p3"]) == 0
    )
    first_minute = [float(r["value"]) for r in _read(raw) if r["time"] < "2027-01-15T08:01"]
    assert float(rows[0]["mean"]) == pytest.approx(np.mean(first_minute))


def test_export_at_1s_is_made_from_raw_samples(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "s.csv"
    args = ["history", "export", "--data-dir", str(data_dir), "--out", str(out), "--resolution", "1s"]
    assert main([*args, "--tags", "pump.p0", "--from", str(T0), "--to", str(T0 + 9.9)]) == 0
    rows = _read(out)
    assert len(rows) == 10 and all(r["count"] == "2" for r in rows)


def test_info_shows_each_level_and_a_size(data_dir: Path, capsys) -> None:
    assert main(["history", "info", "--data-dir", str(data_dir)]) == 0
    text = capsys.readouterr().out
    for level in ("raw", "10s", "1m", "10m", "1h"):
        assert f"\n{level} " in text
    assert "on disk" in text and "30 d" in text and "forever" in text


def test_check_passes_then_names_a_tampered_rollup_and_rebuild_repairs_it(data_dir: Path, capsys) -> None:
    assert main(["history", "check", "--data-dir", str(data_dir)]) == 0
    assert "rollups match" in capsys.readouterr().out
    db = data_dir / "historian.sqlite"
    with closing(sqlite3.connect(db)) as conn:  # a 1-minute row that lies
        conn.execute(
            "UPDATE rollups SET data = zeroblob(length(data)) WHERE level = 60 AND bucket = ?", (T0 + 600,)
        )
        conn.commit()
    assert main(["history", "check", "--data-dir", str(data_dir)]) == 1
    out = capsys.readouterr().out
    assert "1m rollup of layout" in out and "2027-01-15T08:10:00.000Z" in out and "do NOT match" in out
    assert main(["history", "rebuild", "--data-dir", str(data_dir)]) == 0
    assert "rebuilt" in capsys.readouterr().out
    assert main(["history", "check", "--data-dir", str(data_dir)]) == 0


def test_check_and_info_refuse_a_missing_file_with_a_message(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "none"
    empty.mkdir()
    for verb in ("check", "info", "rebuild"):
        assert main(["history", verb, "--data-dir", str(empty)]) == 1
        assert "no historian database" in capsys.readouterr().err
