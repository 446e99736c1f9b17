"""The packaged (PyInstaller onedir) Vigil works like a product, checked on the real bundle.

One build per session (see conftest.py); every check runs the frozen executable in a fresh
process with offscreen Qt and no access to this venv's Python path.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import app

if TYPE_CHECKING:  # the fixture's type; conftest modules are not imported by name
    from conftest import Bundle

ROOT = Path(__file__).resolve().parents[2]

# The first test also pays for the build (minutes on a loaded 2-core machine), so the suite-wide
# 120 s per-test timeout is too short here; each frozen run has its own bound in run_frozen.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DROPIN_ID = "acme.dropin"
DROPIN_DETECTOR = "acme_zscore"
DROPIN_PACKAGE = "acme_dropin"


def explain(proc) -> str:
    return f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"


def test_bundle_layout_carries_resources_and_leaves_out_tests(bundle: Bundle) -> None:
    internal = bundle.internal
    builtin = sorted(p.name for p in (internal / "plugins").iterdir() if p.is_dir())
    assert builtin == ["detectors", "modbus", "opcua", "sunspec"], "built-in plugins, without _template"
    assert (internal / "plugins" / "modbus" / "plugin.toml").is_file()
    assert (internal / "plugins" / "modbus" / "vigil_modbus" / "driver.py").is_file()
    profiles = list((internal / "device_profiles").rglob("*.toml"))
    assert profiles, "the device profiles must be in the bundle"
    shipped = [p.relative_to(internal).as_posix() for p in (internal / "plugins").rglob("*")]
    assert not [p for p in shipped if "/tests" in p or "__pycache__" in p or p.endswith(".pyc")], shipped
    test_dirs = [p for p in internal.rglob("*") if p.is_dir() and p.name in ("tests", "__pycache__")]
    assert not test_dirs, f"no library test suites or caches in the bundle: {test_dirs[:5]}"
    # only PySide6 as Qt binding, no tkinter
    for other in ("PyQt5", "PyQt6", "PySide2", "tkinter", "_tkinter"):
        assert not list(internal.glob(f"{other}*")), f"{other} must not be in the bundle"
    assert (internal / "PySide6").is_dir()
    assert bundle.dropin_dir.is_dir(), "build.sh creates plugins/ next to the executable"


@pytest.mark.parametrize("plugin", ["modbus", "detectors", "sunspec", "opcua"])
def test_frozen_plugins_check_imports_every_builtin_contribution(
    run_frozen, bundle: Bundle, plugin: str
) -> None:
    """Every factory (TCP and RTU drivers, each detector, the SunSpec device type) imports in the
    bundle: this is what proves their third-party imports (pymodbus, serial, scikit-learn) were
    collected. The check imports in a child process, ``[sys.executable, "-c", ...]``, which in a
    frozen build is the vigil executable itself (vigil_entry.py answers ``-c``)."""
    proc = run_frozen("plugins", "check", str(bundle.internal / "plugins" / plugin))
    assert proc.returncode == 0, explain(proc)
    assert "Traceback" not in proc.stdout + proc.stderr, explain(proc)


@pytest.mark.parametrize("detector", ["robust_z", "pca_t2q", "isolation_forest"])
def test_frozen_builtin_detectors_run_with_the_bundled_scikit_learn(
    run_frozen, tmp_path: Path, detector: str
) -> None:
    """Fit and score for real in the frozen app (numpy, scipy, scikit-learn from the bundle):
    the step on flow is one alarm episode, starting inside the step, with flow named first."""
    proc, rows = replay_step(run_frozen, tmp_path, detector)
    assert proc.returncode == 0, explain(proc)
    assert "1 episode(s)" in proc.stdout, proc.stdout
    first_alarm = min(i for i, r in rows.items() if r["alarm"] == "1")
    assert 150 <= first_alarm < 160, first_alarm
    assert all(r["alarm"] == "0" for i, r in rows.items() if i < 150)
    assert rows[first_alarm]["top_tags"].split("|")[0] == "flow", rows[first_alarm]


def test_frozen_version_matches_the_package(run_frozen) -> None:
    proc = run_frozen("--version")
    assert proc.returncode == 0, explain(proc)
    assert proc.stdout.strip() == f"vigil {app.__version__}"


def test_frozen_self_test_passes_offscreen(run_frozen) -> None:
    proc = run_frozen("--self-test")
    assert proc.returncode == 0, explain(proc)
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith(f"vigil {app.__version__} self-test: ok"), line
    assert "journal verified" in line and "plot ok" in line, line
    assert "Traceback" not in proc.stderr, proc.stderr


def test_frozen_workstation_window_renders_and_keeps_data_in_the_user_folder(
    run_frozen, bundle: Bundle, tmp_path: Path
) -> None:
    """The whole window, not just the self-test's plot: every UI module made it into the bundle.
    Run without --data-dir or VIGIL_DATA_DIR, so data must go to the platform folder (XDG)."""
    xdg = tmp_path / "xdg-data"
    shot = tmp_path / "window.png"
    before = _bundle_files(bundle)
    proc = run_frozen("run", "--screenshot", str(shot), "--after", "2",
                      VIGIL_DATA_DIR=None, XDG_DATA_HOME=str(xdg))
    assert proc.returncode == 0, explain(proc)
    assert "Traceback" not in proc.stderr, proc.stderr
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000, len(data)
    assert (xdg / "vigil" / "journal" / "journal.sqlite").is_file(), sorted(xdg.rglob("*"))
    assert _bundle_files(bundle) == before


def test_frozen_headless_run_writes_a_journal_that_verifies(
    run_frozen, bundle: Bundle, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    before = _bundle_files(bundle)
    proc = run_frozen("run", "--headless", "--duration", "8", "--data-dir", str(data))
    assert proc.returncode == 0, explain(proc)
    assert "Traceback" not in proc.stderr, proc.stderr

    journal = data / "journal" / "journal.sqlite"
    assert journal.is_file() and (data / "historian.sqlite").is_file()
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        start = db.execute("SELECT body FROM events WHERE kind = 'app.start' ORDER BY seq LIMIT 1").fetchone()
        assert start is not None, "the frozen run journals its start"
        assert json.loads(start[0])["version"] == app.__version__
    # the frozen SQLCipher encrypted it at rest; its key is where VIGIL_KEY_DIR says
    from app.core import atrest

    assert atrest.is_encrypted(data / "historian.sqlite")
    with contextlib.closing(atrest.connect(data / "historian.sqlite", readonly=True)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        counts = [db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables]
    assert max(counts) > 0, "eight seconds on the demo plant must have stored samples"

    verify = run_frozen("journal", "verify", "--data-dir", str(data))
    assert verify.returncode == 0, explain(verify)

    # data went to --data-dir only: the bundle is unchanged (no databases, no bytecode caches)
    assert _bundle_files(bundle) == before


def make_dropin(folder: Path) -> Path:
    """The plugin template, renamed as its README says, as ``folder/acme-dropin``."""
    target = folder / "acme-dropin"
    shutil.copytree(
        ROOT / "plugins" / "_template", target, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.pyc")
    )
    (target / "my_vigil_plugin").rename(target / DROPIN_PACKAGE)
    for path in [target / "plugin.toml", *(target / DROPIN_PACKAGE).glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        text = (text.replace("example.my_plugin", DROPIN_ID).replace("my_vigil_plugin", DROPIN_PACKAGE)
                .replace("my_zscore", DROPIN_DETECTOR))
        path.write_text(text, encoding="utf-8")
    return target


@pytest.fixture
def dropin_plugin(bundle: Bundle) -> Iterator[Path]:
    """The renamed template dropped next to the frozen executable, removed afterwards."""
    target = make_dropin(bundle.dropin_dir)
    yield target
    shutil.rmtree(target, ignore_errors=True)


def test_frozen_app_finds_a_plugin_in_the_user_plugins_folder(run_frozen, tmp_path: Path) -> None:
    user_dir = tmp_path / "user-plugins"
    make_dropin(user_dir)
    listing = run_frozen("plugins", "list", "--json", VIGIL_USER_PLUGINS_DIR=str(user_dir))
    assert listing.returncode == 0, explain(listing)
    record = {r["id"]: r for r in json.loads(listing.stdout)}[DROPIN_ID]
    # not built in: held until an administrator approves it (before accounts: the OS user)
    assert (record["source"], record["state"]) == ("user", "disabled"), record
    assert "awaiting approval" in record["reason"], record
    approve = run_frozen("plugins", "approve", DROPIN_ID, VIGIL_USER_PLUGINS_DIR=str(user_dir))
    assert approve.returncode == 0, explain(approve)
    listing = run_frozen("plugins", "list", "--json", VIGIL_USER_PLUGINS_DIR=str(user_dir))
    record = {r["id"]: r for r in json.loads(listing.stdout)}[DROPIN_ID]
    assert (record["source"], record["state"]) == ("user", "available"), record


def test_frozen_app_loads_a_dropin_detector_plugin(run_frozen, dropin_plugin: Path, tmp_path: Path) -> None:
    approve = run_frozen("plugins", "approve", DROPIN_ID)  # not built in: approved first
    assert approve.returncode == 0, explain(approve)
    listing = run_frozen("plugins", "list", "--json")
    assert listing.returncode == 0, explain(listing)
    records = {r["id"]: r for r in json.loads(listing.stdout)}
    assert records[DROPIN_ID]["source"] == "frozen", records[DROPIN_ID]
    assert records[DROPIN_ID]["state"] in ("available", "loaded"), records[DROPIN_ID]
    assert Path(records[DROPIN_ID]["location"]).resolve() == dropin_plugin.resolve()
    for builtin in ("vigil.modbus", "vigil.detectors", "vigil.sunspec"):
        assert records[builtin]["source"] == "builtin" and records[builtin]["state"] == "available"

    check = run_frozen("plugins", "check", str(dropin_plugin))
    assert check.returncode == 0, explain(check)

    detectors = run_frozen("detect", "list")
    assert detectors.returncode == 0, explain(detectors)
    assert DROPIN_DETECTOR in detectors.stdout

    # usable, not just listed: train on calm rows, then a 10-row step on flow must raise one
    # alarm episode, after the SDK latch's 3-row debounce, naming flow
    replay, rows = replay_step(run_frozen, tmp_path, DROPIN_DETECTOR)
    assert replay.returncode == 0, explain(replay)
    assert "1 episode(s)" in replay.stdout, replay.stdout
    first_alarm = min(i for i, r in rows.items() if r["alarm"] == "1")
    assert first_alarm == 152, first_alarm
    assert float(rows[150]["severity"]) > 50.0 > float(rows[149]["severity"])  # alarm at 50
    assert rows[152]["top_tags"].split("|")[0] == "flow", rows[152]


def test_frozen_app_reports_a_broken_dropin_plugin_without_a_traceback(
    run_frozen, dropin_plugin: Path, tmp_path: Path
) -> None:
    (dropin_plugin / DROPIN_PACKAGE / "detector.py").write_text(
        "raise RuntimeError('acme: licence file missing')\n", encoding="utf-8"
    )
    approve = run_frozen("plugins", "approve", DROPIN_ID)  # approved as it is now, broken
    assert approve.returncode == 0, explain(approve)
    proc, _ = replay_step(run_frozen, tmp_path, DROPIN_DETECTOR)  # good data: only the plugin is bad
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout, explain(proc)
    assert "licence file missing" in proc.stderr + proc.stdout, explain(proc)


def replay_step(run_frozen, tmp_path: Path, detector: str):
    """Frozen ``detect replay`` of ``detector`` on 200 rows of calm pump data with a 10-row step
    of +40 on flow at rows 150-159, trained on the first 100; returns (process, rows by index)."""
    data_csv = tmp_path / "pump.csv"
    with open(data_csv, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "flow", "pressure"])
        for i in range(200):
            step = 40.0 if 150 <= i < 160 else 0.0
            w.writerow([f"{1_700_000_000 + i}", 10.0 + 0.1 * ((i * 7) % 5) + step, 3.0 + 0.05 * (i % 3)])
    out = tmp_path / f"scores-{detector}.csv"
    proc = run_frozen("detect", "replay", str(data_csv), "--detector", detector,
                      "--train-rows", "100", "--out", str(out))
    if proc.returncode != 0:
        return proc, {}
    with open(out, newline="") as fh:
        return proc, {int(r["time"]) - 1_700_000_000: r for r in csv.DictReader(fh)}


def _bundle_files(bundle: Bundle) -> set[str]:
    return {p.relative_to(bundle.folder).as_posix() for p in bundle.folder.rglob("*")}
