"""The issue's acceptance run: `vigil run --headless` on the demo plant, then
`vigil history export`, gives values for every demo tag with GOOD quality, and the simulator's
scheduled faults show up in them. Real processes, real TCP, real SQLite."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from app.core.paths import device_profiles_dir
from app.core.plant import parse_plant
from app.core.profiles import ProfileLibrary

ROOT = Path(__file__).resolve().parents[2]


def _vigil(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_headless_demo_run_then_history_export(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "VIGIL_NO_PLUGINS": "1"}
    data = tmp_path / "data"
    run = _vigil(
        "run",
        "--headless",
        "--duration",
        "20",
        "--data-dir",
        str(data),
        "--faults",
        "dead:vitals@9+5,exception:meter@4+4,cavitation@6",
        env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "history.csv"
    exp = _vigil("history", "export", "--data-dir", str(data), "--out", str(out), env=env)
    assert exp.returncode == 0, exp.stderr

    rows = list(csv.DictReader(out.open()))
    assert rows and set(rows[0]) == {"time", "tag", "value", "quality"}
    by_tag: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in rows:
        by_tag[r["tag"]].append(r)

    from app.sim.server import demo_plant_toml

    lib = ProfileLibrary()
    lib.add_folder(device_profiles_dir())
    plant = parse_plant(demo_plant_toml(5020).encode(), "demo", lib)
    for tag in plant.tags():
        assert any(r["quality"] == "GOOD" for r in by_tag[tag]), f"no GOOD value for {tag}"

    vitals = [r for t, rs in by_tag.items() if t.startswith("vitals.") for r in rs]
    meter = [r for t, rs in by_tag.items() if t.startswith("meter.") for r in rs]
    assert any(r["quality"] == "BAD_COMM" for r in vitals), "dead device fault not visible"
    assert any(r["quality"] == "BAD_DEVICE" for r in meter), "exception-response fault not visible"
    # the vitals monitor came back after its outage
    last_vitals = max(vitals, key=lambda r: r["time"])
    assert last_vitals["quality"] == "GOOD"
