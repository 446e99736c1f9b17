"""CSV export (library and ``vigil history``), and clear messages for missing or corrupt files."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from app.cli import main
from app.core.historian import Historian, HistorianError, HistorianReader, export_csv
from app.core.model import Quality, Sample

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ROOT = Path(__file__).resolve().parents[2]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    with Historian(d / "historian.sqlite") as h:
        h.on_samples(
            [
                Sample("pump.flow", 12.5, Quality.GOOD, T0 + 0.1234),
                Sample("pump.on", True, Quality.GOOD, T0 + 0.1234),
                Sample("meter.serial", 'A,"1"', Quality.GOOD, T0 + 0.1234),
            ]
        )
        h.on_samples(
            [
                Sample("pump.flow", None, Quality.BAD_COMM, T0 + 60),
                Sample("pump.on", 0, Quality.STALE, T0 + 60),
            ]
        )
        h.on_samples([Sample("pump.flow", 13, Quality.GOOD, T0 + 120)])
    return d


def test_export_round_trip(data_dir: Path, tmp_path: Path) -> None:
    h = Historian(data_dir / "historian.sqlite")
    out = tmp_path / "all.csv"
    assert h.export_csv(out) == 6
    rows = _read_csv(out)
    assert list(rows[0]) == ["time", "tag", "value", "quality"]
    got = [(datetime.fromisoformat(r["time"]).timestamp(), r["tag"], r["value"], r["quality"]) for r in rows]
    assert got == [
        (T0 + 0.123, "meter.serial", 'A,"1"', "GOOD"),
        (T0 + 0.123, "pump.flow", "12.5", "GOOD"),
        (T0 + 0.123, "pump.on", "1", "GOOD"),
        (T0 + 60, "pump.flow", "", "BAD_COMM"),
        (T0 + 60, "pump.on", "0", "STALE"),
        (T0 + 120, "pump.flow", "13", "GOOD"),
    ]
    assert rows[0]["time"] == "2027-01-15T08:00:00.123Z"
    assert not list(tmp_path.glob("*.part"))


def test_export_filters(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    h = Historian(data_dir / "historian.sqlite")
    assert h.export_csv(out, tags=["pump.flow", "nope"], t0=T0 + 1, t1=T0 + 120) == 2
    assert [(r["tag"], r["quality"]) for r in _read_csv(out)] == [
        ("pump.flow", "BAD_COMM"),
        ("pump.flow", "GOOD"),
    ]


def test_cli_export_with_filters(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.csv"
    rc = main(
        ["history", "export", "--data-dir", str(data_dir), "--out", str(out),
         "--tags", "pump.on", "pump.flow", "--from", "2027-01-15T08:00:30", "--to", str(T0 + 60)]
    )  # fmt: skip
    assert rc == 0
    assert "2 rows" in capsys.readouterr().out
    assert [(r["tag"], r["quality"]) for r in _read_csv(out)] == [
        ("pump.flow", "BAD_COMM"),
        ("pump.on", "STALE"),
    ]


def test_cli_export_warns_about_unknown_tags(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.csv"
    assert main(["history", "export", "--data-dir", str(data_dir), "--out", str(out), "--tags", "nope"]) == 1
    err = capsys.readouterr().err
    assert "'nope'" in err and "nothing exported" in err
    assert not out.exists()


def test_cli_tags(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "tags", "--data-dir", str(data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["meter.serial", "pump.flow", "pump.on"]
    assert lines[1].split()[1:] == ["number", "2027-01-15T08:00:00.123Z", "2027-01-15T08:02:00.000Z"]


def test_cli_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()  # a data folder without a historian in it
    assert main(["history", "tags", "--data-dir", str(empty)]) == 1
    assert main(["history", "export", "--data-dir", str(empty), "--out", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert "no historian database" in err and str(empty / "historian.sqlite") in err
    assert not (empty / "historian.sqlite").exists()  # reading never creates one


def test_cli_missing_data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing"
    assert main(["history", "tags", "--data-dir", str(missing)]) == 1
    assert main(["history", "export", "--data-dir", str(missing), "--out", str(tmp_path / "o.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count(f"no Vigil data in {missing}") == 2
    assert not missing.exists()  # reading never creates the folder either


def test_cli_unwritable_output(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "no" / "such" / "dir" / "x.csv"
    assert main(["history", "export", "--data-dir", str(data_dir), "--out", str(out)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_garbage_file_gives_a_clear_message_not_a_traceback(tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    (d / "historian.sqlite").write_bytes(b"this is not a database" * 100)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for cmd in (["tags"], ["export", "--out", str(tmp_path / "o.csv")]):
        r = subprocess.run(
            [sys.executable, "-m", "app", "history", *cmd, "--data-dir", str(d)],
            capture_output=True, text=True, timeout=60, env=env, cwd=ROOT,
        )  # fmt: skip
        assert r.returncode == 1
        assert "Traceback" not in r.stderr
        assert str(d / "historian.sqlite") in r.stderr and "not a readable historian" in r.stderr
    with pytest.raises(HistorianError, match="not a readable historian"):
        Historian(d / "historian.sqlite")


def test_damaged_pages_are_reported_on_read(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = data_dir / "historian.sqlite"
    with Historian(db) as h:  # enough rows that the samples table spans many pages
        h.on_samples([Sample("pump.flow", float(i), Quality.GOOD, T0 + 1000 + i) for i in range(20_000)])
    raw = bytearray(db.read_bytes())
    page = 4096
    for p in range(2, len(raw) // page):  # smash every page after the schema
        raw[p * page : p * page + 64] = b"\xff" * 64
    db.write_bytes(bytes(raw))
    with pytest.raises(HistorianError, match=str(db)):
        HistorianReader(db).query(["pump.flow"])
    assert main(["history", "export", "--data-dir", str(data_dir), "--out", str(tmp_path / "o.csv")]) == 1
    assert str(db) in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists()


def test_other_sqlite_file_is_not_taken_for_a_historian(tmp_path: Path) -> None:
    from contextlib import closing

    from app.core.atrest import dbapi as sqlite3  # the stores' own SQLite library (one per file per process)

    db = tmp_path / "historian.sqlite"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE alarms (id INTEGER)")
    with pytest.raises(HistorianError, match="not a Vigil historian"):
        Historian(db)
    with pytest.raises(HistorianError, match="not a Vigil historian"):
        HistorianReader(db).tags()


def test_module_level_export_takes_plain_string_paths(data_dir: Path, tmp_path: Path) -> None:
    db, out = str(data_dir / "historian.sqlite"), str(tmp_path / "s.csv")
    assert export_csv(db, out, ["pump.on"]) == 2
    assert [r["value"] for r in _read_csv(Path(out))] == ["1", "0"]


def test_a_device_string_that_looks_like_a_formula_is_exported_as_text(tmp_path: Path) -> None:
    """CSV formula injection (issue 17): a device string starting with '=' must not reach a
    spreadsheet as a formula; negative numbers stay numbers."""
    d = tmp_path / "data"
    with Historian(d / "historian.sqlite") as h:
        h.on_samples([
            Sample("meter.serial", '=HYPERLINK("http://x.invalid","click")', Quality.GOOD, T0),
            Sample("pump.flow", -3.5, Quality.GOOD, T0),
        ])
    out = tmp_path / "out.csv"
    assert export_csv(d / "historian.sqlite", out) == 2
    values = {r["tag"]: r["value"] for r in _read_csv(out)}
    assert values["meter.serial"] == "'=HYPERLINK(\"http://x.invalid\",\"click\")"
    assert values["pump.flow"] == "-3.5"
