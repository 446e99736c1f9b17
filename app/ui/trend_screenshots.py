"""Make the README's trend and tag-table pictures: ``python -m app.ui.trend_screenshots OUT_DIR``.

The issue's night: the tank's inlet valve sticks open half an hour ago, inflow runs away from
outflow and the level climbs from 54 % through HI (85) and HIHI (95); the pump is calm; the
meter's link drops for ten minutes. An hour of that is written through the real historian
(rollups and all), then the real trend (1 h, limit lines, engineering ranges) and the real tag
table (last-hour sparklines fetched from the rollups) are grabbed in the light and dark palette.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np

HOUR = 3600


def _night(k: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Values and qualities of each tag for seconds ``k`` of the hour."""
    stuck = np.clip((k - 1800) / 1800, 0, 1)
    good = np.zeros(len(k), np.int8)
    level = 54 + 45 * stuck**0.8 + 0.15 * np.sin(k / 40)
    inflow = 30 + 26 * (k > 1800) + 0.6 * np.sin(k / 90)
    outflow = 30 + 0.6 * np.sin(k / 90 + 1)
    meter_q = good.copy()
    meter_q[(k > 900) & (k < 1500)] = 1  # BAD_COMM
    return {
        "tank.level": (level, good),
        "tank.inflow": (inflow, good),
        "tank.outflow": (outflow, good),
        "tank.valve_position": (40 + 60 * (k > 1800), good),
        "pump.flow": (125 + 0.8 * np.sin(k / 60), good),
        "pump.current": (2.4 + 0.05 * np.sin(k / 30), good),
        "pump.accel1_rms": (0.21 + 0.004 * np.sin(k / 7), good),
        "meter.v_l1": (230 + 0.8 * np.sin(k / 200), meter_q),
        "meter.i_l1": (13.5 + 0.4 * np.sin(k / 150), meter_q),
    }


def make_trend_screenshots(out_dir: Path) -> list[Path]:
    from app.core.historian import Historian
    from app.core.model import Quality, Sample
    from app.core.paths import device_profiles_dir
    from app.core.profiles import load_profile
    from app.ui.app import ensure_app
    from app.ui.palette import DARK, LIGHT, apply_scheme
    from app.ui.tag_table import TagRow, TagTable, TagTableModel
    from app.ui.tasks import TaskRunner
    from app.ui.trend import TrendWidget

    out_dir.mkdir(parents=True, exist_ok=True)
    app = ensure_app()
    points = {}
    for device, profile in (("tank", "demo_tank"), ("pump", "demo_pump"), ("meter", "sdm630")):
        for p in load_profile(device_profiles_dir() / f"{profile}.toml").points:
            points[f"{device}.{p.name}"] = p
    now = time.time()
    k = np.arange(0, HOUR, 1.0)
    series = _night(k)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        h = Historian(Path(tmp) / "historian.sqlite", rollup_lag_s=0.0)
        h.start()
        for i in range(len(k)):
            batch = []
            for tag, (v, q) in series.items():
                quality = Quality.BAD_COMM if q[i] else Quality.GOOD
                batch.append(Sample(tag, None if q[i] else float(v[i]), quality, now - HOUR + float(k[i])))
            h.on_samples(batch)
        assert h.flush(60.0) and h.catch_up(60.0)
        tasks = TaskRunner()
        for scheme in (LIGHT, DARK):
            apply_scheme(app, scheme)
            trend = TrendWidget(
                history=lambda tags, t0, t1, n: h.query(tags, t0, t1, n),
                run_async=tasks.submit,
                units=lambda tag: points[tag].unit,
                points=points.get,
                scheme=scheme,
            )
            trend.resize(900, 420)
            trend.show()
            for tag in ("tank.level", "tank.inflow", "tank.outflow", "pump.flow"):
                trend.add_pen(tag)
            trend.show_range(now - HOUR, now)
            _settle(app, tasks, 3.0)
            trend.set_paused(True)
            trend.draw_frame(force=True)
            _settle(app, tasks, 0.5)
            path = out_dir / f"trend-{scheme.name}.png"
            trend.grab().save(str(path))
            out.append(path)
            trend.close()

            rows = [
                TagRow(t, t.split(".")[0], t.split(".")[1], points[t].unit, points[t].description, False,
                       scale=points[t].engineering_range)
                for t in series
            ]
            model = TagTableModel(rows, scheme)
            model.apply_samples(
                [
                    Sample(t, None if q[-1] else float(v[-1]), Quality.GOOD, now)
                    for t, (v, q) in series.items()
                ]
            )
            table = TagTable(model, history=lambda tags, t0, t1, n: h.query(tags, t0, t1, n),
                             run_async=tasks.submit)
            table.resize(900, 260)
            table.show()
            _settle(app, tasks, 2.0)
            path = out_dir / f"tags-{scheme.name}.png"
            table.grab().save(str(path))
            out.append(path)
            table.close()
        tasks.wait()
        h.close()
    return out


def _settle(app: object, tasks: object, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()  # type: ignore[attr-defined]
        time.sleep(0.01)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "packaging/screenshots")
    for p in make_trend_screenshots(target):
        print(p)
