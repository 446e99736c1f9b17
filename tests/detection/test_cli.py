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
    assert len(rows) == 300 and list(rows[0]) == ["time", "severity", "alarm", "top_tags"]
    assert rows[0]["time"] == "2024-01-01 00:05:00"
    alarm = np.array([int(r["alarm"]) for r in rows])
    assert alarm[:150].sum() == 0 and alarm[150:180].any()
    first = int(np.flatnonzero(alarm)[0])
    assert rows[first]["top_tags"].split("|")[0] == "vibration"
    assert 50.0 < float(rows[first]["severity"]) < 100.0  # bounded, alarm threshold at 50
    assert all(0.0 <= float(r["severity"]) < 100.0 for r in rows)
    assert "1 episode(s)" in capsys.readouterr().out


def test_replay_refuses_bad_input_with_messages(tmp_path: Path, capsys) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(src, plant_rows(100))
    cases = [
        (["--detector", "nope"], "no plugin provides detector 'nope'"),
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


# ------------------------------------------------------------------ robustness (audit findings)

def _user_plugin(root: Path, name: str, body: str) -> str:
    """A user plugin ``acme.<name>`` whose detector ``<name>`` is ``make`` in ``body``; importing
    it touches ``imported.txt`` so a test can tell whether its code ever ran."""
    pkg = root / name / f"acme_{name}"
    pkg.mkdir(parents=True)
    (root / name / "plugin.toml").write_text(
        f'[plugin]\nid = "acme.{name}"\nname = "x"\nversion = "0.1.0"\napi = "1.0"\n\n'
        f'[[detectors]]\nname = "{name}"\nfactory = "acme_{name}:make"\n', encoding="utf-8")
    marker = root / name / "imported.txt"
    (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'a').close()\n{body}", encoding="utf-8")
    return name


@pytest.fixture
def user_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "user-plugins"
    root.mkdir()
    monkeypatch.setenv("VIGIL_USER_PLUGINS_DIR", str(root))
    monkeypatch.delenv("VIGIL_NO_PLUGINS", raising=False)
    return root


def test_a_factory_returning_garbage_is_contained_and_disable_is_honoured(
    tmp_path: Path, user_plugins: Path, capsys
) -> None:
    import uuid

    name = _user_plugin(user_plugins, f"forty{uuid.uuid4().hex[:6]}", "def make(**kw):\n    return 42\n")
    src, out, data = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "data"
    assert main(["plugins", "approve", f"acme.{name}", "--data-dir", str(data)]) == 0  # not built in
    write_csv(src, plant_rows(100))
    replay = ["detect", "replay", str(src), "--detector", name, "--train-rows", "50", "--out", str(out),
              "--sep", ";", "--ignore", "anomaly,changepoint", "--data-dir", str(data)]
    assert main(replay) == 2
    err = capsys.readouterr().err
    assert f"detector factory '{name}' returned a int lacking fit, score, get_state" in err
    assert "Traceback" not in err and not out.exists()

    (user_plugins / name / "imported.txt").unlink()
    assert main(["plugins", "disable", f"acme.{name}", "--data-dir", str(data)]) == 0
    capsys.readouterr()
    for cmd in (replay, ["detect", "train", str(src), "--detector", name, "--sep", ";",
                         "--ignore", "anomaly,changepoint", "--data-dir", str(data)]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert f"plugin 'acme.{name}' is disabled" in err and "Traceback" not in err
    assert not (user_plugins / name / "imported.txt").exists()  # a disabled plugin is never imported


def test_a_detector_raising_in_fit_is_a_message(tmp_path: Path, user_plugins: Path, capsys) -> None:
    import uuid

    name = _user_plugin(user_plugins, f"raiser{uuid.uuid4().hex[:6]}", (
        "class D:\n"
        "    def fit(self, h, t):\n        raise ZeroDivisionError('oops')\n"
        "    def score(self, b):\n        pass\n"
        "    def get_state(self):\n        pass\n"
        "def make(**kw):\n    return D()\n"))
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    assert main(["plugins", "approve", f"acme.{name}", "--data-dir", str(tmp_path)]) == 0  # not built in
    write_csv(src, plant_rows(100))
    assert main(["detect", "replay", str(src), "--detector", name, "--train-rows", "50", "--out", str(out),
                 "--sep", ";", "--ignore", "anomaly,changepoint", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    # the plugin host's guard names the detector, its plugin and the call that raised
    assert f"detector '{name}' failed: ZeroDivisionError: oops" in err and f"plugin 'acme.{name}'" in err
    assert "Traceback" not in err


def test_csv_faults_are_named_with_file_and_place(tmp_path: Path, capsys) -> None:
    good = tmp_path / "good.csv"
    write_csv(good, plant_rows(60), sep=",")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(b"time,temp\xe9rature\n1,2\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    header_only = tmp_path / "header.csv"
    header_only.write_text("time,a,b\n")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("time,a,b\n1,2,3\n2,3\n")
    text = tmp_path / "text.csv"
    text.write_text("time,a,b\n1,2,3\n2,high,3\n")
    cases = [
        (latin, [], f"{latin}: not UTF-8 text (line 1, byte offset 9: 0xe9)"),
        (binary, [], f"{binary}: "),
        (header_only, [], f"{header_only}: no data rows below the header"),
        (ragged, [], f"{ragged}: line 3: 2 fields, header has 3"),
        (text, [], f"{text}: line 3, column 'a': 'high' is not a number"),
        (good, ["--time-col", "stamp"], f"{good}: no time column 'stamp'"),
        (good, ["--train-rows", "61"], f"{good}: --train-rows must be between 1 and 59"),
        (good, ["--train-rows", "5"], f"{good}: cannot train on the first 5 rows: need at least 30 rows"),
    ]
    for path, extra, message in cases:
        for cmd in ("replay", "train"):
            args = ["detect", cmd, str(path), "--detector", "robust_z", "--train-rows", "50",
                    "--data-dir", str(tmp_path / "data"), *extra]
            if cmd == "replay":
                args += ["--out", str(tmp_path / "out.csv")]
            elif "--train-rows" in extra and path is good:
                continue  # train's own range check is covered below
            assert main(args) == 2, (cmd, path.name)
            err = capsys.readouterr().err
            assert message in err and "Traceback" not in err, (cmd, err)
    assert main(["detect", "train", str(good), "--detector", "robust_z", "--train-rows", "61",
                 "--data-dir", str(tmp_path / "data")]) == 2
    assert f"{good}: --train-rows must be between 1 and 60" in capsys.readouterr().err
    assert main(["detect", "train", str(good), "--detector", "robust_z", "--train-rows", "5",
                 "--data-dir", str(tmp_path / "data")]) == 2
    assert f"{good}: cannot train on 5 rows: need at least 30 rows" in capsys.readouterr().err


@pytest.mark.parametrize(("setting", "message"), [
    ('alpha="abc"', "parameter 'alpha' must be a number in (0, 1], got 'abc'"),
    ("alpha=", "parameter 'alpha' must be a number in (0, 1], got ''"),
    ("alpha=-5", "parameter 'alpha' must be a number in (0, 1], got -5"),
    ("on_rows=1.5", "parameter 'on_rows' must be a whole number >= 1, got 1.5"),
    ("use_diff=1", "parameter 'use_diff' must be true or false, got 1"),
    ("explained=0", "parameter 'explained' must be a number in (0, 1], got 0"),
    ("bogus=1", "unknown parameter(s) ['bogus']"),
])
def test_bad_detector_parameters_are_refused_by_name(tmp_path: Path, setting: str, message: str,
                                                     capsys) -> None:
    src, data = tmp_path / "in.csv", tmp_path / "data"
    write_csv(src, plant_rows(100), sep=",")
    for cmd in ("replay", "train"):
        args = ["detect", cmd, str(src), "--detector", "pca_t2q", "--train-rows", "50",
                "--ignore", "anomaly,changepoint", "--set", setting, "--data-dir", str(data)]
        if cmd == "replay":
            args += ["--out", str(tmp_path / "out.csv")]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (data / "journal").exists()  # refused before the journal was opened
    assert not (tmp_path / "out.csv").exists()


def test_train_from_history_takes_ages_and_names_a_bad_time(tmp_path, capsys):
    from app.cli import main as vigil

    data = tmp_path / "data"
    data.mkdir()
    rc = vigil(["detect", "train", "--device", "pump", "--from", "yesterday", "--to", "0m",
                "--detector", "pca_t2q", "--data-dir", str(data)])
    err = capsys.readouterr().err
    assert rc == 2 and "'yesterday' is not a time" in err and "Traceback" not in err
    rc = vigil(["detect", "train", "--device", "pump", "--from", "10m", "--to", "20m",
                "--detector", "pca_t2q", "--data-dir", str(data)])
    assert rc == 2 and "must be before --to" in capsys.readouterr().err
