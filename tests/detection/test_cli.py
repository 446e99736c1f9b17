"""``vigil detect``: replay a CSV made here, train into a data dir (journaled), list, and clear
messages (never tracebacks) for bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.core.detection import journaled_model_hashes
from app.core.detection.store import sha256_bytes

from .conftest import plant_rows


def write_csv(path: Path, rows: np.ndarray, sep: str = ";", fault_from: int | None = None) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, delimiter=sep)
        w.writerow(["datetime", "flow", "pressure", "current", "vibration", "anomaly", "changepoint"])
        for i, r in enumerate(rows):
            label = int(fault_from is not None and i >= fault_from)
            w.writerow([f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}", *(f"{v:.6f}" for v in r), label, 0])


def read_out(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("detector", ["pca_t2q", "robust_z"])
def test_replay_writes_one_row_per_streamed_row_and_flags_the_fault(tmp_path: Path, detector: str,
                                                                    capsys) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, plant_rows(600, seed=8, fault_from=450), fault_from=450)
    rc = main(["detect", "replay", str(src), "--detector", detector, "--train-rows", "300",
               "--out", str(out), "--sep", ";", "--time-col", "datetime",
               "--ignore", "anomaly,changepoint"])
    assert rc == 0, capsys.readouterr().err
    rows = read_out(out)
    assert len(rows) == 300 and list(rows[0]) == ["time", "score", "alarm", "top_tags"]
    assert rows[0]["time"] == "2024-01-01 00:05:00"
    alarm = np.array([int(r["alarm"]) for r in rows])
    assert alarm[:150].sum() == 0 and alarm[150:180].any()
    first = int(np.flatnonzero(alarm)[0])
    assert rows[first]["top_tags"].split("|")[0] == "vibration"
    assert float(rows[first]["score"]) > 1.0
    assert "1 episode(s)" in capsys.readouterr().out


def test_replay_refuses_bad_input_with_messages(tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, plant_rows(100))
    cases = [
        (["--detector", "nope"], "unknown detector 'nope'"),
        (["--detector", "pca_t2q", "--time-col", "when"], "no time column 'when'"),
        (["--detector", "pca_t2q", "--ignore", "label"], "unknown column(s): label"),
        (["--detector", "pca_t2q", "--train-rows", "100"], "--train-rows must be between 1 and 99"),
        (["--detector", "pca_t2q", "--set", "bogus=1"], "unknown parameter"),
    ]
    for extra, message in cases:
        args = ["detect", "replay", str(src), "--train-rows", "50", "--out", str(out), "--sep", ";",
                "--ignore", "anomaly,changepoint", *extra]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    text = src.read_text().splitlines()
    text[40] = text[40].replace(";", ";oops", 1)
    src.write_text("\n".join(text) + "\n")
    assert main(["detect", "replay", str(src), "--detector", "pca_t2q", "--train-rows", "50",
                 "--out", str(out), "--sep", ";", "--ignore", "anomaly,changepoint"]) == 2
    assert "line 41, column 'flow'" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written


def test_train_journals_the_model_and_list_shows_it_vouched(tmp_path: Path, capsys) -> None:
    src, data = tmp_path / "normal.csv", tmp_path / "data"
    write_csv(src, plant_rows(300), sep=",")
    rc = main(["detect", "train", str(src), "--detector", "pca_t2q", "--ignore", "anomaly,changepoint",
               "--group", "dev", "--data-dir", str(data)])
    assert rc == 0, capsys.readouterr().err
    [model] = list((data / "models").glob("*.npz"))
    assert sha256_bytes(model.read_bytes()) in journaled_model_hashes(data / "journal" / "journal.sqlite")
    capsys.readouterr()
    assert main(["detect", "list", "--models", "--data-dir", str(data)]) == 0
    listing = capsys.readouterr().out
    assert "pca_t2q" in listing and "isolation_forest" in listing and "[journaled]" in listing
    model.write_bytes(model.read_bytes() + b"\0")
    assert main(["detect", "list", "--models", "--data-dir", str(data)]) == 0
    assert "NOT IN JOURNAL" in capsys.readouterr().out
